import { describe, expect, it } from "vitest";
import { formatBytes, quotaLabel, usageShare, usageText, usageTone, type QuotaUsage } from "./usage";

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
