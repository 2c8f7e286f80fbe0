// Settings › Usage: how a quota of the tenant's plan reads (GET /api/v1/usage). The limits
// themselves are the API's (accounts/plans.py); nothing here knows a plan's numbers.
import { formatDate, formatDateTime, formatInteger } from "./format";

export type QuotaName = "properties" | "api_calls" | "emails" | "storage";

export interface QuotaUsage {
  quota: QuotaName;
  used: number;
  limit: number | null;
  period: "month" | "day" | null;
  resets_at: string | null;
  exhausted: boolean;
}

const LABELS: Record<QuotaName, string> = {
  properties: "Properties received",
  api_calls: "API calls",
  emails: "Emails sent",
  storage: "Document storage",
};

export function quotaLabel(quota: QuotaName): string {
  const period = quota === "api_calls" ? " today" : quota === "storage" ? "" : " this month";
  return `${LABELS[quota]}${period}`;
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** Bytes in binary units, one decimal from KB up ("1.5 GB"). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1).replace(/\.0$/, "")} ${UNITS[unit]}`;
}

export function formatAmount(quota: QuotaName, value: number): string {
  return quota === "storage" ? formatBytes(value) : formatInteger(value);
}

/** "42 of 100", "1.2 GB of 25 GB", "3,021 (unlimited)". */
export function usageText(u: QuotaUsage): string {
  const used = formatAmount(u.quota, u.used);
  return u.limit === null ? `${used} (unlimited)` : `${used} of ${formatAmount(u.quota, u.limit)}`;
}

/** The bar's filled share, 0–1; 0 for an unlimited quota (nothing to fill). */
export function usageShare(u: QuotaUsage): number {
  if (u.limit === null || u.limit <= 0) return u.limit === 0 ? 1 : 0;
  return Math.min(1, Math.max(0, u.used / u.limit));
}

export type Tone = "ok" | "near" | "full";

/** Full: used up (the API refuses more); near: 80% or more. */
export function usageTone(u: QuotaUsage): Tone {
  if (u.exhausted) return "full";
  return usageShare(u) >= 0.8 ? "near" : "ok";
}

export function resetsText(u: QuotaUsage): string {
  return u.resets_at ? `resets ${formatDateTime(u.resets_at)}` : "does not reset: free space by removing documents";
}

/** One UTC day of `api_calls_by_day` (GET /api/v1/usage: a dense series, oldest first, ending today). */
export interface CallDay {
  day: string;
  calls: number;
}

/** A bar of the API-calls chart: the day of the month on the axis, coloured as the quota would be;
 * `calls` null for the month's days still to come (an empty slot, so the axis is the whole month). */
export interface CallBar {
  day: string;
  label: string;
  calls: number | null;
  tone: Tone;
}

/** The series' days in the calendar month of its last day (today, UTC), oldest first. */
export function callsThisMonth(days: readonly CallDay[]): CallDay[] {
  const last = days[days.length - 1];
  if (!last) return [];
  const month = last.day.slice(0, 7);
  return days.filter((d) => d.day.startsWith(month));
}

/** The plan's daily API-call limit; null when unlimited (no reference line). */
export function dailyCallLimit(quotas: readonly QuotaUsage[]): number | null {
  return quotas.find((q) => q.quota === "api_calls" && q.period === "day")?.limit ?? null;
}

/** A day's calls against the daily limit, with the quota's own rule (full at the limit, near from 80%). */
export function callTone(calls: number, limit: number | null): Tone {
  return usageTone({ quota: "api_calls", used: calls, limit, period: "day", resets_at: null,
    exhausted: limit !== null && calls >= limit });
}

/** This month's days (callsThisMonth) as bars, then empty slots to the month's last day. */
export function callBars(days: readonly CallDay[], limit: number | null): CallBar[] {
  const bars: CallBar[] = days.map((d) => ({ ...d, label: String(Number(d.day.slice(8, 10))), tone: callTone(d.calls, limit) }));
  const last = days[days.length - 1];
  if (!last) return bars;
  const [year, month, today] = last.day.split("-").map(Number) as [number, number, number];
  const length = new Date(Date.UTC(year, month, 0)).getUTCDate(); // day 0 of the next month: this one's last
  for (let n = today + 1; n <= length; n += 1) {
    bars.push({ day: `${last.day.slice(0, 8)}${String(n).padStart(2, "0")}`, label: String(n), calls: null, tone: "ok" });
  }
  return bars;
}

/** The chart in one sentence (its caption): "1,234 API calls from Dec 1 to Dec 4, 2026; most on Dec 2 (800); daily limit 1,000, reached on 1 day." */
export function callsSummary(days: readonly CallDay[], limit: number | null): string {
  const first = days[0];
  const last = days[days.length - 1];
  if (!first || !last) return "No API calls recorded this month.";
  const total = days.reduce((sum, d) => sum + d.calls, 0);
  const span = first.day === last.day ? `on ${formatDate(first.day)}` : `from ${formatDate(first.day)} to ${formatDate(last.day)}`;
  const parts = [`${formatInteger(total)} API call${total === 1 ? "" : "s"} ${span}`];
  const most = days.reduce((a, b) => (b.calls > a.calls ? b : a));
  if (most.calls > 0 && days.length > 1) parts.push(`most on ${formatDate(most.day)} (${formatInteger(most.calls)})`);
  if (limit === null) parts.push("no daily limit on this plan");
  else {
    const reached = days.filter((d) => d.calls >= limit).length;
    parts.push(`daily limit ${formatInteger(limit)}${reached ? `, reached on ${reached} day${reached === 1 ? "" : "s"}` : ""}`);
  }
  return `${parts.join("; ")}.`;
}
