// The registry's headline figures: which ones, how to say them, and which way is better.
// `share`: the registry records precision_at_top10_pct as a share (0.818) despite its name; shown ×100.
export const HEADLINE: { key: string; label: string; unit: "%" | ""; better: "lower" | "higher" | "one"; share?: boolean }[] = [
  { key: "mdape_pct", label: "MdAPE", unit: "%", better: "lower" },
  { key: "pe10_pct", label: "PE10", unit: "%", better: "higher" },
  { key: "cod", label: "COD", unit: "", better: "lower" },
  { key: "prd", label: "PRD", unit: "", better: "one" },
  { key: "auc", label: "AUC", unit: "", better: "higher" },
  { key: "precision_at_top10_pct", label: "Precision in top 10%", unit: "%", better: "higher", share: true },
  { key: "brier", label: "Brier", unit: "", better: "lower" },
];

export function formatFigure(value: number | undefined, unit: string, share = false): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  if (share && value <= 1) return `${(value * 100).toFixed(1)}${unit}`;
  const digits = Math.abs(value) >= 10 ? 1 : value < 1 && value > -1 ? 3 : 2;
  return `${value.toFixed(digits)}${unit}`;
}

/** "active" once: the status, plus a mark when the flag says more than the status does. */
export function statusLabel(status: string, isActive: boolean): string {
  return isActive && status !== "active" ? `${status} (active)` : status;
}

/** A version's promotion decision in words: "Promoted: <reason>" (the rule's or an admin's reason). */
export function promotionText(promotion: unknown): string {
  const p = promotion as { promote?: boolean; reason?: string } | null | undefined;
  if (!p || typeof p !== "object") return "No promotion decision recorded.";
  return `${p.promote ? "Promoted" : "Not promoted"}${p.reason ? `: ${p.reason}` : ""}`;
}
