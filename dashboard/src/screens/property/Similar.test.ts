import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { StaticRouter } from "react-router-dom/server";
import { beforeAll, describe, expect, it, vi } from "vitest";

// The API client keeps its session in sessionStorage, which node has not.
vi.stubGlobal("sessionStorage", { getItem: () => null, setItem: () => undefined, removeItem: () => undefined });
let Similar: typeof import("./Similar");
beforeAll(async () => { Similar = await import("./Similar"); });

const item = (id: number, county: string, similarity: number) => ({
  id, county, prospect_key: `k-${id}`, address: `${id} OAK ST`, city: "X", state: "WA", zip: "98000",
  estimated_value: 500000, bird_dog_score: 88, similarity,
});

function render(client: QueryClient, scope?: "county" | "followed"): string {
  return renderToString(createElement(StaticRouter, { location: "/" }, createElement(QueryClientProvider, { client },
    createElement(Similar.Similar, { propertyId: 7, initialScope: scope }))));
}

describe("Similar properties on the property page", () => {
  it("asks the property's own county by default, and every followed county when toggled", () => {
    expect(Similar.similarBody(7, "county")).toEqual({ similar_to: 7, limit: 6, sort: "-bird_dog_score", scope: "county" });
    expect(Similar.similarBody(7, "followed").scope).toBe("followed");
  });

  it("shows the toggle off and the county's neighbours without their county", () => {
    const client = new QueryClient();
    client.setQueryData(["similar", 7, "county"], { similar_to: 7, limit: 6, next_cursor: null, items: [item(8, "king_wa", 0.97)] });
    const html = render(client);
    expect(html).toContain("in all my counties");
    expect(html).not.toMatch(/type="checkbox" checked/);
    expect(html).toContain("97% similar");
    expect(html).not.toContain("King, WA ·");
  });

  it("with the toggle on, names each neighbour's county and says how counties are compared", () => {
    const client = new QueryClient();
    client.setQueryData(["similar", 7, "followed"], {
      similar_to: 7, limit: 6, next_cursor: null, items: [item(9, "pierce_wa", 1), item(8, "king_wa", 0.5)] });
    const html = render(client, "followed");
    expect(html).toMatch(/type="checkbox" checked/);
    expect(html).toContain("Pierce, WA · ");
    expect(html).toContain("100% similar");
    expect(html).toContain("location and grade left out");
  });

  it("says so when no followed county has a similar property", () => {
    const client = new QueryClient();
    client.setQueryData(["similar", 7, "followed"], { similar_to: 7, limit: 6, next_cursor: null, items: [] });
    expect(render(client, "followed")).toContain("No similar property in your counties.");
  });
});
