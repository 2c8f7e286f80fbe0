// The property list's filters, one shape for three places: the page URL (shareable, back button),
// the API's query string (GET /properties, export.csv) and a saved search's body.

export const STATUSES = ["new", "enriched", "scored", "packeted", "emailed"] as const;
export type Status = (typeof STATUSES)[number];
export const DEFAULT_SORT = "-bird_dog_score";
export const MAX_SORT_KEYS = 3; // the API accepts up to three sort columns

export interface Filters {
  county: string[];
  property_type: string[];
  status: Status[];
  min_score?: number;
  max_score?: number;
  min_price?: number;
  max_price?: number;
  min_value?: number;
  max_value?: number;
  q?: string;
  /** Marked reviewed by this tenant (true), not yet (false), either (undefined). */
  reviewed?: boolean;
  sort: string;
}

export const EMPTY_FILTERS: Filters = { county: [], property_type: [], status: [], sort: DEFAULT_SORT };
const NUMBERS = ["min_score", "max_score", "min_price", "max_price", "min_value", "max_value"] as const;
const LISTS = ["county", "property_type"] as const;

function number(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Filters from a URL's search part; anything malformed is dropped rather than sent to the API. */
export function filtersFromSearch(params: URLSearchParams): Filters {
  const filters: Filters = {
    county: params.getAll("county").filter(Boolean),
    property_type: params.getAll("property_type").filter(Boolean),
    status: params.getAll("status").filter((s): s is Status => (STATUSES as readonly string[]).includes(s)),
    sort: params.get("sort") || DEFAULT_SORT,
  };
  for (const key of NUMBERS) {
    const n = number(params.get(key));
    if (n !== undefined) filters[key] = n;
  }
  const q = params.get("q")?.trim();
  if (q) filters.q = q;
  const reviewed = params.get("reviewed");
  if (reviewed === "true" || reviewed === "false") filters.reviewed = reviewed === "true";
  return filters;
}

/** The API's minimum for `q` is two characters: one typed letter is not a search yet. */
export function effectiveQ(q: string | undefined): string | undefined {
  const trimmed = q?.trim();
  return trimmed && trimmed.length >= 2 ? trimmed.slice(0, 200) : undefined;
}

/** URL search params for the filters: repeated keys for lists, defaults left out. Used for the
 * page URL and, with `cursor`/`limit`, for the API (export.csv takes the same parameters). */
export function filtersToSearch(filters: Filters, extra: { cursor?: string; limit?: number } = {}): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of LISTS) for (const value of filters[key]) params.append(key, value);
  for (const value of filters.status) params.append("status", value);
  for (const key of NUMBERS) {
    const n = filters[key];
    if (n !== undefined) params.set(key, String(n));
  }
  const q = effectiveQ(filters.q);
  if (q) params.set("q", q);
  if (filters.reviewed !== undefined) params.set("reviewed", String(filters.reviewed));
  if (filters.sort && filters.sort !== DEFAULT_SORT) params.set("sort", filters.sort);
  if (extra.limit !== undefined) params.set("limit", String(extra.limit));
  if (extra.cursor) params.set("cursor", extra.cursor);
  return params;
}

/** The query object for the typed client (openapi-fetch repeats array keys, as the API expects). */
export function apiQuery(filters: Filters, cursor?: string, limit = 50) {
  const query: Record<string, string | number | string[]> = {};
  for (const [key, value] of filtersToSearch(filters, { cursor, limit })) {
    const existing = query[key];
    if (LISTS.includes(key as (typeof LISTS)[number]) || key === "status") {
      query[key] = [...((existing as string[] | undefined) ?? []), value];
    } else {
      query[key] = NUMBERS.includes(key as (typeof NUMBERS)[number]) || key === "limit" ? Number(value) : value;
    }
  }
  if (!query.sort) query.sort = filters.sort || DEFAULT_SORT;
  return query;
}

export interface SavedFilters {
  county?: string[] | null;
  property_type?: string[] | null;
  status?: Status[] | null;
  min_score?: number | null;
  max_score?: number | null;
  min_price?: number | null;
  max_price?: number | null;
  min_value?: number | null;
  max_value?: number | null;
  q?: string | null;
  reviewed?: boolean | null;
  sort?: string;
}

/** A saved search's body: empty lists and unset bounds are null (the API's "no filter"). */
export function toSavedFilters(filters: Filters): SavedFilters {
  const list = <T,>(values: T[]) => (values.length ? values : null);
  return {
    county: list(filters.county), property_type: list(filters.property_type), status: list(filters.status),
    min_score: filters.min_score ?? null, max_score: filters.max_score ?? null,
    min_price: filters.min_price ?? null, max_price: filters.max_price ?? null,
    min_value: filters.min_value ?? null, max_value: filters.max_value ?? null,
    q: effectiveQ(filters.q) ?? null, reviewed: filters.reviewed ?? null, sort: filters.sort || DEFAULT_SORT,
  };
}

export function fromSavedFilters(saved: SavedFilters): Filters {
  const filters: Filters = {
    county: saved.county ?? [], property_type: saved.property_type ?? [], status: saved.status ?? [],
    sort: saved.sort || DEFAULT_SORT,
  };
  for (const key of NUMBERS) {
    const n = saved[key];
    if (n !== null && n !== undefined) filters[key] = n;
  }
  if (saved.q) filters.q = saved.q;
  if (typeof saved.reviewed === "boolean") filters.reviewed = saved.reviewed;
  return filters;
}

export interface SortKey { id: string; desc: boolean }

export function parseSort(sort: string): SortKey[] {
  return sort.split(",").map((s) => s.trim()).filter(Boolean)
    .map((s) => (s.startsWith("-") ? { id: s.slice(1), desc: true } : { id: s, desc: false }));
}

export function formatSort(keys: SortKey[]): string {
  return keys.slice(0, MAX_SORT_KEYS).map((k) => (k.desc ? `-${k.id}` : k.id)).join(",") || DEFAULT_SORT;
}

/** A click on a column header: first click sorts descending (the interesting end of scores and
 * prices), the next ascending. Without `multi` the column becomes the only key; with it (shift-click)
 * it is added or flipped in place, up to three keys. */
export function toggleSort(sort: string, column: string, multi = false): string {
  const keys = parseSort(sort);
  const current = keys.find((k) => k.id === column);
  const next: SortKey = { id: column, desc: current ? !current.desc : true };
  if (!multi) return formatSort([next]);
  if (current) return formatSort(keys.map((k) => (k.id === column ? next : k)));
  return formatSort([...keys, next].slice(-MAX_SORT_KEYS));
}

/** How many filters are set (for "Clear filters (3)"). */
export function activeFilterCount(filters: Filters): number {
  return filters.county.length + filters.property_type.length + filters.status.length
    + NUMBERS.filter((k) => filters[k] !== undefined).length + (effectiveQ(filters.q) ? 1 : 0)
    + (filters.reviewed !== undefined ? 1 : 0);
}
