import { useId, useState } from "react";
import { formatDateTime, humanize } from "../lib/format";

export interface ProvenanceInfo {
  source?: string;
  fetched_at?: string;
  confidence?: number;
  stale?: boolean;
  conflicts?: unknown;
  [key: string]: unknown;
}

/** Where a value came from, shown on hover and on keyboard focus (the trigger is focusable and
 * the note is its accessible description, so a screen reader reads it too). Escape hides it
 * (WCAG 1.4.13); it opens towards the left, since the source is the table's last column, and
 * never wider than the screen, so it cannot push a phone's page sideways. */
export function Provenance({ info }: { info: ProvenanceInfo | null | undefined }) {
  const id = useId();
  const [dismissed, setDismissed] = useState(false);
  if (!info) return <span className="text-xs text-slate-500">no provenance recorded</span>;
  const text = [
    info.source ? `Source: ${humanize(String(info.source))}` : null,
    info.fetched_at ? `fetched ${formatDateTime(info.fetched_at)}` : null,
    typeof info.confidence === "number" ? `confidence ${(info.confidence * 100).toFixed(0)}%` : null,
    info.stale ? "stale" : null,
    info.conflicts ? "sources disagree" : null,
  ].filter(Boolean).join(" · ");
  return (
    <span className="group relative inline-block" onMouseLeave={() => setDismissed(false)}>
      <button type="button" aria-describedby={id}
        onKeyDown={(e) => { if (e.key === "Escape") setDismissed(true); }}
        onBlur={() => setDismissed(false)}
        className="rounded border border-slate-300 px-1 text-xs text-slate-700 hover:bg-slate-100">
        {info.source ? humanize(String(info.source)) : "source"}{info.stale ? " (stale)" : ""}
      </button>
      <span id={id} role="tooltip"
        className={`pointer-events-none absolute bottom-full right-0 z-20 mb-1 hidden w-64 max-w-[calc(100vw-2rem)] rounded-md bg-slate-900 p-2 text-xs text-white shadow-lg ${dismissed ? "" : "group-hover:block group-focus-within:block"}`}>
        {text}
      </span>
    </span>
  );
}
