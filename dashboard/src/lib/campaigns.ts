// Campaign screen logic, kept out of the components so Vitest checks it directly.

export const CAMPAIGN_TYPES = ["new_opportunity", "daily_digest", "weekly_summary", "custom_alert"] as const;
export type CampaignType = (typeof CAMPAIGN_TYPES)[number];
export const MAX_VARIANTS = 4; // A/B/C/D, as the API allows
export const VARIANT_LETTERS = ["A", "B", "C", "D"] as const;

/** The subjects to send: trimmed, blanks dropped, at most four (the API refuses more). */
export function cleanSubjects(subjects: readonly string[]): string[] {
  return subjects.map((s) => s.trim()).filter(Boolean).slice(0, MAX_VARIANTS);
}

/** Personalization tokens the API knows (config_models.PERSONALIZATION_TOKENS). */
export const TOKENS = ["first_name", "name", "county", "state", "parcel_id", "address", "score",
  "estimated_value", "count", "alert", "date"] as const;

/** Tokens in a subject the API would refuse ({cuont}), so the form can say so before sending. */
export function unknownTokens(text: string): string[] {
  const found = [...text.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!);
  return [...new Set(found.filter((t) => !(TOKENS as readonly string[]).includes(t)))];
}

/** "king_wa, cook_il;x" → ["king_wa", "cook_il", "x"]: the form's list fields. */
export function splitList(text: string): string[] {
  return [...new Set(text.split(/[,;|\s]+/).map((s) => s.trim()).filter(Boolean))];
}

export interface SegmentForm {
  counties: string;
  propertyTypes: string;
  campaignTypes: CampaignType[];
  maxMinScore: string;
  emailDomains: string;
}

export const EMPTY_SEGMENT: SegmentForm = { counties: "", propertyTypes: "", campaignTypes: [], maxMinScore: "", emailDomains: "" };

export interface SegmentCriteria {
  counties?: string[];
  property_types?: string[];
  campaign_types?: CampaignType[];
  max_min_score?: number | null;
  email_domains?: string[];
}

/** The segment builder's fields as the API's criteria: empty fields are left out (no condition). */
export function criteriaFromForm(form: SegmentForm): SegmentCriteria {
  const criteria: SegmentCriteria = {};
  const counties = splitList(form.counties);
  const types = splitList(form.propertyTypes);
  const domains = splitList(form.emailDomains);
  if (counties.length) criteria.counties = counties;
  if (types.length) criteria.property_types = types;
  if (form.campaignTypes.length) criteria.campaign_types = [...form.campaignTypes];
  const score = form.maxMinScore.trim() === "" ? null : Number(form.maxMinScore);
  if (score !== null && Number.isFinite(score)) criteria.max_min_score = Math.min(100, Math.max(0, score));
  if (domains.length) criteria.email_domains = domains;
  return criteria;
}

/** A rate 0–1 as a percentage, or a dash when nothing was sent (a 0% of nothing means nothing). */
export function formatRate(rate: number, sent: number): string {
  return sent > 0 ? `${(rate * 100).toFixed(1)}%` : "—";
}

const TERMINAL = new Set(["SUCCESS", "FAILURE", "CANCELED"]);

/** What the send button shows while runs go: "2 of 3 runs finished", or the failure. */
export function progressLabel(runs: readonly { status: string | null }[]): string {
  if (runs.length === 0) return "Not sent through the dashboard yet";
  const done = runs.filter((r) => r.status !== null && TERMINAL.has(r.status)).length;
  const failed = runs.filter((r) => r.status === "FAILURE" || r.status === "CANCELED").length;
  const unknown = runs.filter((r) => r.status === null).length;
  if (unknown === runs.length) return "Run status unavailable (Dagster not reachable)";
  if (done === runs.length) return failed ? `Finished: ${failed} of ${runs.length} runs failed` : "Finished";
  return `${done} of ${runs.length} runs finished`;
}
