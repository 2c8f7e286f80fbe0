import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/session";

// The API client keeps its session in sessionStorage, which node has not.
vi.stubGlobal("sessionStorage", { getItem: () => null, setItem: () => undefined, removeItem: () => undefined });
let Reasons: typeof import("./Reasons");
beforeAll(async () => { Reasons = await import("./Reasons"); });

const score = {
  as_of_date: "2026-12-01", bird_dog_score: 61, score_rank: 400, estimated_value: 700000, value_gap_pct: 5,
  deal_probability: null, sale_probability_12m: 0.2, model_version: "a1", model_versions: { avm: "a1" }, components: [],
  reasons: null, value_factors: null,
};
const computed = {
  property_id: 7, county: "king_wa", prospect_key: "kc-7", source: "computed" as const, model_versions: { avm: "a1" },
  reasons: ["owned for 12.5 years since the last sale"], deal_drivers: [], sale_drivers: [], suspect_sale: null,
  base_value: 600000, value_factors: [{ feature: "living_sqft", text: "living area raises the estimate by 9.4%" }],
};

function render(client: QueryClient, s: typeof score | (Omit<typeof score, "reasons"> & { reasons: string[] })): string {
  return renderToString(createElement(QueryClientProvider, { client },
    createElement(Reasons.WhyThisScore, { propertyId: 7, score: s })));
}

describe("Why this score on the property page", () => {
  it("shows a loading state while the reasons route computes them", () => {
    const html = render(new QueryClient(), score);
    expect(html).toContain('role="status"');
    expect(html).toContain("Computing the reasons");
  });

  it("shows the reasons and value factors the route computed", () => {
    const client = new QueryClient();
    client.setQueryData(["reasons", 7], computed);
    const html = render(client, score);
    expect(html).toContain("owned for 12.5 years since the last sale");
    expect(html).toContain("living area raises the estimate by 9.4%");
    expect(html).toContain("Computed now from the models that made this score");
  });

  it("shows stored reasons without the route's answer", () => {
    const html = render(new QueryClient(), { ...score, reasons: ["stored reason"] });
    expect(html).toContain("stored reason");
    expect(html).not.toContain("Computing");
  });

  it("shows the route's error", () => {
    const error = new ApiError(503, "Service Unavailable", "reasons of property 7 cannot be computed now", null);
    const html = renderToString(createElement(Reasons.ReasonsBody, { view: { kind: "error", error } }));
    expect(html).toContain('role="alert"');
    expect(html).toContain("Service Unavailable: reasons of property 7 cannot be computed now");
  });
});
