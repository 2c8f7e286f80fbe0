import { describe, expect, it } from "vitest";
import { reactTo, socketUrl } from "./live";

describe("live events", () => {
  it("refreshes campaigns on progress and says when emails went out", () => {
    const r = reactTo([
      { kind: "campaign_progress", campaign: "digest", county: "king_wa", status: "sending" },
      { kind: "campaign_progress", campaign: "digest", county: "king_wa", status: "sent" },
      { kind: "campaign_progress", campaign: "digest", county: "cook_il", status: "sent" },
    ]);
    expect(r.invalidate).toEqual([["campaigns"], ["campaign-progress"]]);
    expect(r.toasts).toEqual(["Campaign digest: emails sent"]);
  });

  it("folds many new deals into one toast per county", () => {
    const deal = (county: string, key: string) => ({ kind: "new_deal", county, prospect_key: key, bird_dog_score: 90 });
    const r = reactTo([deal("king_wa", "a"), deal("king_wa", "b"), deal("cook_il", "c")]);
    expect(r.toasts).toEqual(["2 new deals in king_wa", "New deal in cook_il"]);
    expect(r.invalidate).toEqual([["properties"], ["analytics"]]);
  });

  it("refreshes but does not toast what the person muted", () => {
    const deal = { kind: "new_deal", county: "king_wa", prospect_key: "a", bird_dog_score: 90 };
    const send = { kind: "campaign_send", campaign: "digest", counties: ["king_wa"], run_ids: ["r"] };
    const r = reactTo([deal, send], new Set(["new_deal"]));
    expect(r.toasts).toEqual(["Campaign digest: sending started"]);
    expect(r.invalidate).toEqual([["properties"], ["analytics"], ["campaigns"]]);
  });

  it("refreshes the county settings when a reload of the pipeline ends, and says when it failed", () => {
    const loaded = { kind: "county_reload", state: "loaded", counties: ["king_wa"], detail: "code location x reloaded" };
    expect(reactTo([loaded])).toEqual({ invalidate: [["settings-counties"]], toasts: [] });
    const failed = { ...loaded, state: "failed", detail: "code location x did not reload: PythonError" };
    expect(reactTo([failed]).toasts).toEqual(["Dagster could not reload the pipeline: code location x did not reload: PythonError"]);
  });

  it("ignores what it does not know", () => {
    expect(reactTo([{ kind: "ready", tenant: "t" }, { kind: "later_kind" }])).toEqual({ invalidate: [], toasts: [] });
  });

  it("uses the page's origin and scheme", () => {
    expect(socketUrl({ protocol: "https:", host: "deals.example.com" })).toBe("wss://deals.example.com/api/v1/ws");
    expect(socketUrl({ protocol: "http:", host: "127.0.0.1:5173" })).toBe("ws://127.0.0.1:5173/api/v1/ws");
  });
});

describe("run_finished", () => {
  const run = (county: string, status: string, assets: string[]) =>
    ({ kind: "run_finished", run_id: `${county}-${status}`, county, job: "__ASSET_JOB", status, assets, ended_at: "2026-12-03T10:00:00Z" });

  it("refreshes the analytics and properties and says what ran, one toast per county and outcome", () => {
    const r = reactTo([run("king_wa", "success", ["prospects"]), run("king_wa", "success", ["enrichment", "prospects"]),
      run("cook_il", "failure", ["scores"])]);
    expect(r.invalidate).toEqual([["analytics"], ["properties"]]);
    expect(r.toasts).toEqual(["king_wa: enrichment, prospects updated", "cook_il: run failed (scores)"]);
  });
});
