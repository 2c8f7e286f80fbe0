import { describe, expect, it } from "vitest";
import { EMPTY_SEGMENT, cleanSubjects, criteriaFromForm, formatRate, progressLabel, splitList, unknownTokens } from "./campaigns";

describe("campaign form logic", () => {
  it("keeps at most four non-blank subjects", () => {
    expect(cleanSubjects([" A {count} ", "", "B", "C", "D", "E"])).toEqual(["A {count}", "B", "C", "D"]);
  });

  it("names tokens the API would refuse", () => {
    expect(unknownTokens("{count} leads for {first_name}")).toEqual([]);
    expect(unknownTokens("{cuont} leads {cuont} {}")).toEqual(["cuont", ""]);
  });

  it("splits list fields on commas, semicolons and spaces without duplicates", () => {
    expect(splitList("king_wa, cook_il;king_wa  x")).toEqual(["king_wa", "cook_il", "x"]);
    expect(splitList("  ")).toEqual([]);
  });

  it("leaves empty builder fields out of the criteria", () => {
    expect(criteriaFromForm(EMPTY_SEGMENT)).toEqual({});
    expect(criteriaFromForm({ ...EMPTY_SEGMENT, counties: "king_wa", maxMinScore: "150", campaignTypes: ["daily_digest"] }))
      .toEqual({ counties: ["king_wa"], max_min_score: 100, campaign_types: ["daily_digest"] });
    expect(criteriaFromForm({ ...EMPTY_SEGMENT, maxMinScore: "abc" })).toEqual({});
  });

  it("shows no rate for nothing sent", () => {
    expect(formatRate(0, 0)).toBe("—");
    expect(formatRate(0.4567, 10)).toBe("45.7%");
  });

  it("says how far a send is", () => {
    expect(progressLabel([])).toMatch(/Not sent/);
    expect(progressLabel([{ status: "STARTED" }, { status: "SUCCESS" }])).toBe("1 of 2 runs finished");
    expect(progressLabel([{ status: "SUCCESS" }, { status: "FAILURE" }])).toBe("Finished: 1 of 2 runs failed");
    expect(progressLabel([{ status: "SUCCESS" }])).toBe("Finished");
    expect(progressLabel([{ status: null }])).toMatch(/unavailable/);
  });
});
