import { useQuery } from "@tanstack/react-query";
import { Suspense, lazy } from "react";
import { api, data, type Schemas } from "../../api/client";
import { ErrorBox, Loading } from "../../components/ui";
import { formatDate, formatInteger, formatMoney, formatPercent } from "../../lib/format";

const CompsMap = lazy(() => import("./CompsMap"));

/** The comparable sales of the valuation: the enrichment's rule, found again by the API. */
export function Comps({ propertyId }: { propertyId: number }) {
  const comps = useQuery({
    queryKey: ["comps", propertyId],
    queryFn: () => data(api.GET("/api/v1/properties/{property_id}/comps", { params: { path: { property_id: propertyId } } })),
  });
  return (
    <section className="card space-y-3" aria-labelledby="comps-h">
      <h2 id="comps-h" className="h2">Comparable sales</h2>
      {comps.isPending ? <Loading label="Finding comparable sales" /> : comps.isError ? <ErrorBox error={comps.error} /> : (
        <CompsBody body={comps.data} />
      )}
    </section>
  );
}

function CompsBody({ body }: { body: Schemas["PropertyComps"] }) {
  const { summary, rule, subject } = body;
  const located = typeof subject.latitude === "number" && typeof subject.longitude === "number";
  const radius = rule.radius_m ? `${(rule.radius_m / 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })} km` : "any distance";
  return (
    <>
      <p className="text-sm text-slate-700">
        Same-type sales within {radius}
        {rule.window_months ? ` in the ${rule.window_months} months before ${formatDate(body.as_of_date)}` : ` before ${formatDate(body.as_of_date)}`}
        {rule.sqft_tolerance ? `, living area within ±${Math.round(rule.sqft_tolerance * 100)}%` : ""}; the nearest {rule.max_comps},
        prices moved along the county index to the valuation date.
      </p>
      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-4">
        <Figure label="Comps found" value={formatInteger(summary.comps_count)} />
        <Figure label="Median $/sq ft" value={formatMoney(summary.comps_median_price_per_sqft)} />
        <Figure label="Comps value" value={formatMoney(summary.comps_estimated_value)}
          hint={summary.comps_estimated_value == null && summary.comps_count < rule.min_comps ? `needs ${rule.min_comps} comps` : undefined} />
        <Figure label="Spread" value={formatPercent(summary.comps_value_spread_pct)} hint="interquartile, % of median" />
      </dl>
      {body.detail && <p className="text-sm text-slate-600">{body.detail}</p>}
      {located && (
        <Suspense fallback={<Loading label="Loading map" />}>
          <CompsMap latitude={subject.latitude as number} longitude={subject.longitude as number}
            comps={body.comps} radiusM={rule.radius_m ?? null} />
          <p className="text-xs text-slate-600">
            <span aria-hidden="true" className="mr-1 inline-block h-3 w-3 rounded-sm bg-amber-700 align-middle" />this property
            <span aria-hidden="true" className="ml-3 mr-1 inline-block h-3 w-3 rounded-full bg-blue-800 align-middle" />comparable sale (number as in the table)
            {rule.radius_m ? <span className="ml-3">dashed: search radius</span> : null}
          </p>
        </Suspense>
      )}
      {body.comps.length > 0 && (
        // Focusable: on a phone the table scrolls sideways, and a keyboard must be able to scroll it.
        <div className="overflow-x-auto" tabIndex={0} role="region" aria-label="Comparable sales table">
          <table className="min-w-full text-sm">
            <caption className="sr-only">Comparable sales, nearest first</caption>
            <thead>
              <tr className="text-left text-xs uppercase tracking-wide text-slate-600">
                <th scope="col" className="py-1 pr-2">#</th>
                <th scope="col" className="py-1 pr-2">Sold</th>
                <th scope="col" className="py-1 pr-2 text-right">Price</th>
                <th scope="col" className="py-1 pr-2 text-right">Adjusted</th>
                <th scope="col" className="py-1 pr-2 text-right">$/sq ft</th>
                <th scope="col" className="py-1 pr-2 text-right">Sq ft</th>
                <th scope="col" className="py-1 pr-2 text-right">Beds/baths</th>
                <th scope="col" className="py-1 pr-2 text-right">Distance</th>
                <th scope="col" className="py-1">Parcel</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {body.comps.map((c, i) => (
                <tr key={`${c.parcel_id}-${c.sale_date}`}>
                  <td className="py-1.5 pr-2 tabular-nums">{i + 1}</td>
                  <td className="whitespace-nowrap py-1.5 pr-2">{formatDate(c.sale_date)}</td>
                  <td className="py-1.5 pr-2 text-right tabular-nums">{formatMoney(c.sale_price)}</td>
                  <td className="py-1.5 pr-2 text-right tabular-nums">{formatMoney(c.adjusted_price)}</td>
                  <td className="py-1.5 pr-2 text-right tabular-nums">{formatMoney(c.price_per_sqft)}</td>
                  <td className="py-1.5 pr-2 text-right tabular-nums">{formatInteger(c.living_sqft)}</td>
                  <td className="py-1.5 pr-2 text-right tabular-nums">{c.beds ?? "—"}/{c.baths ?? "—"}</td>
                  <td className="whitespace-nowrap py-1.5 pr-2 text-right tabular-nums">{formatInteger(c.distance_m)} m</td>
                  <td className="py-1.5 font-mono text-xs">{c.parcel_id}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function Figure({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div>
      <dt className="label">{label}</dt>
      <dd className="text-lg font-semibold tabular-nums">{value}</dd>
      {hint && <dd className="text-xs text-slate-600">{hint}</dd>}
    </div>
  );
}
