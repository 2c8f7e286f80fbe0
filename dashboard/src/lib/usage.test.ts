import { describe, expect, it } from "vitest";
import {
  callBars, callsSummary, callsThisMonth, callTone, dailyCallLimit, formatBytes, quotaLabel, usageShare, usageText, usageTone,
  type CallDay, type QuotaUsage,
} from "./usage";

const base: QuotaUsage = { quota: "properties", used: 42, limit: 100, period: "month", resets_at: "2027-01-01T00:00:00Z", exhausted: false };

describe("usage", () => {
  it("labels each quota with its period", () => {
    expect(quotaLabel("properties")).toBe("Properties received this month");
    expect(quotaLabel("api_calls")).toBe("API calls today");
    expect(quotaLabel("storage")).toBe("Document storage");
  });

  it("formats counts and bytes against the limit", () => {
    expect(usageText(base)).toBe("42 of 100");
    expect(usageText({ ...base, quota: "api_calls", used: 3021, limit: null })).toBe("3,021 (unlimited)");
    expect(usageText({ ...base, quota: "storage", used: 1610612736, limit: 26843545600 })).toBe("1.5 GB of 25 GB");
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1 KB");
  });

  it("fills the bar and warns near and at the limit", () => {
    expect(usageShare(base)).toBeCloseTo(0.42);
    expect(usageTone(base)).toBe("ok");
    expect(usageTone({ ...base, used: 80 })).toBe("near");
    expect(usageTone({ ...base, used: 100, exhausted: true })).toBe("full");
    expect(usageShare({ ...base, used: 250 })).toBe(1); // never past the bar
    expect(usageShare({ ...base, limit: null })).toBe(0);
  });
});

describe("API calls by day", () => {
  // GET /usage's default: 31 days ending today (Dec 4): the end of November, then December.
  const series: CallDay[] = [
    ...Array.from({ length: 27 }, (_, i) => ({ day: `2026-11-${String(4 + i).padStart(2, "0")}`, calls: 5 })),
    { day: "2026-12-01", calls: 311 }, { day: "2026-12-02", calls: 0 }, { day: "2026-12-03", calls: 1000 }, { day: "2026-12-04", calls: 87 },
  ];
  const quotas: QuotaUsage[] = [base, { ...base, quota: "api_calls", used: 87, limit: 1000, period: "day" }];

  it("keeps the days of today's month", () => {
    expect(series).toHaveLength(31);
    expect(callsThisMonth(series).map((d) => d.day)).toEqual(["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]);
    expect(callsThisMonth([{ day: "2026-12-01", calls: 3 }])).toEqual([{ day: "2026-12-01", calls: 3 }]); // the 1st: one day
    expect(callsThisMonth([])).toEqual([]);
  });

  it("takes the daily limit from the api_calls quota, none when unlimited", () => {
    expect(dailyCallLimit(quotas)).toBe(1000);
    expect(dailyCallLimit([base, { ...base, quota: "api_calls", limit: null, period: "day" }])).toBeNull();
    expect(dailyCallLimit([base])).toBeNull();
  });

  it("colours a day as the quota would be and labels it with its day of the month", () => {
    expect(callTone(799, 1000)).toBe("ok");
    expect(callTone(800, 1000)).toBe("near");
    expect(callTone(1000, 1000)).toBe("full");
    expect(callTone(5000, null)).toBe("ok");
    const bars = callBars(callsThisMonth(series), 1000);
    expect(bars.slice(0, 4).map((b) => [b.label, b.calls, b.tone])).toEqual([["1", 311, "ok"], ["2", 0, "ok"], ["3", 1000, "full"], ["4", 87, "ok"]]);
  });

  it("spans the whole month, the days to come empty", () => {
    const bars = callBars(callsThisMonth(series), 1000);
    expect(bars).toHaveLength(31);
    expect(bars[4]).toEqual({ day: "2026-12-05", label: "5", calls: null, tone: "ok" });
    expect(bars[30]?.day).toBe("2026-12-31");
    expect(callBars([{ day: "2028-02-28", calls: 1 }], null).map((b) => b.day)).toEqual(["2028-02-28", "2028-02-29"]); // leap year
    expect(callBars([{ day: "2026-11-30", calls: 1 }], null)).toHaveLength(1);
    expect(callBars([], null)).toEqual([]);
  });

  it("sums the month up in words for the caption", () => {
    expect(callsSummary(callsThisMonth(series), 1000))
      .toBe("1,398 API calls from Dec 1, 2026 to Dec 4, 2026; most on Dec 3, 2026 (1,000); daily limit 1,000, reached on 1 day.");
    expect(callsSummary([{ day: "2026-12-01", calls: 1 }], null)).toBe("1 API call on Dec 1, 2026; no daily limit on this plan.");
    expect(callsSummary([], 1000)).toBe("No API calls recorded this month.");
  });
});
