import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, data, type Schemas } from "../api/client";
import { ErrorBox, Loading, NotYet } from "../components/ui";
import { countyName, formatInteger, formatScore } from "../lib/format";

export default function Analytics() {
  const trends = useQuery({
    queryKey: ["analytics", "trends"],
    queryFn: () => data(api.GET("/api/v1/analytics/trends", { params: { query: { months: 24 } } })),
  });
  const locations = useQuery({
    queryKey: ["analytics", "locations"],
    queryFn: () => data(api.GET("/api/v1/analytics/locations", { params: { query: { limit: 25 } } })),
  });
  return (
    <div className="space-y-6">
      <h1 className="h1">Analytics</h1>
      <section className="card" aria-labelledby="trends-h">
        <h2 id="trends-h" className="h2">Properties over time</h2>
        <p className="text-xs text-slate-600">Per month first seen, last 24 months: new properties, new deals, average score.</p>
        {trends.isPending ? <Loading /> : trends.isError ? <ErrorBox error={trends.error} /> : <Trends rows={trends.data} />}
      </section>
      <section className="card" aria-labelledby="loc-h">
        <h2 id="loc-h" className="h2">Deals by location</h2>
        <p className="text-xs text-slate-600">The 25 ZIP codes with the most properties.</p>
        {locations.isPending ? <Loading /> : locations.isError ? <ErrorBox error={locations.error} /> : <Locations rows={locations.data} />}
      </section>
      <NotYet title="Map, pipeline throughput, email rates over time, model accuracy over time">
        The map needs MapLibre and an offline style; the others need run history and time series the API does not serve yet.
      </NotYet>
    </div>
  );
}

function Trends({ rows }: { rows: Schemas["MonthlyTrend"][] }) {
  if (!rows.length) return <p className="mt-2 text-sm text-slate-600">No property first seen in the last 24 months.</p>;
  const months = new Map<string, { month: string; new_properties: number; new_deals: number }>();
  for (const r of rows) {
    const m = months.get(r.month) ?? { month: r.month.slice(0, 7), new_properties: 0, new_deals: 0 };
    m.new_properties += r.new_properties;
    m.new_deals += r.new_deals;
    months.set(r.month, m);
  }
  const chart = [...months.values()].sort((a, b) => a.month.localeCompare(b.month));
  return (
    <>
      {chart.length === 1 && (
        <p className="mt-2 text-sm text-slate-600">Every property was first seen in one month so far: the chart starts with the second.</p>
      )}
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

function Locations({ rows }: { rows: Schemas["LocationCount"][] }) {
  if (!rows.length) return <p className="mt-2 text-sm text-slate-600">No property yet.</p>;
  return (
    <table className="mt-3 w-full text-sm">
      <caption className="sr-only">Properties, scored properties, average score and deals per ZIP code</caption>
      <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
        <tr><th scope="col">ZIP</th><th scope="col">County</th><th scope="col" className="text-right">Properties</th>
          <th scope="col" className="text-right">Scored</th><th scope="col" className="text-right">Average score</th>
          <th scope="col" className="text-right">Deals</th></tr>
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
            <td className="py-1.5 text-right tabular-nums">{formatInteger(r.scored)}</td>
            <td className="py-1.5 text-right tabular-nums">{formatScore(r.average_score)}</td>
            <td className="py-1.5 text-right tabular-nums">{formatInteger(r.deals)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
