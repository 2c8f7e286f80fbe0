// Display formats. A missing value is shown as an em dash, never as 0 or "NaN".
export const MISSING = "—";

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const compactMoney = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1,
});
const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function toNumber(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

export function formatMoney(value: unknown, compact = false): string {
  const n = toNumber(value);
  return n === null ? MISSING : (compact ? compactMoney : money).format(n);
}

export function formatInteger(value: unknown): string {
  const n = toNumber(value);
  return n === null ? MISSING : integer.format(n);
}

export function formatScore(value: unknown): string {
  const n = toNumber(value);
  return n === null ? MISSING : n.toFixed(1);
}

/** `value` is already a percentage (18.5 → "+18.5%"); `signed` shows the sign of a gap. */
export function formatPercent(value: unknown, signed = false, digits = 1): string {
  const n = toNumber(value);
  if (n === null) return MISSING;
  return `${signed && n > 0 ? "+" : ""}${n.toFixed(digits)}%`;
}

/** A probability 0–1 as a percentage. */
export function formatProbability(value: unknown): string {
  const n = toNumber(value);
  return n === null ? MISSING : `${(n * 100).toFixed(0)}%`;
}

/** ISO date or date-time → "Dec 1, 2026" (dates are calendar dates: no time zone shift). */
export function formatDate(value: unknown): string {
  if (typeof value !== "string" || !value) return MISSING;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const d = new Date(dateOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime())) return value;
  return d.toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric", timeZone: dateOnly ? "UTC" : undefined });
}

export function formatDateTime(value: unknown): string {
  if (typeof value !== "string" || !value) return MISSING;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return d.toLocaleString("en-US", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** snake_case → "Snake case" for field names and county ids shown as labels. */
export function humanize(name: string): string {
  const words = name.replace(/_/g, " ").trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : words;
}

/** A county id (king_wa) as people write it (King, WA). */
export function countyName(county: string): string {
  const m = /^(.*)_([a-z]{2})$/.exec(county);
  if (!m) return humanize(county);
  return `${m[1]!.split("_").map((w) => w[0]!.toUpperCase() + w.slice(1)).join(" ")}, ${m[2]!.toUpperCase()}`;
}

/** Any JSON value of an enriched field, as text. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined || value === "") return MISSING;
  if (typeof value === "number") return Number.isInteger(value) ? integer.format(value) : value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (Array.isArray(value)) return value.map(formatValue).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** A score component's county percentile. The pipeline writes it as a share (0.97, as the memo's
 * `share` filter reads it); a value above 1 is taken as already in percent. */
export function percentile(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Math.min(100, Math.max(0, value <= 1 ? value * 100 : value));
}

const MONEY_FIELD = /(price|value|avm_low|avm_high|rent|tax_amount|income)(_monthly|_per_sqft)?$/;
const PLAIN_NUMBER_FIELD = /(year|_id|geoid|zip)/;

/** An enriched field's value, formatted by what its name says it is. */
export function formatField(field: string, value: unknown): string {
  // Decimal columns arrive as strings ("271000.00"): numbers all the same.
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value) && !PLAIN_NUMBER_FIELD.test(field)) value = Number(value);
  if (typeof value === "string" && /_date$/.test(field)) return formatDate(value);
  if (typeof value === "string" && /(_type|_status)$/.test(field)) return formatCode(value);
  if (typeof value === "number") {
    if (/(_pct|_rate|_share|_ratio)$/.test(field)) return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
    if (MONEY_FIELD.test(field)) return formatMoney(value);
    if (PLAIN_NUMBER_FIELD.test(field)) return String(value);
  }
  return formatValue(value);
}

/** A code-like value (sfr, townhouse, single_family) as a label. */
export function formatCode(value: string | null | undefined): string {
  if (!value) return MISSING;
  return value.length <= 3 ? value.toUpperCase() : humanize(value);
}

/** Where a property is, from what is known of it ("SEATTLE WA 98103"), else its parcel. */
export function propertyTitle(p: { address?: unknown; parcel_id?: unknown; prospect_key: string }): string {
  if (typeof p.address === "string" && p.address) return p.address;
  return `Parcel ${typeof p.parcel_id === "string" && p.parcel_id ? p.parcel_id : p.prospect_key}`;
}

/** Seconds → "850 ms", "42 s", "3 min 20 s", "2 h 5 min", "3 d 4 h" (two units at most). */
export function formatDuration(seconds: unknown): string {
  const n = toNumber(seconds);
  if (n === null || n < 0) return MISSING;
  if (n < 1) return `${Math.round(n * 1000)} ms`;
  if (n < 60) return `${n < 10 ? n.toFixed(1) : Math.round(n)} s`;
  const units: [string, number][] = [["d", 86_400], ["h", 3_600], ["min", 60], ["s", 1]];
  const rounded = Math.round(n);
  const i = units.findIndex(([, size]) => rounded >= size); // 0–2: n ≥ 60 s
  const [big, bigSize] = units[i] as [string, number];
  const [small, smallSize] = units[i + 1] as [string, number];
  const count = Math.floor(rounded / bigSize);
  const rest = Math.floor((rounded - count * bigSize) / smallSize);
  return rest ? `${count} ${big} ${rest} ${small}` : `${count} ${big}`;
}
