// Settings › Usage: API calls per UTC day this month (`api_calls_by_day` of GET /api/v1/usage), with
// the plan's daily limit as a reference line. The chart is drawn for the eye (aria-hidden); its
// caption sums it up and a table gives every day, for screen readers and anyone who wants figures.
import { Bar, BarChart, CartesianGrid, Cell, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatDate, formatInteger } from "../lib/format";
import { callBars, callsSummary, callsThisMonth, callTone, type CallDay, type Tone } from "../lib/usage";

// The quota bars' colours (UsagePanel), as SVG fills: emerald-600, amber-500, red-600.
export const TONE_FILL: Record<Tone, string> = { ok: "#059669", near: "#f59e0b", full: "#dc2626" };
const LIMIT_STROKE = "#b91c1c"; // red-700: 4.5:1 on white for the line's label

export function ApiCallsChart({ days, limit }: { days: readonly CallDay[]; limit: number | null }) {
  const month = callsThisMonth(days);
  const bars = callBars(month, limit);
  const summary = callsSummary(month, limit);
  return (
    <figure className="mt-4" data-testid="api-calls-chart">
      <h3 className="text-sm font-medium">API calls per day this month (UTC)</h3>
      {month.length > 0 && (
        <div className="mt-2 h-48" aria-hidden="true">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={bars} margin={{ top: 16, right: 8, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="label" fontSize={11} interval="preserveStartEnd" tickLine={false} />
              <YAxis fontSize={11} allowDecimals={false} width={48} tickFormatter={(v: number) => formatInteger(v)} />
              <Tooltip cursor={{ fill: "#f1f5f9" }} separator=": " labelFormatter={(_, payload) => formatDate(payload?.[0]?.payload?.day)}
                formatter={(value: number) => [formatInteger(value), "API calls"]} />
              <Bar dataKey="calls" name="API calls" maxBarSize={28} isAnimationActive={false}>
                {bars.map((b) => <Cell key={b.day} fill={TONE_FILL[b.tone]} />)}
              </Bar>
              {limit !== null && (
                <ReferenceLine y={limit} stroke={LIMIT_STROKE} strokeDasharray="6 3" ifOverflow="extendDomain"
                  label={{ value: `daily limit ${formatInteger(limit)}`, position: "insideTopRight", fontSize: 11, fill: LIMIT_STROKE }} />
              )}
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
      <figcaption className="mt-1 text-xs text-slate-600">{summary}</figcaption>
      {month.length > 0 && (
        <details className="mt-1 text-sm">
          <summary className="cursor-pointer text-xs text-blue-800 underline">API calls by day as a table</summary>
          <table className="mt-2 w-full max-w-xs text-sm">
            <caption className="sr-only">API calls per UTC day this month</caption>
            <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
              <tr><th scope="col">Day</th><th scope="col" className="text-right">API calls</th></tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {month.map((d) => (
                <tr key={d.day}>
                  <th scope="row" className="py-1 text-left font-normal">{formatDate(d.day)}</th>
                  <td className="py-1 text-right tabular-nums">
                    {formatInteger(d.calls)}{callTone(d.calls, limit) === "full" && <span className="ml-1 text-xs font-semibold text-red-800">limit reached</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}
