// The Analytics screen's data made drawable: per-county rows summed per month, model accuracy as
// time series, ZIP centroids as map points, stage durations as bars. Pure (Vitest), no Recharts or
// MapLibre import here.
import type { FeatureCollection } from "./market";

type Row = Record<string, unknown>;

/** Per-county monthly rows → one row per month ("2026-11"), `keys` summed over counties, oldest first. */
export function monthlyTotals<K extends string>(rows: readonly (Row & { month: string })[], keys: readonly K[]):
  ({ month: string } & Record<K, number>)[] {
  const months = new Map<string, { month: string } & Record<K, number>>();
  for (const r of rows) {
    const month = r.month.slice(0, 7);
    const m = months.get(month) ?? ({ month, ...Object.fromEntries(keys.map((k) => [k, 0])) } as { month: string } & Record<K, number>);
    for (const k of keys) (m as Record<string, number | string>)[k] = (m[k] as number) + (Number(r[k]) || 0);
    months.set(month, m);
  }
  return [...months.values()].sort((a, b) => a.month.localeCompare(b.month));
}

/** `part` of `whole` as a percentage, or null when there is no whole to speak of. */
export function rate(part: number, whole: number): number | null {
  return whole > 0 ? (100 * part) / whole : null;
}

/** The figure a model's accuracy is followed by: the AVM's median error, the classifiers' AUC. */
export const ACCURACY_METRIC: Record<string, { title: string; key: string; label: string; better: "lower" | "higher" }> = {
  avm: { title: "Valuation (AVM)", key: "mdape_pct", label: "MdAPE (%)", better: "lower" },
  deal: { title: "Deal classifier", key: "auc", label: "AUC", better: "higher" },
  sale_propensity: { title: "Sale within 12 months", key: "auc", label: "AUC", better: "higher" },
};

export interface ModelPoint { county: string; model_name: string; created_at: string; headline: Record<string, number | undefined> }

/** Model versions → per model: one row per training (time order), one column per county. */
export function accuracySeries(models: readonly ModelPoint[]):
  { model: string; title: string; metric: string; unit: string; counties: string[]; rows: ({ t: number; date: string } & Record<string, number | string>)[] }[] {
  const byModel = new Map<string, ModelPoint[]>();
  for (const m of models) {
    const metric = ACCURACY_METRIC[m.model_name];
    if (!metric || typeof m.headline[metric.key] !== "number") continue;
    byModel.set(m.model_name, [...(byModel.get(m.model_name) ?? []), m]);
  }
  return [...byModel.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([model, versions]) => {
    const { title, key, label } = ACCURACY_METRIC[model] as { title: string; key: string; label: string };
    const rows = [...versions].sort((a, b) => a.created_at.localeCompare(b.created_at)).map((v) => ({
      t: Date.parse(v.created_at), date: v.created_at.slice(0, 10), [v.county]: v.headline[key] as number,
    }));
    return { model, title, metric: label, unit: key.endsWith("_pct") ? "%" : "", counties: [...new Set(versions.map((v) => v.county))].sort(), rows };
  });
}

export interface LocationRow { county: string; zip: string | null; properties: number; deals: number; average_score: number | null;
  latitude: number | null; longitude: number | null }

/** ZIP centroids as points sized by their deals (area ∝ deals); ZIPs without coordinates are left out. */
export function locationPoints(rows: readonly LocationRow[], minPx = 18, maxPx = 44): FeatureCollection {
  const located = rows.filter((r) => typeof r.latitude === "number" && typeof r.longitude === "number");
  const most = Math.max(1, ...located.map((r) => r.deals));
  return {
    type: "FeatureCollection",
    features: located.map((r) => ({
      type: "Feature",
      geometry: { type: "Point", coordinates: [r.longitude as number, r.latitude as number] },
      properties: { zip: r.zip ?? "", county: r.county, deals: r.deals, properties: r.properties,
        size: Math.round(minPx + (maxPx - minPx) * Math.sqrt(r.deals / most)) },
    })),
  };
}

export interface StageRow { stage: string; duration_s: number | null }

/** Stage durations of each county → bar-chart rows (stage, one column per county), pipeline order. */
export function stageDurations(counties: readonly { county: string; stages: readonly StageRow[] }[]): Row[] {
  const rows = new Map<string, Row>();
  for (const c of counties) {
    for (const s of c.stages) {
      const row = rows.get(s.stage) ?? { stage: s.stage };
      if (s.duration_s !== null) row[c.county] = s.duration_s;
      rows.set(s.stage, row);
    }
  }
  return [...rows.values()];
}
