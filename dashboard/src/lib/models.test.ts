import { describe, expect, it } from "vitest";
import { formatFigure, promotionText } from "./models";

describe("model figures and promotion decisions", () => {
  it("says each version's promotion decision and its reason", () => {
    expect(promotionText({ promote: true, reason: "MdAPE 9.3% < champion 9.8%" })).toBe("Promoted: MdAPE 9.3% < champion 9.8%");
    expect(promotionText({ promote: false })).toBe("Not promoted");
    expect(promotionText(null)).toBe("No promotion decision recorded.");
  });

  it("formats shares and missing figures", () => {
    expect(formatFigure(0.818, "%", true)).toBe("81.8%");
    expect(formatFigure(undefined, "")).toBe("—");
  });
});
