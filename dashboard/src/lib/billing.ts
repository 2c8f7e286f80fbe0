// Settings › Usage › billing: what an owner may do about the plan (GET /api/v1/billing). The API
// decides (403 for a non-owner, 503 when billing is not configured, 409 for a checkout while a
// subscription runs); this only offers what it would accept.
import { formatDate } from "./format";

export interface BillingPlan { name: string; title: string; purchasable: boolean; current: boolean }

export interface BillingView {
  plan: string;
  plan_title: string;
  has_customer: boolean;
  subscription_status: string | null;
  current_period_end: string | null;
  cancel_at_period_end: boolean;
  payment_failed_at: string | null;
  plans: BillingPlan[];
}

// A subscription in these states pays for nothing (accounts/billing.py ENDED): a new checkout is taken.
const ENDED = new Set(["canceled", "unpaid", "incomplete_expired", "paused"]);

export function subscribed(view: BillingView): boolean {
  return view.subscription_status !== null && !ENDED.has(view.subscription_status);
}

export interface BillingActions {
  /** Plans a checkout can start (none while a subscription runs: the portal changes it). */
  changeTo: BillingPlan[];
  /** Stripe's billing portal opens (a customer exists). */
  manage: boolean;
  /** One line about the subscription, or null. */
  status: string | null;
}

export function billingActions(view: BillingView): BillingActions {
  const live = subscribed(view);
  return {
    changeTo: live ? [] : view.plans.filter((p) => p.purchasable && !p.current),
    manage: view.has_customer,
    status: statusText(view),
  };
}

function statusText(view: BillingView): string | null {
  const end = view.current_period_end ? formatDate(view.current_period_end) : null;
  if (view.payment_failed_at && view.subscription_status === "past_due")
    return "The last payment failed; Stripe is retrying it. Update the card in Manage billing.";
  if (!view.subscription_status) return null;
  if (view.cancel_at_period_end && end) return `Cancelled: the plan ends on ${end}, then Free.`;
  if (subscribed(view)) return end ? `Subscription ${view.subscription_status}; renews on ${end}.` : `Subscription ${view.subscription_status}.`;
  return `Subscription ${view.subscription_status.replace("_", " ")}: on the Free plan.`;
}
