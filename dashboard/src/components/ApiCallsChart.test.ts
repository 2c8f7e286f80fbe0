// The chart's accessible part, rendered on the server (Vitest runs in Node: no layout, so Recharts
// draws nothing here; what a screen reader gets — caption and table — does not need it).
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { ApiCallsChart } from "./ApiCallsChart";

const days = [
  { day: "2026-11-30", calls: 40 },
  { day: "2026-12-01", calls: 311 }, { day: "2026-12-02", calls: 0 }, { day: "2026-12-03", calls: 1000 },
];

describe("ApiCallsChart", () => {
  it("gives this month's days as a table, the limit reached in words, and a caption", () => {
    const html = renderToStaticMarkup(createElement(ApiCallsChart, { days, limit: 1000 }));
    const rows = [...html.matchAll(/<tr><th scope="row"[^>]*>([^<]+)<\/th><td[^>]*>([\d,]+)/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([["Dec 1, 2026", "311"], ["Dec 2, 2026", "0"], ["Dec 3, 2026", "1,000"]]);
    expect(html).toContain("limit reached");
    expect(html).toContain("<figcaption");
    expect(html).toContain("1,311 API calls from Dec 1, 2026 to Dec 3, 2026");
    expect(html).toContain('aria-hidden="true"'); // the drawing itself is for the eye
  });

  it("says so when there is nothing to draw", () => {
    const html = renderToStaticMarkup(createElement(ApiCallsChart, { days: [], limit: null }));
    expect(html).toContain("No API calls recorded this month.");
    expect(html).not.toContain("<table");
  });
});
