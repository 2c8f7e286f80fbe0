// A county's run-time settings (GET /settings/counties `editable`, `overridden`; PATCH
// /settings/counties/{county}, platform admin): the form's fields and the changes it sends.
// Which paths are editable is the API's (config_models.EDITABLE_COUNTY_FIELDS); this only labels them.
import type { Schemas } from "../api/client";
import { formatDateTime } from "./format";

export type FieldKind = "share" | "url" | "text" | "switch";
export type FormValue = string | boolean;

export interface CountyField {
  path: string;
  label: string;
  kind: FieldKind;
  value: unknown; // effective (file, or the override)
  overridden: boolean;
}

const LABELS: Record<string, [string, FieldKind]> = {
  "quality.max_reject_rate": ["Reject-rate ceiling (share of source rows, 0–1)", "share"],
  "quality.min_enrichment_coverage": ["Enrichment coverage floor (share of prospects, 0–1)", "share"],
  parcel_viewer_url: ["Parcel viewer URL (with {parcel_id})", "url"],
  // Read by the county's discovery sensor at its next evaluation (within a minute).
  "schedule.cron": ["Discovery cron (minute hour day month weekday)", "text"],
  "schedule.timezone": ["Discovery time zone (IANA, e.g. America/Chicago)", "text"],
};

/** A dotted path as a label; a source's switch is named after the source. */
export function fieldOf(path: string): [string, FieldKind] {
  const source = /^sources\.(.+)\.enabled$/.exec(path);
  if (source) return [`Source ${source[1]} enabled`, "switch"];
  return LABELS[path] ?? [path, "url"];
}

export function countyFields(editable: Record<string, unknown>, overridden: Record<string, unknown>): CountyField[] {
  return Object.entries(editable).map(([path, value]) => {
    const [label, kind] = fieldOf(path);
    return { path, label, kind, value, overridden: path in overridden };
  });
}

/** The form's starting values: what the pipeline runs now. */
export function formOf(fields: CountyField[]): Record<string, FormValue> {
  return Object.fromEntries(fields.map((f) => [f.path, f.kind === "switch" ? Boolean(f.value) : f.value == null ? "" : String(f.value)]));
}

/** What a PATCH sends: each value that differs from the effective one (a share as a number; an
 *  unparseable one as typed, for the API to refuse with the field's path), and null for each
 *  overridden field given back to the file (a URL cannot be removed, only changed). */
export function countyChanges(fields: CountyField[], form: Record<string, FormValue>, reset: ReadonlySet<string>): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const f of fields) {
    if (reset.has(f.path)) {
      if (f.overridden) changes[f.path] = null;
      continue;
    }
    const raw = form[f.path];
    let value: unknown = raw;
    if (f.kind === "share") {
      const text = String(raw).trim();
      value = text !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
    } else if (f.kind === "url" || f.kind === "text") {
      value = String(raw).trim();
      // null means "the file's value" to the API: an emptied field gives an override back, nothing more.
      if (value === "") {
        if (f.overridden) changes[f.path] = null;
        continue;
      }
    }
    if (value !== (f.value ?? null)) changes[f.path] = value;
  }
  return changes;
}

/** How a value reads in the read-only list. */
export function showValue(field: CountyField): string {
  if (field.kind === "switch") return field.value ? "on" : "off";
  if (field.kind === "share" && typeof field.value === "number") return `${+(field.value * 100).toFixed(2)}%`;
  return field.value == null || field.value === "" ? "none" : String(field.value);
}

/** A county's `reload` (GET /settings/counties): the code-location reload its latest change of the
 * discovery cron, time zone or activity asked for; Dagster does it after the PATCH has answered. */
export type CountyReload = Schemas["CodeLocationReload"];

/** The reload is still to end (the list is asked again until it has). */
export function reloading(state: string | null | undefined): boolean {
  return state === "pending" || state === "running";
}

/** What the county's settings say about its reload, or null: nothing asked, or a loaded reload of an
 * earlier version (the changes since needed none, so the windows follow the settings shown). */
export function reloadNotice(reload: CountyReload | null | undefined, version: number):
  { text: string; warn: boolean } | null {
  if (!reload?.requested || (reload.state === "loaded" && reload.version !== version)) return null;
  switch (reload.state) {
    case "pending":
      return { text: "Dagster will reload the pipeline so that the tables' freshness windows follow this change…", warn: false };
    case "running":
      return { text: `Dagster is reloading the pipeline (since ${formatDateTime(reload.started_at)}) so that the tables' freshness windows follow this change…`, warn: false };
    case "loaded":
      return { text: `Dagster reloaded the pipeline ${formatDateTime(reload.finished_at)}: the tables' freshness windows follow this change.`, warn: false };
    default:
      return { text: `Dagster could not reload the pipeline (${formatDateTime(reload.finished_at)}): the tables' freshness windows `
        + `still follow the previous settings; the change itself is made, and the next reload retries. ${reload.detail ?? ""}`.trim(), warn: true };
  }
}
