import { describe, expect, it } from "vitest";
import { countyChanges, countyFields, fieldOf, formOf, reloading, reloadNotice, showValue } from "./countySettings";

const editable = { "quality.max_reject_rate": 0.2, "quality.min_enrichment_coverage": 0.9,
  parcel_viewer_url: "https://kc.example/p/{parcel_id}", "sources.kc_sales.enabled": true };
const fields = countyFields(editable, { "quality.max_reject_rate": 0.2 });

describe("county settings", () => {
  it("labels the editable paths and marks the overridden ones", () => {
    expect(fields.map((f) => [f.path, f.kind, f.overridden])).toEqual([
      ["quality.max_reject_rate", "share", true], ["quality.min_enrichment_coverage", "share", false],
      ["parcel_viewer_url", "url", false], ["sources.kc_sales.enabled", "switch", false]]);
    expect(fieldOf("sources.kc_sales.enabled")[0]).toBe("Source kc_sales enabled");
    expect(fieldOf("schedule.cron")[1]).toBe("text");
    expect(fields.map(showValue)).toEqual(["20%", "90%", "https://kc.example/p/{parcel_id}", "on"]);
  });

  it("sends only what changed, shares as numbers, null to give a field back to the file", () => {
    const form = formOf(fields);
    expect(form).toEqual({ "quality.max_reject_rate": "0.2", "quality.min_enrichment_coverage": "0.9",
      parcel_viewer_url: "https://kc.example/p/{parcel_id}", "sources.kc_sales.enabled": true });
    expect(countyChanges(fields, form, new Set())).toEqual({});
    const edited = { ...form, "quality.min_enrichment_coverage": " 0.5 ", "sources.kc_sales.enabled": false, parcel_viewer_url: "" };
    expect(countyChanges(fields, edited, new Set())).toEqual({
      "quality.min_enrichment_coverage": 0.5, "sources.kc_sales.enabled": false });  // an emptied URL: the file's
    expect(countyChanges(fields, { ...form, parcel_viewer_url: " https://x.example/{parcel_id} " }, new Set())).toEqual({
      parcel_viewer_url: "https://x.example/{parcel_id}" });
    // Reset: only an overridden field has anything to give back.
    expect(countyChanges(fields, form, new Set(["quality.max_reject_rate", "parcel_viewer_url"]))).toEqual({
      "quality.max_reject_rate": null });
    // The discovery cron: trimmed text; emptied, given back to the file when overridden.
    const cron = countyFields({ "schedule.cron": "0 6 * * *" }, { "schedule.cron": "0 6 * * *" });
    expect(countyChanges(cron, { "schedule.cron": " 0 7 * * * " }, new Set())).toEqual({ "schedule.cron": "0 7 * * *" });
    expect(countyChanges(cron, { "schedule.cron": "" }, new Set())).toEqual({ "schedule.cron": null });
    // Not a number: sent as typed, for the API to refuse with the field's path.
    expect(countyChanges(fields, { ...form, "quality.max_reject_rate": "lots" }, new Set())).toEqual({
      "quality.max_reject_rate": "lots" });
  });

  it("says how far Dagster's reload of a change got, and nothing once a later change needed none", () => {
    const at = "2026-12-03T06:00:13Z";
    expect(reloadNotice(null, 1)).toBeNull();
    expect(reloadNotice({ requested: false, state: "not_needed", detail: "not needed" }, 1)).toBeNull();
    expect(reloadNotice({ requested: true, state: "pending", version: 2 }, 2)?.text).toMatch(/^Dagster will reload the pipeline/);
    expect(reloadNotice({ requested: true, state: "running", version: 2, started_at: at }, 2)?.text).toMatch(/^Dagster is reloading/);
    expect(reloadNotice({ requested: true, state: "loaded", version: 2, finished_at: at }, 2)).toMatchObject({ warn: false });
    expect(reloadNotice({ requested: true, state: "loaded", version: 2, finished_at: at }, 3)).toBeNull();
    const failed = reloadNotice({ requested: true, state: "failed", version: 2, finished_at: at, detail: "PythonError: boom" }, 3);
    expect(failed?.warn).toBe(true);
    expect(failed?.text).toMatch(/still follow the previous settings.*PythonError: boom$/);
    expect([reloading("pending"), reloading("running"), reloading("failed"), reloading(undefined)]).toEqual([true, true, false, false]);
  });
});
