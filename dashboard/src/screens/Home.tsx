import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, data, type Schemas } from "../api/client";
import { ErrorBox, Loading, NotYet, ScoreBadge, Stat } from "../components/ui";
import {
  countyName, formatCode, formatDate, formatDateTime, formatInteger, formatMoney, formatScore, propertyTitle,
} from "../lib/format";

const EMAIL_OUTCOMES = ["sent", "delivered", "opened", "clicked", "bounced", "unsubscribed"];

export default function Home() {
  const summary = useQuery({ queryKey: ["analytics", "summary"], queryFn: () => data(api.GET("/api/v1/analytics/summary")) });
  const funnel = useQuery({ queryKey: ["analytics", "funnel"], queryFn: () => data(api.GET("/api/v1/analytics/funnel")) });
  const distribution = useQuery({
    queryKey: ["analytics", "score-distribution"],
    queryFn: () => data(api.GET("/api/v1/analytics/score-distribution", { params: { query: { width: 10 } } })),
  });
  const threshold = summary.data?.threshold;
  const recent = useQuery({
    queryKey: ["properties", "recent-deals", threshold],
    enabled: threshold !== undefined,
    queryFn: () => data(api.GET("/api/v1/properties", {
      params: { query: { min_score: threshold, sort: "-first_seen_at,-bird_dog_score", limit: 8 } },
    })),
  });

  return (
    <div className="space-y-8">
      <h1 className="h1">Home</h1>
      <section aria-labelledby="totals">
        <h2 id="totals" className="sr-only">Totals</h2>
        {summary.isPending ? <Loading /> : summary.isError ? <ErrorBox error={summary.error} /> : (
          <dl className="grid grid-cols-2 gap-4 md:grid-cols-4">
            <Stat label="Properties" value={formatInteger(summary.data.totals.properties)} hint={`${formatInteger(summary.data.totals.scored)} scored`} />
            <Stat label="Average score" value={formatScore(summary.data.totals.average_score)} />
            <Stat label={`Deals (score ≥ ${summary.data.threshold})`} value={formatInteger(summary.data.totals.deals)} />
            <Stat label="New deals, 7 days" value={formatInteger(summary.data.totals.new_deals_7d)}
              hint={`last scored ${formatDateTime(summary.data.totals.last_scored_at)}`} />
          </dl>
        )}
      </section>

      <div className="grid gap-6 lg:grid-cols-2">
        <section aria-labelledby="recent" className="card">
          <div className="flex items-baseline justify-between">
            <h2 id="recent" className="h2">Recent high-score properties</h2>
            {threshold !== undefined && (
              <Link className="text-sm text-blue-800 underline" to={`/properties?min_score=${threshold}`}>All deals</Link>
            )}
          </div>
          {recent.isPending ? <Loading /> : recent.isError ? <ErrorBox error={recent.error} /> : recent.data.items.length === 0 ? (
            <p className="mt-3 text-sm text-slate-600">No property at or above the deal threshold yet.</p>
          ) : (
            <ul className="mt-3 divide-y divide-slate-100">
              {recent.data.items.map((p) => (
                <li key={p.id} className="flex items-center justify-between gap-3 py-2">
                  <div>
                    <Link to={`/properties/${p.id}`} className="font-medium text-blue-800 underline-offset-2 hover:underline">
                      {propertyTitle(p)}
                    </Link>
                    <p className="text-xs text-slate-600">
                      {[[p.city, p.zip].filter(Boolean).join(" ") || countyName(p.county), formatCode(p.property_type),
                        p.list_price !== null ? `asking ${formatMoney(p.list_price)}` : `est. ${formatMoney(p.estimated_value)}`,
                        `seen ${formatDate(p.first_seen_at)}`].join(" · ")}
                    </p>
                  </div>
                  <ScoreBadge score={p.bird_dog_score} />
                </li>
              ))}
            </ul>
          )}
        </section>

        <section aria-labelledby="distribution" className="card">
          <h2 id="distribution" className="h2">Score distribution</h2>
          {distribution.isPending ? <Loading /> : distribution.isError ? <ErrorBox error={distribution.error} /> : (
            <ScoreChart bins={distribution.data.bins} width={distribution.data.width} />
          )}
        </section>
      </div>

      <section aria-labelledby="pipeline" className="space-y-3">
        <h2 id="pipeline" className="h2">Pipeline per county</h2>
        {funnel.isPending ? <Loading /> : funnel.isError ? <ErrorBox error={funnel.error} /> : funnel.data.length === 0 ? (
          <p className="text-sm text-slate-600">This workspace follows no county yet (Settings → Counties).</p>
        ) : funnel.data.map((county) => (
          <FunnelCard key={county.county} funnel={county}
            lastScored={summary.data?.counties.find((c) => c.county === county.county)?.last_scored_at ?? null} />
        ))}
        <NotYet title="Run status per stage">
          The last run, its status and each stage's duration come from Dagster's run history, which the API does not expose yet;
          "last scored" above is the freshness the warehouse itself records.
        </NotYet>
      </section>
    </div>
  );
}

