// The property page's market data made drawable: comps as GeoJSON (the map), the offline map style,
// and the price-history chart's rows. Pure functions (Vitest), no MapLibre or Recharts import here.

export interface Comp {
  parcel_id: string;
  sale_date: string;
  sale_price: number;
  adjusted_price: number;
  price_per_sqft: number;
  distance_m: number;
  latitude: number;
  longitude: number;
}

export interface Subject { latitude?: number | null; longitude?: number | null }

type Position = [number, number];
interface Feature {
  type: "Feature";
  geometry: { type: "Point"; coordinates: Position } | { type: "Polygon"; coordinates: Position[][] };
  properties: Record<string, string | number>;
}
export interface FeatureCollection { type: "FeatureCollection"; features: Feature[] }

const EARTH_RADIUS_M = 6_371_008.8;

/** The subject and its comps as points; comps numbered 1… nearest first, as in the table. */
export function compsGeoJSON(subject: Subject, comps: Comp[]): FeatureCollection {
  const features: Feature[] = comps.map((c, i) => ({
    type: "Feature",
    geometry: { type: "Point", coordinates: [c.longitude, c.latitude] },
    properties: { kind: "comp", number: i + 1, parcel_id: c.parcel_id, price_per_sqft: Math.round(c.price_per_sqft) },
  }));
  if (subject.latitude != null && subject.longitude != null) {
    features.unshift({ type: "Feature", geometry: { type: "Point", coordinates: [subject.longitude, subject.latitude] },
      properties: { kind: "subject", number: 0 } });
  }
  return { type: "FeatureCollection", features };
}

/** A circle of `radiusM` metres around a point, as a closed polygon (the comps' search area). */
export function circlePolygon(latitude: number, longitude: number, radiusM: number, steps = 64): FeatureCollection {
  const ring: Position[] = [];
  const dLat = (radiusM / EARTH_RADIUS_M) * (180 / Math.PI);
  const dLon = dLat / Math.cos((latitude * Math.PI) / 180);
  for (let i = 0; i <= steps; i++) {
    const a = (2 * Math.PI * i) / steps;
    ring.push([longitude + dLon * Math.cos(a), latitude + dLat * Math.sin(a)]);
  }
  return { type: "FeatureCollection", features: [{ type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: {} }] };
}

/** [[west, south], [east, north]] around every point (and the area), padded so no point sits on the edge. */
export function bounds(collections: FeatureCollection[], padding = 0.1): [Position, Position] | null {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const c of collections) {
    for (const f of c.features) {
      const points = f.geometry.type === "Point" ? [f.geometry.coordinates] : f.geometry.coordinates.flat();
      for (const [x, y] of points) { xs.push(x); ys.push(y); }
    }
  }
  if (!xs.length) return null;
  const [w, e, s, n] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const px = Math.max((e - w) * padding, 0.002);
  const py = Math.max((n - s) * padding, 0.002);
  return [[w - px, s - py], [e + px, n + py]];
}

/** The map style with no tiles and no fonts (works offline): a plain background; the search area
 * and the points are added as GeoJSON layers on top of any style, this one or a production one. */
export const OFFLINE_STYLE = {
  version: 8 as const,
  sources: {},
  layers: [{ id: "background", type: "background" as const, paint: { "background-color": "#eef2f6" } }],
};

/** A production style URL (vector tiles), set at build time; none: the offline style. */
export function mapStyleUrl(env: Record<string, string | undefined>): string | null {
  const url = env.VITE_MAP_STYLE_URL?.trim();
  return url && /^https?:\/\//.test(url) ? url : null;
}

export interface HistoryInput {
  sales: { date: string; price: number }[];
  index: { month: string; level: number }[];
}

export interface HistoryRow { t: number; path?: number; level?: number; sale?: number }

const time = (iso: string) => Date.parse(`${iso.slice(0, 10)}T00:00:00Z`);

/** Chart rows on one time axis. With sales: the first sale moved along the county index (`path`,
 * dollars, as in the memo's chart) and every recorded sale (`sale`). Without: the index itself
 * (`level`, first month = 100). */
export function historyRows(history: HistoryInput): { rows: HistoryRow[]; mode: "price" | "index" } {
  const index = [...history.index].sort((a, b) => a.month.localeCompare(b.month));
  const sales = [...history.sales].sort((a, b) => a.date.localeCompare(b.date));
  if (!sales.length) {
    const base = index[0]?.level;
    return { mode: "index", rows: base ? index.map((p) => ({ t: time(p.month), level: (100 * p.level) / base })) : [] };
  }
  const first = sales[0]!;
  const firstMonth = first.date.slice(0, 7);
  const from = index.filter((p) => p.month.slice(0, 7) >= firstMonth);
  const base = from[0]?.level;
  const rows: HistoryRow[] = base ? from.map((p) => ({ t: time(p.month), path: (first.price * p.level) / base })) : [];
  for (const s of sales) rows.push({ t: time(s.date), sale: s.price });
  rows.sort((a, b) => a.t - b.t);
  return { mode: "price", rows };
}
