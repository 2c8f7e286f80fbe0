"""A tenant's plan bought through a billing provider, Stripe (issue #11): what its events mean.

The API (api/v1/billing.py) starts a Stripe Checkout Session for a paid plan (the tenant's Stripe
customer created once and kept in `billing_accounts`, migration 0052) and opens the Billing Portal;
Stripe then tells us what happened through signed webhook events, handled here:

* `checkout.session.completed` — the tenant (the session's `client_reference_id`) gets the
  session's customer and subscription; the subscription is read back from Stripe (the session
  does not carry its price) and applied as below.
* `customer.subscription.created` / `updated` — its status, price and period are recorded; the
  plan follows the price (`plan_after`): active or trialing on a plan's price puts the tenant on
  that plan; unpaid, canceled, incomplete_expired or paused puts it on `free`; past_due and
  incomplete leave the plan as it is (Stripe retries the payment; it ends in unpaid or canceled).
* `customer.subscription.deleted` — `free`.
* `invoice.payment_failed` — recorded (`payment_failed_at`); the plan does not change on it.

What a subscription's status means for a failed payment is one rule, `payment_failed_after`,
shared by the events and reconciliation: active or trialing clears `payment_failed_at` (paid
since); past_due or unpaid (a payment failed: Stripe retries, or gave up) keeps it, or records it
when no `invoice.payment_failed` arrived.

A plan changes only through `quotas.change_plan`, the admin route's own function (audited as
`plan` on `tenants`, actor `stripe`, the event id as request id). Each event is applied once:
its id is claimed in `stripe_events` (ON CONFLICT DO NOTHING) in the transaction that applies it,
so a replayed or retried event does nothing. Events arrive in any order: a subscription event
older than the newest one applied (`event_at`) is recorded and not applied (`stale`), and the end
of a subscription the tenant no longer has (replaced by a newer one) is ignored.

Functions take a psycopg2 cursor whose transaction the caller owns: the webhook's runs as the
tables' owner (an event names a customer, not a tenant), the API's as `reos_api` scoped to the tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from realestate_assets.accounts import quotas, store
from realestate_assets.accounts.roles import Principal
from realestate_assets.db.tenancy import set_tenant
from realestate_assets.db.warehouse import dict_row

log = logging.getLogger(__name__)

PROVIDER = "stripe"
PAYING = frozenset({"active", "trialing"})
# A subscription in these states pays for nothing: the tenant is on the free plan.
ENDED = frozenset({"canceled", "unpaid", "incomplete_expired", "paused"})
# A subscription in these states has an invoice whose payment failed: past_due (Stripe retries it),
# unpaid (the retries are exhausted).
PAYMENT_FAILED = frozenset({"past_due", "unpaid"})
SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted")
HANDLED = ("checkout.session.completed", *SUBSCRIPTION_EVENTS, "invoice.payment_failed")
ACCOUNT_COLUMNS = ("tenant_id, provider, customer_id, subscription_id, price_id, status, current_period_end, "
                   "cancel_at_period_end, payment_failed_at, event_at")
# What the audit trail records of a billing account's change (never a payment detail: there is none).
AUDITED = ("customer_id", "subscription_id", "price_id", "status", "current_period_end", "cancel_at_period_end",
           "payment_failed_at")


# ---- pure rules ------------------------------------------------------------------------------

def plan_of_price(price_id: str | None, prices: Mapping[str, str]) -> str | None:
    """The plan whose Stripe price is `price_id` (prices: plan -> price id), None for another price."""
    return next((name for name, price in prices.items() if price_id and price == price_id), None)


def plan_after(status: str | None, price_id: str | None, prices: Mapping[str, str],
               deleted: bool = False) -> str | None:
    """The plan a subscription in `status` on `price_id` puts its tenant on; None: leave the plan
    as it is (payment pending or retried, or a price that is no plan's)."""
    if deleted or status in ENDED:
        return "free"
    if status in PAYING:
        return plan_of_price(price_id, prices)
    return None


def payment_failed_after(status: str | None, failed_at: datetime | None, at: datetime,
                         deleted: bool = False) -> datetime | None:
    """`payment_failed_at` once a subscription in `status` is applied at `at`, `failed_at` before:
    None when it pays (active, trialing: paid since); when a payment failed (past_due, unpaid) the
    time recorded (the `invoice.payment_failed` event's), else `at` (that event was lost: learnt
    now); otherwise (ended, incomplete) as it was. Pure: the events and reconciliation's one rule."""
    if deleted:
        return failed_at
    if status in PAYING:
        return None
    if status in PAYMENT_FAILED:
        return failed_at or at
    return failed_at


@dataclass(frozen=True)
class SubscriptionState:
    """What we keep of a Stripe subscription object."""

    id: str
    customer: str | None
    status: str | None
    price_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    tenant_hint: str | None  # metadata.tenant_id, set by our checkout


def _id(value: Any) -> str | None:
    """An object reference: an id, or the expanded object's id."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def _time(seconds: Any) -> datetime | None:
    return datetime.fromtimestamp(int(seconds), UTC) if seconds else None


def subscription_state(sub: Mapping[str, Any]) -> SubscriptionState:
    """A subscription object (a webhook's `data.object` or a retrieved one, as a dict). Its price
    and period are its first item's (our checkout makes one); since Stripe API 2025-03-31 the
    period lives on the item, before on the subscription: either is read."""
    items = (sub.get("items") or {}).get("data") or []
    first = items[0] if items else {}
    price = first.get("price") or first.get("plan") or {}
    return SubscriptionState(
        id=sub["id"], customer=_id(sub.get("customer")), status=sub.get("status"), price_id=_id(price),
        current_period_end=_time(first.get("current_period_end") or sub.get("current_period_end")),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        tenant_hint=(sub.get("metadata") or {}).get("tenant_id"))


def stripe_principal(tenant_id: str) -> Principal:
    """Who the audit trail says acted when a provider event changed something."""
    return Principal(tenant_id=tenant_id, permissions=frozenset(), actor=PROVIDER)


# ---- the billing account ---------------------------------------------------------------------

def read_account(cur: Any, tenant_id: str) -> dict[str, Any] | None:
    cur.execute(f"SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE tenant_id = %s", (tenant_id,))
    return dict_row(cur)


def lock_account(cur: Any, tenant_id: str) -> dict[str, Any]:
    """The tenant's billing account, created when it has none, locked until the transaction ends
    (two checkouts at once create one customer; two events at once apply one after the other)."""
    cur.execute("INSERT INTO billing_accounts (tenant_id, provider) VALUES (%s, %s) ON CONFLICT (tenant_id) DO NOTHING",
                (tenant_id, PROVIDER))
    cur.execute(f"SELECT {ACCOUNT_COLUMNS} FROM billing_accounts WHERE tenant_id = %s FOR UPDATE", (tenant_id,))
    row = dict_row(cur)
    assert row is not None
    return row


def audited(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in AUDITED}


def update_account(cur: Any, tenant_id: str, **values: Any) -> dict[str, Any]:
    """Set `values` on the tenant's billing account; the row after."""
    assignments = ", ".join(f"{column} = %s" for column in values)
    cur.execute(f"UPDATE billing_accounts SET {assignments} WHERE tenant_id = %s RETURNING {ACCOUNT_COLUMNS}",
                (*values.values(), tenant_id))
    row = dict_row(cur)
    assert row is not None
    return row


# ---- events ----------------------------------------------------------------------------------

def claim_event(cur: Any, event: Mapping[str, Any]) -> bool:
    """Record the event's id; False when it was recorded before (a replay: do nothing)."""
    cur.execute("INSERT INTO stripe_events (id, type, created, livemode) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                (event["id"], event["type"], _time(event.get("created")) or datetime.now(UTC),
                 bool(event.get("livemode"))))
    return cur.fetchone() is not None


def tenant_of(cur: Any, customer_id: str | None, hint: str | None = None) -> str | None:
    """The tenant whose Stripe customer is `customer_id`, else `hint` (our metadata or
    client_reference_id) when it names an existing tenant; None: not ours. Unscoped (the owner)."""
    if customer_id:
        cur.execute("SELECT tenant_id FROM billing_accounts WHERE customer_id = %s", (customer_id,))
        row = cur.fetchone()
        if row:
            return row[0]
    return hint if hint and store.tenant_exists(cur, hint) else None


def handle_event(cur: Any, event: Mapping[str, Any], prices: Mapping[str, str],
                 fetch_subscription: Callable[[str], Mapping[str, Any]]) -> tuple[str | None, str]:
    """Apply a verified Stripe event once: (tenant it applied to, outcome). `fetch_subscription`
    reads a subscription from Stripe by id (checkout.session.completed does not carry its price).
    Outcomes: duplicate (seen before: nothing done), ignored (a type or mode we do not act on),
    unplaced (no tenant of ours), stale (older than what was applied), recorded, plan_changed."""
    if not claim_event(cur, event):
        return None, "duplicate"
    tenant, outcome = _apply(cur, event, prices, fetch_subscription)
    cur.execute("UPDATE stripe_events SET tenant = %s, outcome = %s WHERE id = %s", (tenant, outcome, event["id"]))
    if outcome == "unplaced":
        log.warning("Stripe event %s (%s) names no tenant of ours: recorded, not applied", event["id"], event["type"])
    return tenant, outcome


def _apply(cur: Any, event: Mapping[str, Any], prices: Mapping[str, str],
           fetch_subscription: Callable[[str], Mapping[str, Any]]) -> tuple[str | None, str]:
    kind = event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    at = _time(event.get("created")) or datetime.now(UTC)
    if kind == "checkout.session.completed":
        if obj.get("mode") != "subscription" or not obj.get("subscription"):
            return None, "ignored"
        tenant = tenant_of(cur, _id(obj.get("customer")), obj.get("client_reference_id")
                           or (obj.get("metadata") or {}).get("tenant_id"))
        if tenant is None:
            return None, "unplaced"
        state = subscription_state(fetch_subscription(_id(obj["subscription"]) or ""))
        return tenant, apply_subscription(cur, tenant, state, at, prices, event["id"], adopt=True)
    if kind in SUBSCRIPTION_EVENTS:
        state = subscription_state(obj)
        tenant = tenant_of(cur, state.customer, state.tenant_hint)
        if tenant is None:
            return None, "unplaced"
        return tenant, apply_subscription(cur, tenant, state, at, prices, event["id"],
                                          deleted=kind == "customer.subscription.deleted")
    if kind == "invoice.payment_failed":
        tenant = tenant_of(cur, _id(obj.get("customer")))
        if tenant is None:
            return None, "unplaced"
        set_tenant(cur, tenant)
        before = lock_account(cur, tenant)
        after = update_account(cur, tenant, payment_failed_at=at)
        store.audit(cur, stripe_principal(tenant), tenant, "payment_failed", "billing_accounts", tenant,
                    before=audited(before), after=audited(after), request_id=event["id"])
        return tenant, "recorded"
    return None, "ignored"


def apply_subscription(cur: Any, tenant: str, state: SubscriptionState, at: datetime, prices: Mapping[str, str],
                       event_id: str, deleted: bool = False, adopt: bool = False) -> str:
    """Record the subscription's state on the tenant's billing account and put the tenant on the
    plan it pays for (`plan_after`, through `quotas.change_plan`). `adopt`: a completed checkout,
    whose subscription becomes the tenant's; otherwise a subscription event about another
    subscription than the tenant's is applied only if it is a live one (a subscription made
    outside our checkout, e.g. in Stripe's dashboard), never its end."""
    set_tenant(cur, tenant)
    before = lock_account(cur, tenant)
    if before["event_at"] is not None and at < before["event_at"]:
        return "stale"
    current = before["subscription_id"]
    if not adopt and current and current != state.id and (deleted or state.status in ENDED):
        return "ignored"  # an old subscription ending: the tenant pays through its newer one
    after = update_account(
        cur, tenant, customer_id=before["customer_id"] or state.customer, subscription_id=state.id,
        price_id=state.price_id, status="canceled" if deleted else state.status,
        current_period_end=state.current_period_end, cancel_at_period_end=state.cancel_at_period_end,
        payment_failed_at=payment_failed_after(state.status, before["payment_failed_at"], at, deleted=deleted),
        event_at=max(at, before["event_at"]) if before["event_at"] else at)
    who = stripe_principal(tenant)
    store.audit(cur, who, tenant, "update", "billing_accounts", tenant, before=audited(before),
                after=audited(after), request_id=event_id)
    plan = plan_after(state.status, state.price_id, prices, deleted=deleted)
    if plan is None:
        if state.status in PAYING:
            log.warning("Stripe subscription %s of %s is on price %s, which is no plan's (STRIPE_PRICE_<PLAN>): "
                        "the plan is left as it is", state.id, tenant, state.price_id)
        return "recorded"
    changed = quotas.change_plan(cur, who, tenant, plan, request_id=event_id)
    return "plan_changed" if changed and changed[0] != changed[1] else "recorded"


# ---- the provider's client (one factory: the API, `reos billing reconcile`, the daily job) ----

def price_ids_from(environ: Mapping[str, str]) -> dict[str, str]:
    """The Stripe price id of each paid plan (accounts/plans.py) from `STRIPE_PRICE_<PLAN>`, e.g.
    STRIPE_PRICE_PROFESSIONAL=price_…; a plan without one cannot be bought through checkout."""
    from realestate_assets.accounts.plans import PLANS

    return {name: environ[f"STRIPE_PRICE_{name.upper()}"].strip() for name in PLANS
            if (environ.get(f"STRIPE_PRICE_{name.upper()}") or "").strip()}


@dataclass(frozen=True)
class StripeSettings:
    """Billing's settings from the environment: STRIPE_API_KEY (unset: billing is not configured),
    STRIPE_WEBHOOK_SECRET, STRIPE_PRICE_<PLAN>, STRIPE_API_BASE (another server speaking Stripe's
    REST API). The API's ApiSettings fills its stripe_* fields from here."""

    api_key: str | None
    webhook_secret: str | None
    prices: dict[str, str]
    api_base: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StripeSettings:
        return cls(api_key=environ.get("STRIPE_API_KEY") or None,
                   webhook_secret=environ.get("STRIPE_WEBHOOK_SECRET") or None,
                   prices=price_ids_from(environ), api_base=environ.get("STRIPE_API_BASE") or None)

    @property
    def configured(self) -> bool:
        return bool(self.api_key)


def stripe_client(api_key: str | None, api_base: str | None) -> Any:
    """A `stripe.StripeClient` (on `api_base` when set), None without a key: billing is then not
    configured. Two network retries (the SDK adds idempotency keys to retried POSTs)."""
    if not api_key:
        return None
    import stripe

    base = {"api": api_base.rstrip("/")} if api_base else None
    return stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2)  # type: ignore[arg-type]


