// Settings › Usage: how a quota of the tenant's plan reads (GET /api/v1/usage). The limits
// themselves are the API's (accounts/plans.py); nothing here knows a plan's numbers.
import { formatDateTime, formatInteger } from "./format";

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
