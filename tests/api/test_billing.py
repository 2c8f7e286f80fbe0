"""Billing through Stripe (api/v1/billing.py, accounts/billing.py) on real PostgreSQL, against a
local server speaking Stripe's REST API (tests/fake_stripe.py) through the real `stripe` SDK, with
webhook events signed by Stripe's own scheme (`t=…,v1=HMAC-SHA256`)."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi.testclient import TestClient

from realestate_assets.accounts.billing import payment_failed_after, plan_after, plan_of_price, subscription_state
from tests.api.helpers_api import Tenant, bearer, login, make_tenant, owner_cursor
from tests.fake_stripe import PRICES, FakeStripe
from tests.fake_stripe import WEBHOOK_SECRET as SECRET

WEBHOOK = "/api/v1/billing/stripe/webhook"
_ids = itertools.count(1)



def free_tenant(database_url: str, label: str) -> Tenant:
    tenant = make_tenant(database_url, label)
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
    return tenant


def owner_of(client: TestClient, tenant: Tenant) -> dict[str, str]:
    return bearer(login(client, tenant.users["owner"]["email"])["access_token"])


def event(kind: str, obj: dict[str, Any], created: int | None = None, event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or f"evt_test{next(_ids)}", "object": "event", "type": kind,
            "api_version": stripe.api_version, "created": created or int(time.time()), "livemode": False,
            "data": {"object": obj}}


def send(client: TestClient, payload: dict[str, Any], secret: str = SECRET, header: str | None = None) -> Any:
    body = json.dumps(payload)
    signature = header if header is not None else stripe.WebhookSignature.generate_signature_header(body, secret)
    return client.post(WEBHOOK, content=body, headers={"Stripe-Signature": signature,
                                                       "Content-Type": "application/json"})


def plan_of(database_url: str, tenant_id: str) -> str:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT plan FROM tenants WHERE id = %s", (tenant_id,))
        return cur.fetchone()[0]


def audit(database_url: str, tenant_id: str, entity: str) -> list[tuple[Any, ...]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT action, actor, before, after, request_id FROM audit_log "
                    "WHERE tenant_id = %s AND entity = %s ORDER BY id", (tenant_id, entity))
        return cur.fetchall()


def checkout(client: TestClient, tenant: Tenant, plan: str = "professional") -> dict[str, Any]:
    made = client.post("/api/v1/billing/checkout", json={"plan": plan}, headers=owner_of(client, tenant))
    assert made.status_code == 201, made.text
    return made.json()


def customer_of(database_url: str, tenant_id: str) -> str:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT customer_id FROM billing_accounts WHERE tenant_id = %s", (tenant_id,))
        return cur.fetchone()[0]


# ---- the rules, directly ---------------------------------------------------------------------

def test_the_plan_follows_the_price_and_an_ended_subscription_is_free() -> None:
    assert plan_of_price("price_ent_month", PRICES) == "enterprise" and plan_of_price("price_x", PRICES) is None
    assert plan_after("active", "price_pro_month", PRICES) == "professional"
    assert plan_after("trialing", "price_ent_month", PRICES) == "enterprise"
    assert plan_after("active", "price_unknown", PRICES) is None  # no plan's price: left as it is
    for ended in ("canceled", "unpaid", "incomplete_expired", "paused"):
        assert plan_after(ended, "price_pro_month", PRICES) == "free"
    for pending in ("past_due", "incomplete"):  # Stripe retries; it ends in unpaid or canceled
        assert plan_after(pending, "price_pro_month", PRICES) is None
    assert plan_after("active", "price_pro_month", PRICES, deleted=True) == "free"


def test_a_failed_payment_is_kept_while_past_due_or_unpaid_and_cleared_by_paying() -> None:
    earlier, now = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC)
    for failing in ("past_due", "unpaid"):
        assert payment_failed_after(failing, earlier, now) == earlier  # the event's time is kept
        assert payment_failed_after(failing, None, now) == now  # the event was lost: learnt now
    for paying in ("active", "trialing"):
        assert payment_failed_after(paying, earlier, now) is None
    for other in ("canceled", "incomplete", "incomplete_expired", "paused", None):
        assert payment_failed_after(other, earlier, now) == earlier and payment_failed_after(other, None, now) is None
    assert payment_failed_after("active", earlier, now, deleted=True) == earlier


def test_subscription_state_reads_the_item_period_and_the_old_top_level_one() -> None:
    new = FakeStripe().subscription("sub_1", "cus_1", "price_pro_month", tenant_id="acme", period_end=1_800_000_000)
    state = subscription_state(new)
    assert (state.price_id, state.customer, state.tenant_hint) == ("price_pro_month", "cus_1", "acme")
    assert state.current_period_end == datetime.fromtimestamp(1_800_000_000, UTC)
    old = {"id": "sub_2", "customer": {"id": "cus_2"}, "status": "active", "current_period_end": 1_700_000_000,
           "items": {"data": [{"plan": {"id": "price_ent_month"}}]}}
    state = subscription_state(old)
    assert (state.price_id, state.customer, state.current_period_end.year) == ("price_ent_month", "cus_2", 2023)


# ---- not configured --------------------------------------------------------------------------

def test_unconfigured_billing_answers_503_after_authorization(client: TestClient, database_url: str) -> None:
    tenant = free_tenant(database_url, "bill-off")
    owner = owner_of(client, tenant)
    for method, path, body in (("GET", "/api/v1/billing", None), ("POST", "/api/v1/billing/checkout",
                                                                  {"plan": "professional"}),
                               ("POST", "/api/v1/billing/portal", None)):
        answer = client.request(method, path, json=body, headers=owner)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == "billing is not configured"
    viewer = bearer(login(client, tenant.users["viewer"]["email"])["access_token"])
    assert client.get("/api/v1/billing", headers=viewer).status_code == 403
    hook = send(client, event("customer.subscription.updated", {"id": "sub_x"}))
    assert hook.status_code == 503 and hook.json()["detail"] == "billing is not configured"
    # Admins keep setting plans as before; the usage route is unchanged.
    assert client.get("/api/v1/usage", headers=owner).json()["plan"] == "free"


# ---- routes ----------------------------------------------------------------------------------

def test_only_owners_and_platform_admins_pay(billed: TestClient, database_url: str) -> None:
    tenant = free_tenant(database_url, "bill-roles")
    for role in ("admin", "analyst", "viewer"):
        who = bearer(login(billed, tenant.users[role]["email"])["access_token"])
        refused = billed.post("/api/v1/billing/checkout", json={"plan": "professional"}, headers=who)
        assert refused.status_code == 403 and "'owner' permission" in refused.json()["detail"], role
        assert refused.headers["content-type"] == "application/problem+json"
    key = billed.post("/api/v1/billing/portal", headers={"X-API-Key": tenant.keys["admin"]})
    assert key.status_code == 403  # an API key never pays, whatever its scope
    me = billed.get("/api/v1/me", headers=owner_of(billed, tenant)).json()
    assert me["permissions"] == ["read", "write", "admin", "owner"]


def test_checkout_creates_the_customer_once_and_answers_stripes_url(billed: TestClient, database_url: str,
                                                                     fake: FakeStripe) -> None:
    tenant = free_tenant(database_url, "bill-co")
    owner = owner_of(billed, tenant)
    view = billed.get("/api/v1/billing", headers=owner).json()
    assert (view["plan"], view["has_customer"], view["subscription_status"]) == ("free", False, None)
    assert {p["name"]: p["purchasable"] for p in view["plans"]} == {"free": False, "professional": True,
                                                                   "enterprise": True}
    assert {q["quota"] for q in view["quotas"]} == {"properties", "api_calls", "emails", "storage"}
    before = len(fake.created("/v1/customers"))

    first = checkout(billed, tenant)
    assert first["url"].startswith("https://checkout.stripe.test/c/pay/cs_test_") and first["id"].startswith("cs_")
    second = checkout(billed, tenant, "enterprise")
    customers = fake.created("/v1/customers")[before:]
    assert len(customers) == 1 and customers[0]["metadata[tenant_id]"] == tenant.id
    assert customers[0]["email"] == tenant.users["owner"]["email"]
    session = fake.sessions[second["id"]]
    form = fake.created("/v1/checkout/sessions")[-1]
    assert session["mode"] == "subscription" and session["client_reference_id"] == tenant.id
    assert form["line_items[0][price]"] == "price_ent_month"
    assert form["subscription_data[metadata][tenant_id]"] == tenant.id
    assert form["success_url"].endswith("/settings?billing=success&session_id={CHECKOUT_SESSION_ID}")
    assert customer_of(database_url, tenant.id) == form["customer"]
    assert billed.get("/api/v1/billing", headers=owner).json()["has_customer"] is True
    assert plan_of(database_url, tenant.id) == "free"  # the plan changes on Stripe's event, not here
    actions = [(a, actor) for a, actor, *_ in audit(database_url, tenant.id, "billing_accounts")]
    assert actions == [("create", tenant.users["owner"]["email"]), ("checkout", tenant.users["owner"]["email"]),
                       ("checkout", tenant.users["owner"]["email"])]

    assert billed.post("/api/v1/billing/checkout", json={"plan": "free"}, headers=owner).status_code == 422
    portal = billed.post("/api/v1/billing/portal", headers=owner)
    assert portal.status_code == 201 and portal.json()["url"].startswith("https://billing.stripe.test/p/session/")
    assert fake.created("/v1/billing_portal/sessions")[-1]["return_url"].endswith("/settings")


def test_portal_without_a_customer_and_a_provider_failure(billed: TestClient, database_url: str,
                                                          fake: FakeStripe) -> None:
    tenant = free_tenant(database_url, "bill-err")
    owner = owner_of(billed, tenant)
    none = billed.post("/api/v1/billing/portal", headers=owner)
    assert none.status_code == 409 and "POST /billing/checkout" in none.json()["detail"]
    fake.fail_next = "/v1/checkout/sessions"
    failed = billed.post("/api/v1/billing/checkout", json={"plan": "professional"}, headers=owner)
    # The SDK retried the 500 (max_network_retries) and the fake answered the retry: a session.
    assert failed.status_code == 201
    fake.fail_next = None
    with owner_cursor(database_url) as cur:  # an unknown customer: Stripe's 400, our 502, nothing kept
        cur.execute("UPDATE billing_accounts SET customer_id = 'cus_gone' WHERE tenant_id = %s", (tenant.id,))
    gone = billed.post("/api/v1/billing/checkout", json={"plan": "professional"}, headers=owner)
    assert gone.status_code == 502 and "No such customer" in gone.json()["detail"]
    assert gone.headers["content-type"] == "application/problem+json"


# ---- the webhook -----------------------------------------------------------------------------

def test_upgrade_replay_change_failed_payment_and_cancel(billed: TestClient, database_url: str,
                                                         fake: FakeStripe) -> None:
    tenant = free_tenant(database_url, "bill-hook")
    owner = owner_of(billed, tenant)
    session = checkout(billed, tenant)
    customer = customer_of(database_url, tenant.id)
    sub_id = f"sub_{tenant.id}"
    fake.subscription(sub_id, customer, "price_pro_month", tenant_id=tenant.id)
    t0 = int(time.time()) - 600
    completed = event("checkout.session.completed", {
        "id": session["id"], "object": "checkout.session", "mode": "subscription", "customer": customer,
        "client_reference_id": tenant.id, "subscription": sub_id, "status": "complete"}, created=t0)

    answer = send(billed, completed)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "id": completed["id"], "type": "checkout.session.completed",
                             "outcome": "plan_changed"}
    assert plan_of(database_url, tenant.id) == "professional"
    assert billed.get("/api/v1/usage", headers=owner).json()["plan"] == "professional"  # the limits follow
    view = billed.get("/api/v1/billing", headers=owner).json()
    assert (view["plan"], view["subscription_status"]) == ("professional", "active")
    assert view["current_period_end"].startswith("2027-01-03")
    [plan_row] = audit(database_url, tenant.id, "tenants")[-1:]
    assert plan_row[0] == "plan" and plan_row[1] == "stripe" and plan_row[4] == completed["id"]
    assert (plan_row[2], plan_row[3]) == ({"plan": "free"}, {"plan": "professional"})

    # A replay (Stripe retries; an attacker resends a captured request) does nothing.
    trail = audit(database_url, tenant.id, "tenants") + audit(database_url, tenant.id, "billing_accounts")
    again = send(billed, completed)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert audit(database_url, tenant.id, "tenants") + audit(database_url, tenant.id, "billing_accounts") == trail
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT tenant, outcome FROM stripe_events WHERE id = %s", (completed["id"],))
        assert cur.fetchall() == [(tenant.id, "plan_changed")]

    upgraded = dict(fake.subscription(sub_id, customer, "price_ent_month"))
    assert send(billed, event("customer.subscription.updated", upgraded, created=t0 + 60)).json()["outcome"] \
        == "plan_changed"
    assert plan_of(database_url, tenant.id) == "enterprise"

    # An older event arriving late is recorded, not applied.
    late = event("customer.subscription.updated", fake.subscription(sub_id, customer, "price_pro_month"),
                 created=t0 + 30)
    assert send(billed, late).json()["outcome"] == "stale" and plan_of(database_url, tenant.id) == "enterprise"

    failed = send(billed, event("invoice.payment_failed", {"id": "in_1", "object": "invoice", "customer": customer},
                                created=t0 + 120))
    assert failed.json()["outcome"] == "recorded" and plan_of(database_url, tenant.id) == "enterprise"
    assert billed.get("/api/v1/billing", headers=owner).json()["payment_failed_at"] is not None
    past_due = fake.subscription(sub_id, customer, "price_ent_month", status="past_due")
    assert send(billed, event("customer.subscription.updated", past_due, created=t0 + 180)).json()["outcome"] \
        == "recorded"
    assert plan_of(database_url, tenant.id) == "enterprise"  # Stripe is retrying the payment
    # The failure's time stays the invoice event's (payment_failed_after), not the status event's.
    failed_at = billed.get("/api/v1/billing", headers=owner).json()["payment_failed_at"]
    assert datetime.fromisoformat(failed_at) == datetime.fromtimestamp(t0 + 120, UTC)
    unpaid = fake.subscription(sub_id, customer, "price_ent_month", status="unpaid")
    assert send(billed, event("customer.subscription.updated", unpaid, created=t0 + 240)).json()["outcome"] \
        == "plan_changed"
    assert plan_of(database_url, tenant.id) == "free"
    assert billed.get("/api/v1/billing", headers=owner).json()["subscription_status"] == "unpaid"


def test_a_deleted_subscription_puts_the_tenant_on_free(billed: TestClient, database_url: str,
                                                        fake: FakeStripe) -> None:
    tenant = free_tenant(database_url, "bill-del")
    checkout(billed, tenant, "enterprise")
    customer = customer_of(database_url, tenant.id)
    sub = fake.subscription(f"sub_{tenant.id}", customer, "price_ent_month", tenant_id=tenant.id)
    t0 = int(time.time()) - 300
    assert send(billed, event("customer.subscription.created", sub, created=t0)).json()["outcome"] == "plan_changed"
    assert plan_of(database_url, tenant.id) == "enterprise"
    # While subscribed, checkout is refused: plan changes go through the portal.
    refused = billed.post("/api/v1/billing/checkout", json={"plan": "professional"}, headers=owner_of(billed, tenant))
    assert refused.status_code == 409 and "billing portal" in refused.json()["detail"]
    # The end of some other (older) subscription of the customer changes nothing.
    old = fake.subscription("sub_older", customer, "price_pro_month", status="canceled")
    assert send(billed, event("customer.subscription.deleted", old, created=t0 + 30)).json()["outcome"] == "ignored"
    assert plan_of(database_url, tenant.id) == "enterprise"
    ended = dict(sub, status="canceled")
    assert send(billed, event("customer.subscription.deleted", ended, created=t0 + 60)).json()["outcome"] \
        == "plan_changed"
    assert plan_of(database_url, tenant.id) == "free"
    actions = [(a, actor) for a, actor, *_ in audit(database_url, tenant.id, "tenants") if a == "plan"]
    assert actions == [("plan", "stripe"), ("plan", "stripe")]
    # Cancelled: a new checkout is allowed again.
    assert billed.post("/api/v1/billing/checkout", json={"plan": "professional"},
                       headers=owner_of(billed, tenant)).status_code == 201


def test_bad_signatures_are_refused_with_400(billed: TestClient, database_url: str) -> None:
    tenant = free_tenant(database_url, "bill-sig")
    forged = event("customer.subscription.updated", {"id": "sub_forged", "object": "subscription",
                                                     "customer": "cus_x", "status": "active",
                                                     "metadata": {"tenant_id": tenant.id},
                                                     "items": {"data": [{"price": {"id": "price_ent_month"}}]}})
    for header in (None, "", "t=1,v1=deadbeef"):
        answer = (send(billed, forged, secret="whsec_not_ours") if header is None
                  else send(billed, forged, header=header))
        assert answer.status_code == 400, header
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"].startswith("Stripe signature not valid")
    old = json.dumps(forged)
    stale = stripe.WebhookSignature.generate_signature_header(old, SECRET, timestamp=int(time.time()) - 3600)
    assert billed.post(WEBHOOK, content=old, headers={"Stripe-Signature": stale}).status_code == 400  # replay window
    assert plan_of(database_url, tenant.id) == "free"
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM stripe_events WHERE id = %s", (forged["id"],))
        assert cur.fetchone()[0] == 0


def test_events_naming_no_tenant_of_ours_are_recorded_unplaced(billed: TestClient, fake: FakeStripe) -> None:
    sub = fake.subscription("sub_stranger", "cus_stranger", "price_pro_month")
    answer = send(billed, event("customer.subscription.updated", sub))
    assert answer.status_code == 200 and answer.json()["outcome"] == "unplaced"
    assert send(billed, event("charge.refunded", {"id": "ch_1"})).json()["outcome"] == "ignored"
    # An event larger than the JSON API's 64 KiB body limit is still taken (the webhooks' 1 MiB).
    big = dict(sub, metadata={"note": "x" * 100_000})
    assert send(billed, event("customer.subscription.updated", big)).json()["outcome"] == "unplaced"
