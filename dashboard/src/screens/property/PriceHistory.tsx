import { useQuery } from "@tanstack/react-query";
import { CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Scatter, Tooltip, XAxis, YAxis } from "recharts";
import { api, data } from "../../api/client";
import { ErrorBox, Loading } from "../../components/ui";
import { formatDate, formatMoney } from "../../lib/format";
import { historyRows } from "../../lib/market";

const year = (t: number) => new Date(t).getUTCFullYear().toString();
const day = (t: number) => formatDate(new Date(t).toISOString().slice(0, 10));

/** The parcel's recorded sales against the county's market index (the memo's chart, live). */
export function PriceHistory({ propertyId }: { propertyId: number }) {
  const history = useQuery({
    queryKey: ["price-history", propertyId],
    queryFn: () => data(api.GET("/api/v1/properties/{property_id}/price-history", { params: { path: { property_id: propertyId } } })),
  });
  return (
    <section className="card space-y-2" aria-labelledby="history-h">
      <h2 id="history-h" className="h2">Price history and market index</h2>
      {history.isPending ? <Loading label="Loading price history" /> : history.isError ? <ErrorBox error={history.error} /> : (
        <HistoryChart sales={history.data.sales} index={history.data.index} method={history.data.index_method} />
      )}
    </section>
  );
}

function HistoryChart({ sales, index, method }: {
  sales: { date: string; price: number }[]; index: { month: string; level: number }[]; method: string | null;
}) {
  const { rows, mode } = historyRows({ sales, index });
  if (!rows.length) return <p className="text-sm text-slate-600">No recorded sales for this county yet, so no market index.</p>;
  const path = rows.filter((r) => r.path !== undefined || r.level !== undefined);
  const points = rows.filter((r) => r.sale !== undefined);
  const caption = mode === "price"
    ? `${sales.length} recorded sale${sales.length === 1 ? "" : "s"} of this parcel (points) and its first sale moved along the county's ${method ?? ""} market index (line).`
    : `This parcel has no recorded sale; the county's ${method ?? ""} market index, first month = 100.`;
  return (
    <figure>
      {/* Hidden from assistive technology: the caption and the list below say what it draws. */}
      <div className="h-64 w-full" aria-hidden="true">
        <ResponsiveContainer>
          <ComposedChart margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#e2e8f0" />
            <XAxis dataKey="t" type="number" scale="time" domain={["dataMin", "dataMax"]} tickFormatter={year}
              allowDuplicatedCategory={false} tick={{ fontSize: 12, fill: "#334155" }} />
            <YAxis tick={{ fontSize: 12, fill: "#334155" }} width={mode === "price" ? 64 : 40}
              tickFormatter={(v: number) => (mode === "price" ? formatMoney(v, true) : v.toFixed(0))} domain={["auto", "auto"]} />
            <Tooltip labelFormatter={(t) => day(Number(t))}
              formatter={(v: number) => (mode === "price" ? formatMoney(v) : v.toFixed(1))} />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            <Line data={path} dataKey={mode === "price" ? "path" : "level"} dot={false} stroke="#1e40af" strokeWidth={2}
              name={mode === "price" ? "First sale along the county index" : "County index"} isAnimationActive={false} />
            {mode === "price" && <Scatter data={points} dataKey="sale" fill="#b45309" name="Recorded sale" isAnimationActive={false} />}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
      <figcaption className="mt-1 text-xs text-slate-600">{caption}</figcaption>
      {mode === "price" && (
        <ul className="mt-2 text-sm" aria-label="Recorded sales">
          {sales.map((s) => <li key={s.date} className="tabular-nums">{formatDate(s.date)}: {formatMoney(s.price)}</li>)}
        </ul>
      )}
    </figure>
  );
}
