import type { Schemas } from "../api/client";

/** What "Why this score" shows. The detail carries the reasons the pipeline stored (memo
 * candidates and the county's top); for any other scored property they are `null` and the
 * reasons route computes them on demand (GET /api/v1/properties/{id}/reasons), asked only then. */
export type ReasonsView =
  | { kind: "reasons"; reasons: string[]; valueFactors: string[]; computed: boolean }
  | { kind: "loading" }
  | { kind: "error"; error: unknown }
  | { kind: "none" };

type StoredReasons = Pick<Schemas["PropertyScore"], "reasons" | "value_factors">;

interface ReasonsQuery {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  data?: Schemas["PropertyReasons"];
}

/** Whether the detail lacks reasons, so the route must be asked. */
export function needsReasons(score: StoredReasons | null): boolean {
  return score !== null && score.reasons == null;
}

function factorTexts(factors: readonly Record<string, unknown>[] | null | undefined): string[] {
  return (factors ?? []).map((f) => f.text).filter((t): t is string => typeof t === "string" && t !== "");
}

/** The view from the detail's score and, when it had none, the route's query. */
export function reasonsView(score: StoredReasons, query: ReasonsQuery | null): ReasonsView {
  if (!needsReasons(score)) {
    const reasons = score.reasons ?? [];
    return reasons.length ? { kind: "reasons", reasons, valueFactors: factorTexts(score.value_factors), computed: false }
      : { kind: "none" };
  }
  if (query === null || query.isPending) return { kind: "loading" };
  if (query.isError || !query.data) return { kind: "error", error: query.error };
  const body = query.data;
  return body.reasons.length
    ? { kind: "reasons", reasons: body.reasons, valueFactors: factorTexts(body.value_factors), computed: body.source === "computed" }
    : { kind: "none" };
}