# ---- reconciliation: what Stripe says now, for events that never arrived ----------------------

RECORDED = ("subscription_id", "price_id", "status", "current_period_end", "cancel_at_period_end",
            "payment_failed_at")
# Stripe's largest page of a list; `reconcile` reads every page (`auto_paging_iter`).
PAGE_LIMIT = 100


@dataclass(frozen=True)
class Reconciled:
    """One tenant's reconciliation: unchanged, changed (plan_before -> plan_after; `fields`: what
    the billing account corrected) or error (`detail`: why; the tenant is left as it was)."""

    tenant_id: str
    customer_id: str
    outcome: str
    plan_before: str | None = None
    plan_after: str | None = None
    fields: tuple[str, ...] = ()
    detail: str = ""


def deciding_subscription(subscriptions: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Of a customer's subscriptions (every status), the one its plan follows: the newest
    (`created`) that has not ended — a live one pays, whatever older or newer ones ended —, else
    the newest ended one (its end is the last word). None: the customer never subscribed. Pure."""
    def newest(subs: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        return max(subs, key=lambda s: int(s.get("created") or 0), default=None)

    return newest([s for s in subscriptions if s.get("status") not in ENDED]) or newest(subscriptions)


def drift(account: Mapping[str, Any], state: SubscriptionState, plan: str,
          prices: Mapping[str, str], at: datetime) -> tuple[str, ...]:
    """What differs between the billing account (and the tenant's `plan`) and the subscription
    Stripe has now (read at `at`): the recorded fields — `payment_failed_at` by the events' rule,
    `payment_failed_after`, so a failed payment already recorded is not moved —, and `plan` when
    the subscription puts the tenant on another. Empty: nothing to apply (a second reconciliation
    finds this). Pure."""
    now = {"subscription_id": state.id, "price_id": state.price_id, "status": state.status,
           "current_period_end": state.current_period_end, "cancel_at_period_end": state.cancel_at_period_end,
           "payment_failed_at": payment_failed_after(state.status, account.get("payment_failed_at"), at)}
    fields = tuple(name for name in RECORDED if account.get(name) != now[name])
    target = plan_after(state.status, state.price_id, prices)
    return fields + (("plan",) if target is not None and target != plan else ())


def billing_customers(cur: Any, tenant_id: str | None = None) -> list[tuple[str, str]]:
    """(tenant, Stripe customer) of every billing account with a customer (or of `tenant_id`'s).
    Unscoped: the tables' owner."""
    cur.execute("SELECT tenant_id, customer_id FROM billing_accounts WHERE customer_id IS NOT NULL "
                "AND (%s::text IS NULL OR tenant_id = %s) ORDER BY tenant_id", (tenant_id, tenant_id))
    return [(row[0], row[1]) for row in cur.fetchall()]


def reconcile_tenant(cur: Any, tenant_id: str, customer_id: str, subscriptions: list[Mapping[str, Any]],
                     prices: Mapping[str, str], run_id: str, at: datetime) -> Reconciled:
    """Apply what Stripe says now of the customer's subscriptions (read at `at`) as a webhook
    event would: `apply_subscription`, audited as actor `stripe` with `run_id` as request id. Only
    when something differs (`drift`), so a second run writes nothing. The caller owns the
    transaction (a dry run rolls it back)."""
    plan = quotas.tenant_plan(cur, tenant_id).name
    chosen = deciding_subscription(subscriptions)
    if chosen is None:
        return Reconciled(tenant_id, customer_id, "unchanged", plan, plan, detail="no subscription in Stripe")
    state = subscription_state(chosen)
    set_tenant(cur, tenant_id)
    account = lock_account(cur, tenant_id)
    differs = drift(account, state, plan, prices, at)
    if not differs:
        return Reconciled(tenant_id, customer_id, "unchanged", plan, plan)
    # The read is newer than every event Stripe sent before it: `at` is its time, so an older
    # event delivered afterwards is stale, as it would be after a newer event.
    outcome = apply_subscription(cur, tenant_id, state, at, prices, run_id)
    after = quotas.tenant_plan(cur, tenant_id).name
    if outcome in ("stale", "ignored"):  # an event newer than now applied, or an old subscription's end
        return Reconciled(tenant_id, customer_id, "unchanged", plan, after, detail=f"{outcome}: {state.id}")
    return Reconciled(tenant_id, customer_id, "changed", plan, after, fields=differs, detail=state.id)


def reconcile(warehouse: Any, client: Any, prices: Mapping[str, str], run_id: str, *,
              tenant_id: str | None = None, dry_run: bool = False,
              clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Reconciled]:
    """Every billing account with a Stripe customer (or `tenant_id`'s): its subscriptions read from
    Stripe (every status: a cancellation too; every page, the SDK's `auto_paging_iter` asking for
    the objects `starting_after` each page's last) and applied (`reconcile_tenant`), one transaction
    per tenant — committed, or rolled back for a dry run — with no connection held while Stripe
    answers. One tenant's failure (Stripe's error, a database error) is logged and reported as its
    `error`; the others go on."""
    with warehouse.transaction() as conn, conn.cursor() as cur:
        customers = billing_customers(cur, tenant_id)
    results = []
    for tenant, customer in customers:
        try:
            listed = client.v1.subscriptions.list(params={"customer": customer, "status": "all",
                                                          "limit": PAGE_LIMIT})
            subscriptions = [sub.to_dict() for sub in listed.auto_paging_iter()]
            at = clock()
            with warehouse.transaction() as conn, conn.cursor() as cur:
                result = reconcile_tenant(cur, tenant, customer, subscriptions, prices, run_id, at)
                if dry_run:
                    conn.rollback()
        except Exception as exc:  # one tenant's failure never stops the others
            log.exception("billing reconcile %s: tenant %s (customer %s) failed", run_id, tenant, customer)
            result = Reconciled(tenant, customer, "error", detail=f"{type(exc).__name__}: {exc}"[:300])
        results.append(result)
    return results


def reconcile_summary(results: list[Reconciled]) -> dict[str, int]:
    return {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in ("unchanged", "changed", "error")}


def describe(result: Reconciled, dry_run: bool = False) -> str:
    """One line per tenant, as the CLI and the job's log print it."""
    if result.outcome == "error":
        return f"{result.tenant_id}: error — {result.detail}"
    if result.outcome == "changed":
        return (f"{result.tenant_id}: {'would change' if dry_run else 'changed'} {result.plan_before} → "
                f"{result.plan_after} "
                f"({', '.join(result.fields)}; {result.detail})")
    return f"{result.tenant_id}: unchanged ({result.plan_after}{'; ' + result.detail if result.detail else ''})"
