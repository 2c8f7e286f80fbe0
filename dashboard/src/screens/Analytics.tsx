import { useQuery } from "@tanstack/react-query";
import { Suspense, lazy, useMemo } from "react";
import { Link } from "react-router-dom";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, data, type Schemas } from "../api/client";
import type { Marker } from "../components/PointsMap";
import { COLORS, RunStatus, ScoreChart } from "../components/ScoreChart";
import { ErrorBox, Loading } from "../components/ui";
import { accuracySeries, locationPoints, monthlyTotals, rate, stageDurations } from "../lib/analytics";
import { countyName, formatDateTime, formatDuration, formatInteger, formatPercent, formatScore, humanize } from "../lib/format";
import { formatFigure } from "../lib/models";

// MapLibre in its own chunk, shared with the property page's comps map.
const PointsMap = lazy(() => import("../components/PointsMap"));
const EMAIL_KEYS = ["sent", "delivered", "opened", "clicked", "unsubscribed"] as const;
const EMAIL_COLORS: Record<(typeof EMAIL_KEYS)[number], string> = {
  sent: "#1e40af", delivered: "#047857", opened: "#b45309", clicked: "#7c3aed", unsubscribed: "#b91c1c",
};

export default function Analytics() {
  const distribution = useQuery({
    queryKey: ["analytics", "score-distribution"],
    queryFn: () => data(api.GET("/api/v1/analytics/score-distribution", { params: { query: { width: 10 } } })),
  });
  const locations = useQuery({
    queryKey: ["analytics", "locations"],
    queryFn: () => data(api.GET("/api/v1/analytics/locations", { params: { query: { limit: 25 } } })),
  });
  const pipeline = useQuery({ queryKey: ["analytics", "pipeline"], queryFn: () => data(api.GET("/api/v1/analytics/pipeline")) });
  const emails = useQuery({
    queryKey: ["analytics", "emails"],
    queryFn: () => data(api.GET("/api/v1/analytics/emails", { params: { query: { months: 12 } } })),
  });
  const trends = useQuery({
    queryKey: ["analytics", "trends"],
    queryFn: () => data(api.GET("/api/v1/analytics/trends", { params: { query: { months: 24 } } })),
  });
  const models = useQuery({ queryKey: ["models"], queryFn: () => data(api.GET("/api/v1/models")) });
  return (
    <div className="space-y-6">
      <h1 className="h1">Analytics</h1>
      <div className="grid gap-6 lg:grid-cols-2">
        <Section id="dist" title="Score distribution" note="Properties per band of 10 score points, per county.">
          {distribution.isPending ? <Loading /> : distribution.isError ? <ErrorBox error={distribution.error} /> : (
            <ScoreChart bins={distribution.data.bins} width={distribution.data.width} />
          )}
        </Section>
        <Section id="loc" title="Deals by location" note="The 25 ZIP codes with the most properties; each circle's area follows its deals.">
          {locations.isPending ? <Loading /> : locations.isError ? <ErrorBox error={locations.error} /> : <Locations rows={locations.data} />}
        </Section>
      </div>
      <Section id="pipe" title="Pipeline throughput and bottlenecks"
        note="Per county and stage, the latest run of each of its assets (last 30 days): duration, rows written per second, freshness. The slowest stage is the bottleneck.">
        {pipeline.isPending ? <Loading /> : pipeline.isError ? <ErrorBox error={pipeline.error} /> : <Pipeline counties={pipeline.data} />}
      </Section>
      <Section id="mail" title="Emails" note="Your emails per month, each outcome counted in the month it happened (last 12 months).">
        {emails.isPending ? <Loading /> : emails.isError ? <ErrorBox error={emails.error} /> : <Emails rows={emails.data} />}
      </Section>
      <Section id="trends" title="Properties over time" note="Per month first seen, last 24 months: new properties, new deals, average score.">
        {trends.isPending ? <Loading /> : trends.isError ? <ErrorBox error={trends.error} /> : <Trends rows={trends.data} />}
      </Section>
      <Section id="acc" title="Model accuracy over time" note="Each training's hold-out figure: the valuation model's median error (lower is better), the classifiers' AUC (higher is better).">
        {models.isPending ? <Loading /> : models.isError ? <ErrorBox error={models.error} /> : <Accuracy models={models.data} />}
      </Section>
    </div>
  );
}

function Section({ id, title, note, children }: { id: string; title: string; note: string; children: React.ReactNode }) {
  return (
    <section className="card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`} className="h2">{title}</h2>
      <p className="text-xs text-slate-600">{note}</p>
      {children}
    </section>
  );
}

function Empty({ children }: { children: React.ReactNode }) {
  return <p className="mt-2 text-sm text-slate-600">{children}</p>;
}

const locationMarker = (p: Record<string, string | number>): Marker => ({
  text: String(p.deals), className: "reos-marker", size: Number(p.size),
  title: `${p.zip || "no ZIP"}: ${p.deals} deals of ${p.properties} properties`,
});

