// What the dashboard does with the API's live events (/api/v1/ws): which queries to refresh and
// what to tell the person. Pure, so Vitest checks it; components/LiveUpdates.tsx does the I/O.

export type LiveEvent =
  | { kind: "ready"; tenant: string }
  | { kind: "campaign_progress"; campaign: string; county: string; status: string }
  | { kind: "campaign_send"; campaign: string; counties: string[]; run_ids: string[] }
  | { kind: "new_deal"; county: string; prospect_key: string; bird_dog_score: number | null }
  | { kind: "run_finished"; run_id: string; county: string; job: string; status: string; assets: string[]; ended_at: string }
  | { kind: "county_reload"; state: "loaded" | "failed"; counties: string[]; detail: string }
  | { kind: string; [key: string]: unknown };

export interface Reaction {
  /** TanStack Query keys (prefixes) to refetch. */
  invalidate: string[][];
  /** Short messages for the toast region. */
  toasts: string[];
}

/** A batch of events (those of about a second) → one reaction: many new deals make one toast.
 * `muted`: event kinds the person turned off (Settings › Notifications): refreshed, not toasted. */
export function reactTo(events: readonly LiveEvent[], muted: ReadonlySet<string> = new Set()): Reaction {
  const invalidate = new Map<string, string[]>();
  const toasts: string[] = [];
  const sentBy = new Map<string, number>();
  const deals = new Map<string, number>();
  const runs = new Map<string, { county: string; status: string; assets: Set<string> }>();
  for (const e of events) {
    if (e.kind === "campaign_progress") {
      invalidate.set("campaigns", ["campaigns"]);
      invalidate.set("campaign-progress", ["campaign-progress"]);
      if (e.status === "sent") sentBy.set(String(e.campaign), (sentBy.get(String(e.campaign)) ?? 0) + 1);
    } else if (e.kind === "campaign_send") {
      invalidate.set("campaigns", ["campaigns"]);
      if (!muted.has(e.kind)) toasts.push(`Campaign ${String(e.campaign)}: sending started`);
    } else if (e.kind === "new_deal") {
      for (const key of ["properties", "analytics"]) invalidate.set(key, [key]);
      deals.set(String(e.county), (deals.get(String(e.county)) ?? 0) + 1);
    } else if (e.kind === "run_finished") {
      // The pipeline panels (Home, Analytics) and what a run may have changed (properties, scores).
      for (const key of ["analytics", "properties"]) invalidate.set(key, [key]);
      const id = `${String(e.county)}|${String(e.status)}`;
      const run = runs.get(id) ?? { county: String(e.county), status: String(e.status), assets: new Set<string>() };
      for (const asset of Array.isArray(e.assets) ? e.assets : []) run.assets.add(String(asset));
      runs.set(id, run);
    } else if (e.kind === "county_reload") {
      // Dagster's reload after a county change ended: the county settings show how it went. Said
      // aloud only when it failed (the change stays made; the freshness windows do not follow yet).
      invalidate.set("settings-counties", ["settings-counties"]);
      if (e.state === "failed") toasts.push(`Dagster could not reload the pipeline: ${String(e.detail)}`);
    }
  }
  if (!muted.has("campaign_progress")) for (const campaign of sentBy.keys()) toasts.push(`Campaign ${campaign}: emails sent`);
  if (!muted.has("new_deal")) for (const [county, n] of deals) toasts.push(n === 1 ? `New deal in ${county}` : `${n} new deals in ${county}`);
  if (!muted.has("run_finished")) for (const { county, status, assets } of runs.values()) {
    const what = [...assets].sort().join(", ") || "pipeline";
    toasts.push(status === "success" ? `${county}: ${what} updated` : `${county}: run ${status === "failure" ? "failed" : status} (${what})`);
  }
  return { invalidate: [...invalidate.values()], toasts };
}

/** ws:// or wss:// for the page's own origin. */
export function socketUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
}
