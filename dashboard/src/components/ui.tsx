import type { ReactNode } from "react";
import { ApiError } from "../api/session";

export function Loading({ label = "Loading" }: { label?: string }) {
  return <p role="status" className="p-4 text-sm text-slate-600">{label}…</p>;
}

export function ErrorBox({ error }: { error: unknown }) {
  const message = error instanceof ApiError
    ? `${error.title}${error.detail ? `: ${error.detail}` : ""}`
    : error instanceof Error ? error.message : "Something went wrong";
  return <p role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900">{message}</p>;
}

/** An honest empty state for what the API does not offer yet. */
export function NotYet({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-300 bg-slate-50 p-4 text-sm text-slate-700">
      <p className="font-semibold">{title}: not available yet</p>
      {children && <p className="mt-1">{children}</p>}
    </div>
  );
}

export function Stat({ label, value, hint }: { label: string; value: ReactNode; hint?: string }) {
  return (
    <div className="card">
      <dt className="label">{label}</dt>
      <dd className="mt-1 text-2xl font-semibold tabular-nums text-slate-900">{value}</dd>
      {hint && <dd className="mt-1 text-xs text-slate-600">{hint}</dd>}
    </div>
  );
}

/** A score as a coloured badge; the number itself carries the meaning (colour is only a cue). */
export function ScoreBadge({ score }: { score: number | null | undefined }) {
  if (score === null || score === undefined) return <span className="text-slate-500">—</span>;
  const tone = score >= 75 ? "bg-emerald-100 text-emerald-900" : score >= 50 ? "bg-amber-100 text-amber-900" : "bg-slate-100 text-slate-800";
  return <span className={`inline-block rounded px-1.5 py-0.5 text-sm font-semibold tabular-nums ${tone}`}>{score.toFixed(1)}</span>;
}
