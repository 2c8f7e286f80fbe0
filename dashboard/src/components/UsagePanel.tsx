// Settings › Usage: the workspace's plan and each quota used against it (GET /api/v1/usage).
// Over a quota the API answers 402 (429 for API calls) naming it; this panel shows it coming, and
// the month's API calls by day (ApiCallsChart).
import { useQuery } from "@tanstack/react-query";
import { api, data } from "../api/client";
import { dailyCallLimit, quotaLabel, resetsText, usageShare, usageText, usageTone, type Tone } from "../lib/usage";
import { ApiCallsChart } from "./ApiCallsChart";
import { BillingActions } from "./BillingActions";
import { ErrorBox, Loading } from "./ui";

const BAR: Record<Tone, string> = { ok: "bg-emerald-600", near: "bg-amber-500", full: "bg-red-600" };

export function UsagePanel() {
  const usage = useQuery({ queryKey: ["usage"], queryFn: () => data(api.GET("/api/v1/usage")) });
  return (
    <section className="card" aria-labelledby="usage-h">
      <h2 id="usage-h" className="h2">Plan and usage</h2>
      {usage.isPending ? <Loading /> : usage.isError ? <ErrorBox error={usage.error} /> : (
        <>
          <p className="mt-1 text-sm text-slate-600">
            Plan: <span className="font-semibold text-slate-900">{usage.data.plan_title}</span>. A property counts once a
            month, when the workspace first receives it (detail view, memo, email). The workspace's owners change the plan
            here when billing is set up; otherwise the platform's operators do.
          </p>
          <BillingActions />
          <ul className="mt-3 space-y-3">
            {usage.data.quotas.map((q) => {
              const tone = usageTone(q);
              return (
                <li key={q.quota} data-testid={`quota-${q.quota}`}>
                  <div className="flex flex-wrap items-baseline justify-between gap-2 text-sm">
                    <span className="font-medium">{quotaLabel(q.quota)}</span>
                    <span className="tabular-nums">
                      {usageText(q)}{tone === "full" && <span className="ml-2 font-semibold text-red-800">limit reached</span>}
                    </span>
                  </div>
                  {q.limit !== null && (
                    <div className="mt-1 h-2 w-full overflow-hidden rounded bg-slate-200" role="progressbar"
                      aria-label={quotaLabel(q.quota)} aria-valuemin={0} aria-valuemax={q.limit} aria-valuenow={Math.min(q.used, q.limit)}
                      aria-valuetext={usageText(q)}>
                      <div className={`h-full ${BAR[tone]}`} style={{ width: `${(usageShare(q) * 100).toFixed(1)}%` }} />
                    </div>
                  )}
                  <p className="mt-0.5 text-xs text-slate-600">{q.limit === null ? "Unlimited on this plan" : resetsText(q)}</p>
                </li>
              );
            })}
          </ul>
          <ApiCallsChart days={usage.data.api_calls_by_day} limit={dailyCallLimit(usage.data.quotas)} />
        </>
      )}
    </section>
  );
}
