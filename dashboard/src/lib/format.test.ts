import { describe, expect, it } from "vitest";
import { MISSING, countyName, formatDate, formatMoney, formatPercent, formatProbability, formatScore, formatValue, humanize } from "./format";

describe("format", () => {
  it("shows missing values as a dash, never 0 or NaN", () => {
    for (const f of [formatMoney, formatScore, formatPercent, formatProbability, formatDate, formatValue]) {
      expect(f(null)).toBe(MISSING);
      expect(f(undefined)).toBe(MISSING);
    }
    expect(formatMoney("not a number")).toBe(MISSING);
  });

  it("formats money, scores, percentages and probabilities", () => {
    expect(formatMoney(742000)).toBe("$742,000");
    expect(formatMoney("415000.00")).toBe("$415,000"); // numeric strings (Decimal columns)
    expect(formatMoney(1250000, true)).toBe("$1.3M");
    expect(formatScore(87.44)).toBe("87.4");
    expect(formatPercent(18.5, true)).toBe("+18.5%");
    expect(formatPercent(-4, true)).toBe("-4.0%");
    expect(formatProbability(0.41)).toBe("41%");
  });

  it("keeps calendar dates on their day whatever the time zone", () => {
    expect(formatDate("2026-12-01")).toBe("Dec 1, 2026");
  });

  it("names fields and counties", () => {
    expect(humanize("living_sqft")).toBe("Living sqft");
    expect(countyName("king_wa")).toBe("King, WA");
    expect(countyName("san_diego_ca")).toBe("San Diego, CA");
    expect(formatValue(1480)).toBe("1,480");
    expect(formatValue(["a", "b"])).toBe("a, b");
  });
});