function Locations({ rows }: { rows: Schemas["LocationCount"][] }) {
  const points = useMemo(() => locationPoints(rows), [rows]);
  if (!rows.length) return <Empty>No property yet.</Empty>;
  return (
    <>
      {points.features.length > 0 && (
        <div className="mt-3">
          <Suspense fallback={<Loading label="Loading the map" />}>
            <PointsMap points={points} marker={locationMarker} className="h-80"
              label={`Map of ${points.features.length} ZIP codes, each marked with its number of deals; the table lists the same figures`}
              fallback="The map needs WebGL, which this browser does not offer. The table lists the same ZIP codes." />
          </Suspense>
        </div>
      )}
      <div className="mt-3 max-h-80 overflow-y-auto">
        <table className="w-full text-sm">
          <caption className="sr-only">Properties, scored properties, average score and deals per ZIP code</caption>
          <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
            <tr><th scope="col">ZIP</th><th scope="col">County</th><th scope="col" className="text-right">Properties</th>
              <th scope="col" className="text-right">Average score</th><th scope="col" className="text-right">Deals</th></tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((r) => (
              <tr key={`${r.county}-${r.zip ?? "none"}`}>
                <td className="py-1.5">
                  {r.zip ? <Link className="text-blue-800 underline" to={`/properties?county=${r.county}&q=${r.zip}`}>{r.zip}</Link>
                    : <span className="text-slate-600">no ZIP recorded</span>}
                </td>
                <td className="py-1.5">{countyName(r.county)}</td>
                <td className="py-1.5 text-right tabular-nums">{formatInteger(r.properties)}</td>
                <td className="py-1.5 text-right tabular-nums">{formatScore(r.average_score)}</td>
                <td className="py-1.5 text-right tabular-nums">{formatInteger(r.deals)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Pipeline({ counties }: { counties: Schemas["CountyPipeline"][] }) {
  if (!counties.length) return <Empty>No pipeline run recorded yet for the counties you follow.</Empty>;
  const bars = stageDurations(counties);
  return (
    <>
      <figure className="mt-3">
        <div className="h-64" aria-hidden="true">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={bars}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="stage" fontSize={11} />
              <YAxis fontSize={11} unit=" s" />
              <Tooltip />
              {counties.length > 1 && <Legend />}
              {counties.map((c, i) => <Bar key={c.county} dataKey={c.county} name={countyName(c.county)} fill={COLORS[i % COLORS.length]} isAnimationActive={false} />)}
            </BarChart>
          </ResponsiveContainer>
        </div>
        <figcaption className="sr-only">Stage durations in seconds; the tables below give every figure.</figcaption>
      </figure>
      {counties.map((c) => (
        <table key={c.county} className="mt-4 w-full text-sm">
          <caption className="text-left font-semibold">
            {countyName(c.county)}{" "}
            <span className="ml-1 text-xs font-normal text-slate-600">
              bottleneck: {c.bottleneck ?? "—"} · last run {formatDateTime(c.last_run_at)}
            </span>
          </caption>
          <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
            <tr><th scope="col">Stage</th><th scope="col">Last run</th><th scope="col">Status</th>
              <th scope="col" className="text-right">Duration</th><th scope="col" className="text-right">Rows/s</th>
              <th scope="col" className="text-right">Fresh as of</th><th scope="col" className="text-right">Failed runs</th></tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {c.stages.map((s) => (
              <tr key={s.stage} className={s.stage === c.bottleneck ? "bg-amber-50" : undefined}>
                <th scope="row" className="py-1.5 text-left font-normal">
                  {humanize(s.stage)}{s.stage === c.bottleneck && <> <span className="text-xs font-semibold text-amber-900">(bottleneck)</span></>}
                </th>
                <td className="py-1.5">{formatDateTime(s.last_run_at)}</td>
                <td className="py-1.5"><RunStatus status={s.last_status} /></td>
                <td className="py-1.5 text-right tabular-nums">{formatDuration(s.duration_s)}</td>
                <td className="py-1.5 text-right tabular-nums">{formatInteger(s.throughput_rows_per_s)}</td>
                <td className="py-1.5 text-right tabular-nums">{s.freshness_s === null ? "—" : `${formatDuration(s.freshness_s)} ago`}</td>
                <td className="py-1.5 text-right tabular-nums">{formatInteger(s.failures)} of {formatInteger(s.runs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </>
  );
}

function Emails({ rows }: { rows: Schemas["MonthlyEmails"][] }) {
  const months = monthlyTotals(rows, EMAIL_KEYS);
  if (!months.length) return <Empty>No email sent in the last 12 months.</Empty>;
  return (
    <>
      {months.length > 1 && (
        <div className="mt-3 h-64" aria-hidden="true">
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={months}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="month" fontSize={11} />
              <YAxis fontSize={11} allowDecimals={false} />
              <Tooltip />
              <Legend />
              {EMAIL_KEYS.map((k) => <Line key={k} dataKey={k} name={humanize(k)} stroke={EMAIL_COLORS[k]} dot={false} isAnimationActive={false} />)}
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
      <table className="mt-3 w-full text-sm">
        <caption className="sr-only">Emails per month by outcome, with open and click rates of the delivered ones</caption>
        <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
          <tr><th scope="col">Month</th>{EMAIL_KEYS.map((k) => <th key={k} scope="col" className="text-right">{humanize(k)}</th>)}
            <th scope="col" className="text-right">Open rate</th><th scope="col" className="text-right">Click rate</th></tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {months.map((m) => (
            <tr key={m.month}>
              <td className="py-1.5">{m.month}</td>
              {EMAIL_KEYS.map((k) => <td key={k} className="py-1.5 text-right tabular-nums">{formatInteger(m[k])}</td>)}
              <td className="py-1.5 text-right tabular-nums">{formatPercent(rate(m.opened, m.delivered))}</td>
              <td className="py-1.5 text-right tabular-nums">{formatPercent(rate(m.clicked, m.delivered))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Trends({ rows }: { rows: Schemas["MonthlyTrend"][] }) {
  if (!rows.length) return <Empty>No property first seen in the last 24 months.</Empty>;
  const chart = monthlyTotals(rows, ["new_properties", "new_deals"] as const);
  return (
    <>
      {chart.length === 1 && <Empty>Every property was first seen in one month so far: the chart starts with the second.</Empty>}
      {chart.length > 1 && (
        <div className="mt-3 h-64" aria-hidden="true">
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={chart}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="month" fontSize={11} />
              <YAxis fontSize={11} allowDecimals={false} />
              <Tooltip />
              <Legend />
              <Line dataKey="new_properties" name="New properties" stroke="#1e40af" dot={false} isAnimationActive={false} />
              <Line dataKey="new_deals" name="New deals" stroke="#b45309" dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
      <table className="mt-3 w-full text-sm">
        <caption className="sr-only">Properties and deals per month first seen, per county</caption>
        <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
          <tr><th scope="col">Month</th><th scope="col">County</th><th scope="col" className="text-right">New properties</th>
            <th scope="col" className="text-right">New deals</th><th scope="col" className="text-right">Average score</th></tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {rows.map((r) => (
            <tr key={`${r.county}-${r.month}`}>
              <td className="py-1.5">{r.month.slice(0, 7)}</td>
              <td className="py-1.5">{countyName(r.county)}</td>
              <td className="py-1.5 text-right tabular-nums">{formatInteger(r.new_properties)}</td>
              <td className="py-1.5 text-right tabular-nums">{formatInteger(r.new_deals)}</td>
              <td className="py-1.5 text-right tabular-nums">{formatScore(r.average_score)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Accuracy({ models }: { models: Schemas["ModelVersion"][] }) {
  const series = accuracySeries(models);
  if (!series.length) return <Empty>No trained model with a hold-out figure yet.</Empty>;
  return (
    <div className="mt-3 grid gap-6 lg:grid-cols-2">
      {series.map((s) => {
        return (
          <figure key={s.model}>
            <figcaption className="text-sm font-semibold">{s.title}: {s.metric}</figcaption>
            {s.rows.length > 1 ? (
              <div className="mt-2 h-56" aria-hidden="true">
                <ResponsiveContainer width="100%" height="100%">
                  <LineChart data={s.rows}>
                    <CartesianGrid strokeDasharray="3 3" vertical={false} />
                    <XAxis dataKey="date" fontSize={11} />
                    <YAxis fontSize={11} domain={["auto", "auto"]} />
                    <Tooltip />
                    {s.counties.length > 1 && <Legend />}
                    {s.counties.map((c, i) => <Line key={c} dataKey={c} name={countyName(c)} stroke={COLORS[i % COLORS.length]} connectNulls isAnimationActive={false} />)}
                  </LineChart>
                </ResponsiveContainer>
              </div>
            ) : <Empty>One training so far: the line starts with the second.</Empty>}
            <table className="mt-2 w-full text-sm">
              <caption className="sr-only">{s.title} {s.metric} per training and county</caption>
              <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
                <tr><th scope="col">Trained</th>{s.counties.map((c) => <th key={c} scope="col" className="text-right">{countyName(c)}</th>)}</tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {s.rows.map((r) => (
                  <tr key={`${r.t}-${s.counties.map((c) => r[c]).join()}`}>
                    <td className="py-1">{r.date}</td>
                    {s.counties.map((c) => <td key={c} className="py-1 text-right tabular-nums">
                      {typeof r[c] === "number" ? formatFigure(r[c] as number, s.unit) : "—"}</td>)}
                  </tr>
                ))}
              </tbody>
            </table>
          </figure>
        );
      })}
    </div>
  );
}
