import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, data, type Schemas } from "../api/client";
import { useCan } from "../auth";
import { RunStatus, ScoreChart } from "../components/ScoreChart";
import { ErrorBox, Loading, ScoreBadge, Stat } from "../components/ui";
import {
  countyName, formatCode, formatDate, formatDateTime, formatDuration, formatInteger, formatMoney, formatScore, propertyTitle,
} from "../lib/format";

const EMAIL_OUTCOMES = ["sent", "delivered", "opened", "clicked", "bounced", "unsubscribed"];

export default function Home() {
  const summary = useQuery({ queryKey: ["analytics", "summary"], queryFn: () => data(api.GET("/api/v1/analytics/summary")) });
  const funnel = useQuery({ queryKey: ["analytics", "funnel"], queryFn: () => data(api.GET("/api/v1/analytics/funnel")) });
  const pipeline = useQuery({ queryKey: ["analytics", "pipeline"], queryFn: () => data(api.GET("/api/v1/analytics/pipeline")) });
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

      <QuickActions threshold={threshold} />

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
            pipeline={pipeline.data?.find((p) => p.county === county.county)}
            lastScored={summary.data?.counties.find((c) => c.county === county.county)?.last_scored_at ?? null} />
        ))}
        {pipeline.isError && <ErrorBox error={pipeline.error} />}
      </section>
    </div>
  );
}

/** The next things a person does from Home; what their role may not do is not offered. */
function QuickActions({ threshold }: { threshold: number | undefined }) {
  const canWrite = useCan("write");
  const canAdmin = useCan("admin");
  const link = "btn";
  return (
    <nav aria-label="Quick actions" className="flex flex-wrap gap-2">
      <Link className={`${link} btn-primary`} to={threshold !== undefined ? `/properties?min_score=${threshold}` : "/properties"}>
        Review deals
      </Link>
      <Link className={link} to="/properties?reviewed=false">Not reviewed yet</Link>
      {canWrite && <Link className={link} to="/campaigns">Campaigns</Link>}
      {canWrite && <Link className={link} to="/recipients">Import recipients</Link>}
      <Link className={link} to="/analytics">Analytics</Link>
      {canAdmin && <Link className={link} to="/settings">Counties and keys</Link>}
    </nav>
  );
}

function FunnelCard({ funnel, pipeline, lastScored }: {
  funnel: Schemas["CountyFunnel"]; pipeline: Schemas["CountyPipeline"] | undefined; lastScored: string | null;
}) {
  const first = funnel.stages[0]?.count ?? 0;
  const emails = funnel.emails as Record<string, number | undefined>;
  return (
    <article className="card" aria-label={`Pipeline of ${countyName(funnel.county)}`}>
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 className="font-semibold">{countyName(funnel.county)}</h3>
        <p className="text-xs text-slate-600">
          last run {formatDateTime(funnel.last_run_at)}{funnel.last_run_status ? <> · <RunStatus status={funnel.last_run_status} /></> : null}
          {" · "}last scored {formatDateTime(lastScored)}
        </p>
      </div>
      <ol className="mt-3 grid gap-2 sm:grid-cols-5">
        {funnel.stages.map((stage, i) => (
          <li key={stage.stage} className="rounded-md bg-slate-50 p-2">
            <p className="text-xs font-semibold uppercase tracking-wide text-slate-600">{stage.stage}</p>
            <p className="text-lg font-semibold tabular-nums">{formatInteger(stage.count)}</p>
            <div className="mt-1 h-1.5 rounded bg-slate-200" aria-hidden="true">
              <div className="h-1.5 rounded bg-blue-800" style={{ width: `${first ? Math.max(2, (100 * stage.count) / first) : 0}%` }} />
            </div>
            <StageRun stage={pipeline?.stages[i]} />
          </li>
        ))}
      </ol>
      <p className="mt-3 text-sm text-slate-700">
        Emails: {EMAIL_OUTCOMES.map((k) => `${formatInteger(emails[k] ?? 0)} ${k}`).join(" · ")}
      </p>
    </article>
  );
}

/** A stage's latest run (pipeline_runs through /analytics/pipeline): when, how it ended, how fresh. */
function StageRun({ stage }: { stage: Schemas["PipelineStage"] | undefined }) {
  if (!stage?.last_run_at) return <p className="mt-1 text-xs text-slate-600">no run recorded</p>;
  return (
    <p className="mt-1 text-xs text-slate-700">
      <RunStatus status={stage.last_status} /> {formatDateTime(stage.last_run_at)}
      <br />
      {stage.freshness_s !== null ? `fresh as of ${formatDuration(stage.freshness_s)} ago` : "never succeeded"}
    </p>
  );
}
