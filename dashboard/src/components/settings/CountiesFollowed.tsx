// Settings › Counties followed: the installation's configured counties (GET /settings/counties:
// a county file is code, deployed with the pipeline; a few run-time settings are a platform admin's,
// CountyRunSettings) and which the workspace follows; an admin follows or stops following one
// (POST/DELETE /subscriptions).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, data } from "../../api/client";
import { useCan } from "../../auth";
import { reloading } from "../../lib/countySettings";
import { countyName } from "../../lib/format";
import { ErrorBox, Loading } from "../ui";
import { CountyRunSettings } from "./CountyRunSettings";

/** The county's enabled sources, comma-separated ("" when none: a county file not switched on yet). */
function enabledSources(county: { sources?: { name: string; enabled: boolean }[] | null }): string {
  return (county.sources ?? []).filter((s) => s.enabled).map((s) => s.name).join(", ");
}

export function CountiesFollowed() {
  const isAdmin = useCan("admin");
  const client = useQueryClient();
  const counties = useQuery({
    queryKey: ["settings-counties"], queryFn: () => data(api.GET("/api/v1/settings/counties")),
    // A reload of Dagster's code location under way (after a county change): the live socket says
    // when it ends; asked again every 5 s too, in case the socket is down.
    refetchInterval: (q) => (q.state.data?.some((c) => reloading(c.reload?.state)) ? 5000 : false),
  });
  const refresh = () => client.invalidateQueries();
  const follow = useMutation({
    mutationFn: (county: string) => data(api.POST("/api/v1/subscriptions", { body: { county } })),
    onSuccess: () => void refresh(),
  });
  const unfollow = useMutation({
    mutationFn: (county: string) => data(api.DELETE("/api/v1/subscriptions/{county}", { params: { path: { county } } })),
    onSuccess: () => void refresh(),
  });
  return (
    <section className="card" aria-labelledby="counties-h">
      <h2 id="counties-h" className="h2">Counties followed</h2>
      <p className="mt-1 text-sm text-slate-600">
        The counties this installation is configured for. Their sources are set in the pipeline's configuration; platform admins change a few run-time settings here, the discovery cron among them.
      </p>
      {counties.isPending ? <Loading /> : counties.isError ? <ErrorBox error={counties.error} /> : (
        <ul className="mt-2 divide-y divide-slate-100">
          {counties.data.length === 0 && <li className="py-2 text-sm text-slate-600">No county is configured.</li>}
          {counties.data.map((c) => (
            <li key={c.key} className="flex flex-wrap items-center justify-between gap-2 py-2 text-sm">
              <span>
                <span className="font-medium">{c.name ? `${c.name}, ${c.state}` : countyName(c.key)}</span>{" "}
                <span className="text-slate-600">({c.key})</span>
                {c.followed && <span className="ml-2 rounded bg-emerald-100 px-1.5 py-0.5 text-xs font-semibold text-emerald-900">Followed</span>}
                {c.valid ? (
                  <span className="block text-xs text-slate-600">
                    Discovery {c.schedule?.cron} ({c.schedule?.timezone}) · {enabledSources(c) || "no source enabled"}
                  </span>
                ) : <span className="block text-xs text-red-700">Disabled: {c.error}</span>}
                <CountyRunSettings county={c} />
              </span>
              {isAdmin && (c.followed ? (
                <button type="button" className="btn btn-danger" disabled={unfollow.isPending}
                  onClick={() => { if (window.confirm(`Stop following ${countyName(c.key)}?`)) unfollow.mutate(c.key); }}>
                  Stop following<span className="sr-only"> {c.key}</span>
                </button>
              ) : (
                <button type="button" className="btn" disabled={follow.isPending || !c.valid} onClick={() => follow.mutate(c.key)}>
                  Follow<span className="sr-only"> {c.key}</span>
                </button>
              ))}
            </li>
          ))}
        </ul>
      )}
      {follow.isError && <ErrorBox error={follow.error} />}
      {unfollow.isError && <ErrorBox error={unfollow.error} />}
    </section>
  );
}
