import { describe, expect, it } from "vitest";
import { accuracySeries, locationPoints, monthlyTotals, rate, stageDurations } from "./analytics";
import { formatDuration } from "./format";

describe("analytics shaping", () => {
  it("sums counties per month, oldest first", () => {
    const rows = [
      { county: "b", month: "2026-11-01", sent: 2, opened: 1 },
      { county: "a", month: "2026-10-01", sent: 5, opened: 0 },
      { county: "a", month: "2026-11-01", sent: 3, opened: 2 },
    ];
    expect(monthlyTotals(rows, ["sent", "opened"])).toEqual([
      { month: "2026-10", sent: 5, opened: 0 }, { month: "2026-11", sent: 5, opened: 3 }]);
    expect(rate(1, 4)).toBe(25);
    expect(rate(1, 0)).toBeNull();
  });

  it("follows each model's accuracy figure over its trainings, per county", () => {
    const series = accuracySeries([
      { county: "king_wa", model_name: "avm", created_at: "2026-11-02T04:00:00Z", headline: { mdape_pct: 9.8 } },
      { county: "king_wa", model_name: "avm", created_at: "2026-10-02T04:00:00Z", headline: { mdape_pct: 10.4 } },
      { county: "cook_il", model_name: "deal", created_at: "2026-11-02T04:00:00Z", headline: { auc: 0.81 } },
      { county: "cook_il", model_name: "deal", created_at: "2026-11-09T04:00:00Z", headline: {} }, // no figure: left out
      { county: "cook_il", model_name: "unknown", created_at: "2026-11-09T04:00:00Z", headline: { auc: 0.5 } },
    ]);
    expect(series.map((s) => [s.model, s.metric, s.counties, s.rows.length])).toEqual([
      ["avm", "MdAPE (%)", ["king_wa"], 2], ["deal", "AUC", ["cook_il"], 1]]);
    expect(series[0]?.rows.map((r) => [r.date, r.king_wa])).toEqual([["2026-10-02", 10.4], ["2026-11-02", 9.8]]);
  });

  it("places ZIP centroids sized by deals and leaves out ZIPs without coordinates", () => {
    const points = locationPoints([
      { county: "c", zip: "98103", properties: 50, deals: 16, average_score: 60, latitude: 47.6, longitude: -122.3 },
      { county: "c", zip: "98105", properties: 10, deals: 4, average_score: 40, latitude: 47.66, longitude: -122.29 },
      { county: "c", zip: null, properties: 3, deals: 3, average_score: 50, latitude: null, longitude: null },
    ]);
    expect(points.features.map((f) => [f.properties.zip, f.properties.size, f.geometry.coordinates])).toEqual([
      ["98103", 44, [-122.3, 47.6]], ["98105", 31, [-122.29, 47.66]]]);
  });

  it("turns stage durations into bars per stage, a county per column", () => {
    expect(stageDurations([
      { county: "a", stages: [{ stage: "discovery", duration_s: 4 }, { stage: "scoring", duration_s: null }] },
      { county: "b", stages: [{ stage: "discovery", duration_s: 2 }, { stage: "scoring", duration_s: 9 }] },
    ])).toEqual([{ stage: "discovery", a: 4, b: 2 }, { stage: "scoring", b: 9 }]);
  });

  it("says durations in at most two units", () => {
    expect([0.25, 4.26, 42, 200, 7500, 3 * 86400 + 4 * 3600 + 59, -1, null].map(formatDuration)).toEqual(
      ["250 ms", "4.3 s", "42 s", "3 min 20 s", "2 h 5 min", "3 d 4 h", "—", "—"]);
  });
});
