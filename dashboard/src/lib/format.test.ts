import { describe, expect, it } from "vitest";
import {
  MISSING, countyName, formatCode, formatDate, formatField, formatMoney, formatPercent, formatProbability, formatScore, formatValue,
  humanize, percentile, propertyTitle,
} from "./format";

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

describe("fields", () => {
  it("reads component percentiles as the pipeline writes them (shares)", () => {
    expect(percentile(0.9656)).toBeCloseTo(96.56);
    expect(percentile(91)).toBe(91);
    expect(percentile(null)).toBeNull();
  });

  it("formats a field by its name", () => {
    expect(formatField("year_built", 2005)).toBe("2005");
    expect(formatField("last_sale_price", "271000.00")).toBe("$271,000");
    expect(formatField("last_sale_date", "2012-12-12")).toBe("Dec 12, 2012");
    expect(formatField("use_type", "townhouse")).toBe("Townhouse");
    expect(formatField("parcel_id", "0007600179")).toBe("0007600179");
    expect(formatField("last_sale_price", 271000)).toBe("$271,000");
    expect(formatField("comps_median_price_per_sqft", 394)).toBe("$394");
    expect(formatField("comps_value_spread_pct", 9.1234)).toBe("9.12");
    expect(formatField("living_sqft", 1322)).toBe("1,322");
    expect(formatField("tract_geoid", 53033000100)).toBe("53033000100");
    expect(formatCode("sfr")).toBe("SFR");
    expect(formatCode("single_family")).toBe("Single family");
    expect(propertyTitle({ address: null, parcel_id: "1250200767", prospect_key: "k" })).toBe("Parcel 1250200767");
  });
});
