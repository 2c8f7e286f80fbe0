import { describe, expect, it } from "vitest";
import { ApiError } from "../api/session";
import { needsReasons, reasonsView } from "./reasons";

const body = {
  property_id: 7, county: "king_wa", prospect_key: "kc-7", source: "computed" as const, model_versions: { avm: "a1" },
  reasons: ["owned for 12.5 years since the last sale"], deal_drivers: [], sale_drivers: [], suspect_sale: null,
  base_value: 600000, value_factors: [{ feature: "living_sqft", text: "living area 1,480 sqft raises the estimate by 9.4%" }],
};

describe("why this score", () => {
  it("shows stored reasons without asking the route", () => {
    const score = { reasons: ["stored reason"], value_factors: [{ text: "a factor" }] };
    expect(needsReasons(score)).toBe(false);
    expect(reasonsView(score, null)).toEqual({ kind: "reasons", reasons: ["stored reason"], valueFactors: ["a factor"], computed: false });
  });

  it("asks the route only when the detail has no reasons, and not for an unscored property", () => {
    expect(needsReasons({ reasons: null, value_factors: null })).toBe(true);
    expect(needsReasons(null)).toBe(false);
    expect(needsReasons({ reasons: [], value_factors: [] })).toBe(false); // stored, none to say
  });

  it("is loading, then shows the computed reasons and value factors", () => {
    const score = { reasons: null, value_factors: null };
    expect(reasonsView(score, { isPending: true, isError: false, error: null })).toEqual({ kind: "loading" });
    expect(reasonsView(score, { isPending: false, isError: false, error: null, data: body })).toEqual({
      kind: "reasons", reasons: body.reasons, computed: true,
      valueFactors: ["living area 1,480 sqft raises the estimate by 9.4%"],
    });
  });

  it("shows the route's error (a 503 when the models cannot be loaded)", () => {
    const error = new ApiError(503, "Service Unavailable", "reasons of property 7 cannot be computed now", null);
    expect(reasonsView({ reasons: null, value_factors: null }, { isPending: false, isError: true, error }))
      .toEqual({ kind: "error", error });
  });
});
