// The registry's headline figures: which ones, how to say them, and which way is better.
export const HEADLINE: { key: string; label: string; unit: "%" | ""; better: "lower" | "higher" | "one" }[] = [
  { key: "mdape_pct", label: "MdAPE", unit: "%", better: "lower" },
  { key: "pe10_pct", label: "PE10", unit: "%", better: "higher" },
  { key: "cod", label: "COD", unit: "", better: "lower" },
  { key: "prd", label: "PRD", unit: "", better: "one" },
  { key: "auc", label: "AUC", unit: "", better: "higher" },
  { key: "precision_at_top10_pct", label: "Precision@10%", unit: "%", better: "higher" },
  { key: "brier", label: "Brier", unit: "", better: "lower" },
];

export function formatFigure(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  const digits = Math.abs(value) >= 10 ? 1 : value < 1 && value > -1 ? 3 : 2;
  return `${value.toFixed(digits)}${unit}`;
}
