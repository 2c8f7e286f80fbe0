// The owner's billing buttons, rendered on the server (Vitest runs in Node), and the rule behind them.
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { billingActions, type BillingView } from "../lib/billing";
import { BillingButtons } from "./BillingButtons";

const plans = [
  { name: "free", title: "Free", purchasable: false, current: true },
  { name: "professional", title: "Professional", purchasable: true, current: false },
  { name: "enterprise", title: "Enterprise", purchasable: true, current: false },
];
const free: BillingView = {
  plan: "free", plan_title: "Free", has_customer: false, subscription_status: null, current_period_end: null,
  cancel_at_period_end: false, payment_failed_at: null, plans,
};
const render = (view: BillingView) => renderToStaticMarkup(createElement(BillingButtons, {
  view, busy: false, error: null, onCheckout: () => {}, onPortal: () => {},
}));

describe("BillingButtons", () => {
  it("offers a checkout for each plan on sale, and no portal before a customer exists", () => {
    const html = render(free);
    expect(html).toContain("Change plan to Professional");
    expect(html).toContain("Change plan to Enterprise");
    expect(html).not.toContain("Change plan to Free");
    expect(html).not.toContain("Manage billing");
  });

  it("sends a subscribed workspace to the portal only, with its renewal date", () => {
    const view: BillingView = {
      ...free, plan: "professional", has_customer: true, subscription_status: "active",
      current_period_end: "2027-01-04T12:00:00Z",
      plans: plans.map((p) => ({ ...p, current: p.name === "professional" })),
    };
    const html = render(view);
    expect(html).not.toContain("Change plan to");
    expect(html).toContain("Manage billing");
    expect(html).toContain("renews on Jan 4, 2027");
  });

  it("takes a new checkout once the subscription ended, and says a failed payment is retried", () => {
    const ended = { ...free, has_customer: true, subscription_status: "canceled" };
    expect(billingActions(ended).changeTo.map((p) => p.name)).toEqual(["professional", "enterprise"]);
    expect(billingActions(ended).status).toBe("Subscription canceled: on the Free plan.");
    const failing = { ...free, has_customer: true, subscription_status: "past_due", payment_failed_at: "2026-12-04T10:00:00Z" };
    expect(billingActions(failing).changeTo).toEqual([]);
    expect(billingActions(failing).status).toContain("Stripe is retrying");
  });

  it("renders nothing when nothing is on sale and there is no customer", () => {
    expect(render({ ...free, plans: plans.map((p) => ({ ...p, purchasable: false })) })).toBe("");
  });
});
