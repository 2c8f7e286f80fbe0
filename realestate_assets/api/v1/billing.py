"""Billing (issue #11): a tenant's owners change its plan through Stripe; Stripe's webhook applies it.

* `GET /billing` — the plan, the subscription's status and period end, the plans on sale, and the
  quotas' usage (the same rows as `GET /usage`).
* `POST /billing/checkout {plan}` — a Stripe Checkout Session (mode subscription) for the plan's
  price; the tenant's Stripe customer is created by its first checkout and kept.
* `POST /billing/portal` — a Stripe Billing Portal session (change plan, card, invoices, cancel).
* `POST /billing/stripe/webhook` — Stripe's events, verified (`Stripe-Signature`,
  `stripe.Webhook.construct_event`) and applied once each (accounts/billing.py).

The first three need the `owner` permission (a tenant's owners; a platform admin); without
STRIPE_API_KEY every route answers 503 "billing is not configured" (after authorization: a
principal without the permission still gets its 403), and platform admins set plans as before.
The provider's answers are in Stripe's shapes through its SDK (`stripe.StripeClient`, on
STRIPE_API_BASE when set).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from realestate_assets.accounts import billing, quotas
from realestate_assets.accounts.plans import PLANS, PlanName
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.api.v1.usage import QuotaUsage, quota_rows

log = logging.getLogger(__name__)
router = APIRouter(tags=["billing"])
NOT_CONFIGURED = "billing is not configured"
SIGNATURE_HEADER = "Stripe-Signature"


class BillingPlan(BaseModel):
    name: PlanName
    title: str
    purchasable: bool = Field(description="A Stripe price is configured for it: POST /billing/checkout takes it")
    current: bool = Field(description="The tenant is on it")


class BillingView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tenant_id": "acme", "provider": "stripe", "plan": "professional", "plan_title": "Professional",
        "has_customer": True, "subscription_status": "active", "current_period_end": "2027-01-04T00:00:00Z",
        "cancel_at_period_end": False, "payment_failed_at": None,
        "plans": [{"name": "free", "title": "Free", "purchasable": False, "current": False},
                  {"name": "professional", "title": "Professional", "purchasable": True, "current": True},
                  {"name": "enterprise", "title": "Enterprise", "purchasable": True, "current": False}],
        "quotas": [{"quota": "properties", "unit": "properties", "used": 42, "limit": 1000, "remaining": 958,
                    "exhausted": False, "period": "month", "period_start": "2026-12-01T00:00:00Z",
                    "resets_at": "2027-01-01T00:00:00Z"}]}]})

    tenant_id: str
    provider: Literal["stripe"]
    plan: PlanName
    plan_title: str
    has_customer: bool = Field(description="The tenant has a Stripe customer (a checkout was started): the "
                                           "portal opens")
    subscription_status: str | None = Field(description="Stripe's status of the subscription (active, trialing, "
                                                        "past_due, unpaid, canceled, …); null: none yet")
    current_period_end: datetime | None
    cancel_at_period_end: bool = Field(description="The subscription ends at current_period_end (then: free)")
    payment_failed_at: datetime | None = Field(description="Stripe last reported a failed payment then")
    plans: list[BillingPlan]
    quotas: list[QuotaUsage]


class CheckoutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"plan": "professional"}]})

    plan: PlanName = Field(description="A paid plan with a configured Stripe price")


class BillingRedirect(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "cs_test_a1b2c3", "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3"}]})

    id: str = Field(description="Stripe's session id")
    url: str = Field(description="Where to send the person (Stripe's hosted page)")


class WebhookReceipt(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "received": True, "id": "evt_1Q2w3E", "type": "customer.subscription.updated", "outcome": "plan_changed"}]})

    received: bool
    id: str
    type: str
    outcome: str = Field(description="duplicate (seen before: nothing done), ignored, unplaced (no tenant of "
                                     "ours), stale (older than what was applied), recorded, plan_changed")


def _client(request: Request) -> Any:
    client = request.app.state.reos.stripe
    if client is None:
        raise Problem(503, NOT_CONFIGURED)
    return client


def _base_url(request: Request) -> str:
    """Where the dashboard is: REOS_PUBLIC_BASE_URL, else the address the request came to."""
    return (request.app.state.reos.settings.public_base_url or str(request.base_url)).rstrip("/")


def _provider_error(exc: Exception) -> Problem:
    import stripe

    detail = (exc.user_message if isinstance(exc, stripe.StripeError) else None) or type(exc).__name__
    log.error("Stripe refused a billing request: %s", exc)
    return Problem(502, f"the billing provider did not answer as expected: {detail}")


@router.get("/billing", response_model=BillingView, responses=responses(401, 403, 503),
            summary="The tenant's plan, subscription and usage, and the plans on sale (owner)")
def get_billing(request: Request, ctx: Context = needs("owner")) -> dict[str, Any]:
    _client(request)
    prices = request.app.state.reos.settings.stripe_prices or {}
    now = datetime.now(UTC)
    plan = quotas.tenant_plan(ctx.cur, ctx.tenant_id)
    _, rows = quota_rows(request, ctx, plan, now)
    account = billing.read_account(ctx.cur, ctx.tenant_id) or {}
    return {"tenant_id": ctx.tenant_id, "provider": billing.PROVIDER, "plan": plan.name, "plan_title": plan.title,
            "has_customer": bool(account.get("customer_id")), "subscription_status": account.get("status"),
            "current_period_end": account.get("current_period_end"),
            "cancel_at_period_end": bool(account.get("cancel_at_period_end")),
            "payment_failed_at": account.get("payment_failed_at"),
            "plans": [{"name": p.name, "title": p.title, "purchasable": p.name in prices,
                       "current": p.name == plan.name} for p in PLANS.values()],
            "quotas": rows}


@router.post("/billing/checkout", response_model=BillingRedirect, status_code=201,
             responses=responses(401, 403, 409, 422, 502, 503),
             summary="Start a Stripe Checkout for a paid plan; answers the page to send the owner to (owner)")
def create_checkout(body: CheckoutCreate, request: Request, ctx: Context = needs("owner")) -> dict[str, Any]:
    """The plan changes when Stripe's webhook says the checkout completed, not here. A tenant with
    a live subscription changes or cancels it in the billing portal (409)."""
    client = _client(request)
    prices = request.app.state.reos.settings.stripe_prices or {}
    if body.plan not in prices:
        raise Problem(422, f"the {body.plan} plan is not sold through checkout (no STRIPE_PRICE_{body.plan.upper()}"
                           " configured); a subscription is cancelled, back to free, in the billing portal")
    account = billing.lock_account(ctx.cur, ctx.tenant_id)
    if account["subscription_id"] and account["status"] not in billing.ENDED:
        raise Problem(409, "the workspace has a subscription already: change or cancel it in the billing portal "
                           "(POST /billing/portal)")
    import stripe

    base = _base_url(request)
    try:
        if not account["customer_id"]:
            ctx.cur.execute("SELECT coalesce(s.display_name, t.name) FROM tenants t "
                            "LEFT JOIN tenant_settings s ON s.tenant_id = t.id WHERE t.id = %s", (ctx.tenant_id,))
            name = ctx.cur.fetchone()[0]
            # The idempotency key makes a retry after a failure below (this transaction rolled back,
            # the customer not stored) return the same customer instead of a second one (24 h).
            customer = client.v1.customers.create(
                # The owner who starts it gets Stripe's receipts; a platform admin's own address is not the customer's.
                params={"name": name, "email": ctx.principal.actor if ctx.principal.role == "owner" else None,
                        "metadata": {"tenant_id": ctx.tenant_id}},
                options={"idempotency_key": f"reos-customer-{ctx.tenant_id}"})
            after = billing.update_account(ctx.cur, ctx.tenant_id, customer_id=customer.id)
            ctx.audit("create", "billing_accounts", ctx.tenant_id, before=billing.audited(account),
                      after=billing.audited(after))
            account = after
        session = client.v1.checkout.sessions.create(params={
            "mode": "subscription", "customer": account["customer_id"], "client_reference_id": ctx.tenant_id,
            "line_items": [{"price": prices[body.plan], "quantity": 1}],
            "subscription_data": {"metadata": {"tenant_id": ctx.tenant_id, "plan": body.plan}},
            "metadata": {"tenant_id": ctx.tenant_id, "plan": body.plan},
            "success_url": f"{base}/settings?billing=success&session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base}/settings?billing=cancelled"})
    except stripe.StripeError as exc:
        raise _provider_error(exc) from exc
    ctx.audit("checkout", "billing_accounts", ctx.tenant_id,
              after={"plan": body.plan, "price_id": prices[body.plan], "session_id": session.id})
    return {"id": session.id, "url": session.url}


@router.post("/billing/portal", response_model=BillingRedirect, status_code=201,
             responses=responses(401, 403, 409, 502, 503),
             summary="Open Stripe's billing portal (change or cancel the plan, card, invoices) (owner)")
def create_portal(request: Request, ctx: Context = needs("owner")) -> dict[str, Any]:
    client = _client(request)
    account = billing.read_account(ctx.cur, ctx.tenant_id)
    if not account or not account["customer_id"]:
        raise Problem(409, "the workspace has no billing account yet: start with POST /billing/checkout")
    import stripe

    try:
        session = client.v1.billing_portal.sessions.create(params={
            "customer": account["customer_id"], "return_url": f"{_base_url(request)}/settings"})
    except stripe.StripeError as exc:
        raise _provider_error(exc) from exc
    return {"id": session.id, "url": session.url}


@router.post("/billing/stripe/webhook", response_model=WebhookReceipt, responses=responses(400, 503),
             summary="Stripe's events (signed with STRIPE_WEBHOOK_SECRET): plan changes, cancellations, "
                     "failed payments")
async def stripe_webhook(request: Request) -> dict[str, Any]:
    """No credentials: Stripe signs the body (`Stripe-Signature: t=…,v1=HMAC-SHA256`, five minutes'
    tolerance). Each event id is applied once; a replay answers 200 with outcome `duplicate`. A
    failure while applying answers 5xx and changes nothing, so Stripe retries it."""
    import stripe

    state = request.app.state.reos
    secret = state.settings.stripe_webhook_secret
    client = state.stripe
    if client is None or not secret:
        raise Problem(503, NOT_CONFIGURED)
    raw = await request.body()  # the body limit (body_limits.py) was enforced before this read
    try:
        event = stripe.Webhook.construct_event(raw, request.headers.get(SIGNATURE_HEADER), secret)
    except stripe.SignatureVerificationError as exc:
        raise Problem(400, f"Stripe signature not valid: {exc.user_message or 'no match'}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Problem(400, "body is not a JSON event") from None
    payload = event.to_dict()
    if not isinstance(payload.get("id"), str) or not isinstance(payload.get("type"), str):
        raise Problem(400, "body is not a Stripe event (no id or type)")
    prices = state.settings.stripe_prices or {}

    def fetch_subscription(subscription_id: str) -> dict[str, Any]:
        return client.v1.subscriptions.retrieve(subscription_id).to_dict()

    def apply() -> tuple[str | None, str]:
        # The owner's connection, as the SendGrid webhook's: an event names a customer, not a tenant.
        with state.warehouse.transaction() as conn, conn.cursor() as cur:
            return billing.handle_event(cur, payload, prices, fetch_subscription)

    try:
        _, outcome = await run_in_threadpool(apply)
    except stripe.StripeError as exc:
        raise _provider_error(exc) from exc
    return {"received": True, "id": payload["id"], "type": payload["type"], "outcome": outcome}
