import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Schemas } from "../api/client";
import { countyName } from "../lib/format";

export const COLORS = ["#1e40af", "#b45309", "#047857", "#7c3aed"];

/** Properties per score band, a stacked bar per county (Home and Analytics). */
export function ScoreChart({ bins, width }: { bins: Schemas["ScoreBin"][]; width: number }) {
  const counties = [...new Set(bins.map((b) => b.county))];
  const rows = new Map<number, Record<string, number | string>>();
  for (const bin of bins) {
    const row = rows.get(bin.bin_start) ?? { band: `${bin.bin_start}–${bin.bin_start + width}` };
    row[bin.county] = bin.properties;
    rows.set(bin.bin_start, row);
  }
  const chart = [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([, row]) => row);
  if (!chart.length) return <p className="mt-3 text-sm text-slate-600">No scored property yet.</p>;
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
            {counties.map((c, i) => <Bar key={c} dataKey={c} name={countyName(c)} stackId="s" fill={COLORS[i % COLORS.length]} isAnimationActive={false} />)}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="sr-only">
        Properties per score band: {chart.map((r) => `${r.band}: ${counties.map((c) => r[c] ?? 0).join("/")}`).join("; ")}
      </figcaption>
    </figure>
  );
}

/** A run status in words, with a colour cue only (success, failure, canceled, skipped; none: never run). */
export function RunStatus({ status }: { status: string | null | undefined }) {
  if (!status) return <span className="text-slate-600">never run</span>;
  const tone = status === "success" ? "bg-emerald-100 text-emerald-900" : status === "failure" ? "bg-red-100 text-red-900" : "bg-amber-100 text-amber-900";
  return <span className={`inline-block rounded px-1.5 py-0.5 text-xs font-semibold ${tone}`}>{status === "failure" ? "failed" : status}</span>;
}