function ScoreChart({ bins, width }: { bins: Schemas["ScoreBin"][]; width: number }) {
  const counties = [...new Set(bins.map((b) => b.county))];
  const rows = new Map<number, Record<string, number | string>>();
  for (const bin of bins) {
    const row = rows.get(bin.bin_start) ?? { band: `${bin.bin_start}–${bin.bin_start + width}` };
    row[bin.county] = bin.properties;
    rows.set(bin.bin_start, row);
  }
  const chart = [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([, row]) => row);
  if (!chart.length) return <p className="mt-3 text-sm text-slate-600">No scored property yet.</p>;
  const colors = ["#1e40af", "#b45309", "#047857", "#7c3aed"];
  return (
    <figure className="mt-3">
      <div className="h-80" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={chart}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="band" fontSize={11} />
            <YAxis fontSize={11} allowDecimals={false} />
            <Tooltip />
            {counties.length > 1 && <Legend />}
            {counties.map((c, i) => <Bar key={c} dataKey={c} name={countyName(c)} stackId="s" fill={colors[i % colors.length]} isAnimationActive={false} />)}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="sr-only">
        Properties per score band: {chart.map((r) => `${r.band}: ${counties.map((c) => r[c] ?? 0).join("/")}`).join("; ")}
      </figcaption>
    </figure>
  );
}

function FunnelCard({ funnel, lastScored }: { funnel: Schemas["CountyFunnel"]; lastScored: string | null }) {
  const first = funnel.stages[0]?.count ?? 0;
  const emails = funnel.emails as Record<string, number | undefined>;
  return (
    <article className="card" aria-label={`Pipeline of ${countyName(funnel.county)}`}>
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 className="font-semibold">{countyName(funnel.county)}</h3>
        <p className="text-xs text-slate-600">last scored {formatDateTime(lastScored)}</p>
      </div>
      <ol className="mt-3 grid gap-2 sm:grid-cols-5">
        {funnel.stages.map((stage) => (
          <li key={stage.stage} className="rounded-md bg-slate-50 p-2">
            <p className="text-xs font-semibold uppercase tracking-wide text-slate-600">{stage.stage}</p>
            <p className="text-lg font-semibold tabular-nums">{formatInteger(stage.count)}</p>
            <div className="mt-1 h-1.5 rounded bg-slate-200" aria-hidden="true">
              <div className="h-1.5 rounded bg-blue-800" style={{ width: `${first ? Math.max(2, (100 * stage.count) / first) : 0}%` }} />
            </div>
          </li>
        ))}
      </ol>
      <p className="mt-3 text-sm text-slate-700">
        Emails: {EMAIL_OUTCOMES.map((k) => `${formatInteger(emails[k] ?? 0)} ${k}`).join(" · ")}
      </p>
    </article>
  );
}
