"""Billing reconciliation (accounts/billing.reconcile; `reos billing reconcile`; the daily
`billing_reconcile` job): events Stripe stopped retrying, healed by reading the subscriptions back.
Real PostgreSQL, the real `stripe` SDK against tests/fake_stripe.py, webhook events signed with
Stripe's scheme through the API where a test needs the state an earlier event left."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from realestate_assets.accounts import billing
from realestate_assets.accounts.billing import Reconciled, deciding_subscription, drift, subscription_state
from realestate_assets.db.warehouse import Warehouse
from resources import BillingResource
from tests.api.test_billing import (
    audit,
    checkout,
    customer_of,
    event,
    free_tenant,
    owner_of,
    plan_of,
    send,
)
from tests.fake_stripe import API_KEY, PRICES, FakeStripe


def stripe_env(fake: FakeStripe) -> dict[str, str]:
    return {"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": fake.url,
            "STRIPE_PRICE_PROFESSIONAL": PRICES["professional"], "STRIPE_PRICE_ENTERPRISE": PRICES["enterprise"]}


def billing_resource(fake: FakeStripe) -> BillingResource:
    """The job's billing resource, configured as a test does (no environment)."""
    return BillingResource(api_key=API_KEY, api_base=fake.url, prices=PRICES)


def run(warehouse: Warehouse, fake: FakeStripe, run_id: str, **kwargs: Any) -> list[Reconciled]:
    """Reconcile with the client the API's factory makes, from the environment's settings."""
    settings = billing.StripeSettings.from_env(stripe_env(fake))
    return billing.reconcile(warehouse, billing.stripe_client(settings.api_key, settings.api_base), settings.prices,
                             run_id, **kwargs)


def subscribed(billed: TestClient, database_url: str, fake: FakeStripe, label: str) -> tuple[Any, str]:
    """A free tenant whose owner started a checkout (its Stripe customer exists)."""
    tenant = free_tenant(database_url, label)
    checkout(billed, tenant)
    return tenant, customer_of(database_url, tenant.id)


# ---- the rules, directly ---------------------------------------------------------------------

def test_the_deciding_subscription_is_the_newest_live_one_else_the_newest() -> None:
    subs = [{"id": "a", "status": "active", "created": 10}, {"id": "b", "status": "canceled", "created": 30},
            {"id": "c", "status": "past_due", "created": 20}]
    assert deciding_subscription(subs)["id"] == "c"  # type: ignore[index]
    ended = [{"id": "a", "status": "canceled", "created": 10}, {"id": "b", "status": "unpaid", "created": 30}]
    assert deciding_subscription(ended)["id"] == "b"  # type: ignore[index]
    assert deciding_subscription([]) is None


def test_drift_names_what_differs_and_nothing_when_in_step() -> None:
    sub = FakeStripe().subscription("sub_1", "cus_1", "price_ent_month", period_end=1_800_000_000)
    state = subscription_state(sub)
    now = datetime.now(UTC)
    account = {"subscription_id": "sub_1", "price_id": "price_ent_month", "status": "active",
               "current_period_end": datetime.fromtimestamp(1_800_000_000, UTC), "cancel_at_period_end": False,
               "payment_failed_at": None}
    assert drift(account, state, "enterprise", PRICES, now) == ()
    assert drift(account, state, "free", PRICES, now) == ("plan",)
    assert drift({**account, "status": "past_due", "price_id": None}, state, "enterprise", PRICES, now) == \
        ("price_id", "status")
    failed = datetime(2026, 12, 1, tzinfo=UTC)
    pending = subscription_state(dict(sub, status="past_due"))  # Stripe retries: the plan stays
    failing = {**account, "status": "past_due", "payment_failed_at": failed}
    assert drift(failing, pending, "free", PRICES, now) == ()  # the failure recorded stays as it is
    # A lost invoice.payment_failed: the status says a payment failed; paid again: it is cleared.
    assert drift({**failing, "payment_failed_at": None}, pending, "free", PRICES, now) == ("payment_failed_at",)
    assert drift({**account, "payment_failed_at": failed}, state, "enterprise", PRICES, now) == \
        ("payment_failed_at",)


# ---- against Stripe's API and the database ---------------------------------------------------

def test_a_lost_upgrade_is_healed_once(billed: TestClient, database_url: str, fake: FakeStripe,
                                       warehouse: Warehouse) -> None:
    tenant, customer = subscribed(billed, database_url, fake, "rec-up")
    # The checkout completed in Stripe; its events never reached us.
    fake.subscription(f"sub_{tenant.id}", customer, "price_ent_month", tenant_id=tenant.id)
    [result] = run(warehouse, fake, "reconcile:test-1", tenant_id=tenant.id)
    assert (result.outcome, result.plan_before, result.plan_after) == ("changed", "free", "enterprise")
    assert "plan" in result.fields and "subscription_id" in result.fields
    assert plan_of(database_url, tenant.id) == "enterprise"
    [plan_row] = [row for row in audit(database_url, tenant.id, "tenants") if row[0] == "plan"]
    assert plan_row[1] == "stripe" and plan_row[4] == "reconcile:test-1"
    assert (plan_row[2], plan_row[3]) == ({"plan": "free"}, {"plan": "enterprise"})
    # Every status (the default list hides canceled subscriptions), the customer's only.
    assert [q for m, p, q in fake.requests if (m, p) == ("GET", "/v1/subscriptions")][-1] == \
        {"customer": customer, "status": "all", "limit": "100"}

    # Idempotent: a second run finds nothing to apply and writes nothing.
    trail = audit(database_url, tenant.id, "tenants") + audit(database_url, tenant.id, "billing_accounts")
    [again] = run(warehouse, fake, "reconcile:test-2", tenant_id=tenant.id)
    assert (again.outcome, again.plan_after) == ("unchanged", "enterprise")
    assert audit(database_url, tenant.id, "tenants") + audit(database_url, tenant.id, "billing_accounts") == trail


def test_a_lost_cancellation_is_healed_and_older_events_are_then_stale(
        billed: TestClient, database_url: str, fake: FakeStripe, warehouse: Warehouse) -> None:
    tenant, customer = subscribed(billed, database_url, fake, "rec-cancel")
    sub = fake.subscription(f"sub_{tenant.id}", customer, "price_pro_month", tenant_id=tenant.id)
    t0 = int(time.time()) - 600
    assert send(billed, event("customer.subscription.created", sub, created=t0)).json()["outcome"] == "plan_changed"
    assert plan_of(database_url, tenant.id) == "professional"
    # Cancelled in Stripe; the `deleted` event was lost. The default list hides canceled
    # subscriptions: reconciliation asks for every status.
    fake.subscription(sub["id"], customer, "price_pro_month", status="canceled")
    [result] = run(warehouse, fake, "reconcile:test-cancel", tenant_id=tenant.id)
    assert (result.outcome, result.plan_before, result.plan_after) == ("changed", "professional", "free")
    assert result.fields == ("status", "plan")
    assert plan_of(database_url, tenant.id) == "free"
    # An event older than the read, delivered late, is stale as after any newer event.
    late = event("customer.subscription.updated", dict(sub, status="active"), created=t0 + 60)
    assert send(billed, late).json()["outcome"] == "stale" and plan_of(database_url, tenant.id) == "free"


def test_every_page_of_a_customers_subscriptions_is_read(
        billed: TestClient, database_url: str, fake: FakeStripe, warehouse: Warehouse) -> None:
    tenant, customer = subscribed(billed, database_url, fake, "rec-pages")
    # The live subscription is the oldest; after it, more abandoned checkouts than one page holds
    # (each an `incomplete_expired` subscription), listed first (newest first).
    live = fake.subscription(f"sub_{tenant.id}", customer, "price_ent_month", tenant_id=tenant.id)
    for i in range(billing.PAGE_LIMIT + 1):
        fake.subscription(f"sub_{tenant.id}_x{i:03}", customer, "price_pro_month", status="incomplete_expired")
    [result] = run(warehouse, fake, "reconcile:test-pages", tenant_id=tenant.id)
    assert (result.outcome, result.plan_after, result.detail) == ("changed", "enterprise", live["id"])
    assert plan_of(database_url, tenant.id) == "enterprise"
    pages = [q for m, p, q in fake.requests if (m, p) == ("GET", "/v1/subscriptions") and q["customer"] == customer]
    newest_first = sorted(fake.subscriptions.values(), key=lambda s: s["created"], reverse=True)
    assert pages == [{"customer": customer, "status": "all", "limit": "100"},
                     {"customer": customer, "status": "all", "limit": "100",
                      "starting_after": newest_first[billing.PAGE_LIMIT - 1]["id"]}]


def test_a_lost_failed_payment_is_recorded_and_cleared_when_paid(
        billed: TestClient, database_url: str, fake: FakeStripe, warehouse: Warehouse) -> None:
    tenant, customer = subscribed(billed, database_url, fake, "rec-failed")
    sub = fake.subscription(f"sub_{tenant.id}", customer, "price_pro_month", tenant_id=tenant.id)
    t0 = int(time.time()) - 600
    assert send(billed, event("customer.subscription.created", sub, created=t0)).json()["outcome"] == "plan_changed"
    owner = owner_of(billed, tenant)
    # The renewal's payment failed; neither invoice.payment_failed nor the subscription's update arrived.
    fake.subscription(sub["id"], customer, "price_pro_month", status="past_due")
    read_at = datetime.fromtimestamp(t0 + 300, UTC)  # after the event applied (else it is stale)
    [result] = run(warehouse, fake, "reconcile:test-failed", tenant_id=tenant.id, clock=lambda: read_at)
    assert (result.outcome, result.plan_before, result.plan_after) == ("changed", "professional", "professional")
    assert result.fields == ("status", "payment_failed_at")
    view = billed.get("/api/v1/billing", headers=owner).json()
    assert view["subscription_status"] == "past_due" and datetime.fromisoformat(view["payment_failed_at"]) == read_at
    [row] = [row for row in audit(database_url, tenant.id, "billing_accounts") if row[4] == "reconcile:test-failed"]
    assert row[1] == "stripe" and row[2]["payment_failed_at"] is None and row[3]["payment_failed_at"] is not None
    # Still failing the next day: the time recorded stays (nothing to apply).
    [again] = run(warehouse, fake, "reconcile:test-failed-2", tenant_id=tenant.id)
    assert again.outcome == "unchanged"
    assert datetime.fromisoformat(billed.get("/api/v1/billing", headers=owner).json()["payment_failed_at"]) == read_at
    # Paid on a retry (the event lost too): cleared, as an `active` subscription event clears it.
    fake.subscription(sub["id"], customer, "price_pro_month", status="active")
    [paid] = run(warehouse, fake, "reconcile:test-paid", tenant_id=tenant.id)
    assert (paid.outcome, paid.fields) == ("changed", ("status", "payment_failed_at"))
    view = billed.get("/api/v1/billing", headers=owner).json()
    assert (view["subscription_status"], view["payment_failed_at"]) == ("active", None)
    assert plan_of(database_url, tenant.id) == "professional"


def test_in_step_tenants_are_unchanged_and_a_dry_run_changes_nothing(
        billed: TestClient, database_url: str, fake: FakeStripe, warehouse: Warehouse) -> None:
    tenant, customer = subscribed(billed, database_url, fake, "rec-dry")
    [none] = run(warehouse, fake, "reconcile:test-none", tenant_id=tenant.id)  # checkout abandoned
    assert (none.outcome, none.detail) == ("unchanged", "no subscription in Stripe")
    fake.subscription(f"sub_{tenant.id}", customer, "price_pro_month", tenant_id=tenant.id)
    trail = audit(database_url, tenant.id, "tenants") + audit(database_url, tenant.id, "billing_accounts")
    [dry] = run(warehouse, fake, "reconcile:test-dry", tenant_id=tenant.id, dry_run=True)
    assert (dry.outcome, dry.plan_before, dry.plan_after) == ("changed", "free", "professional")  # what it would do
    assert plan_of(database_url, tenant.id) == "free"
    assert audit(database_url, tenant.id, "tenants") + audit(database_url, tenant.id, "billing_accounts") == trail
    [real] = run(warehouse, fake, "reconcile:test-real", tenant_id=tenant.id)
    assert real.outcome == "changed" and plan_of(database_url, tenant.id) == "professional"
    [same] = run(warehouse, fake, "reconcile:test-same", tenant_id=tenant.id)
    assert same.outcome == "unchanged"


def test_one_customers_stripe_error_does_not_stop_the_others(
        billed: TestClient, database_url: str, fake: FakeStripe, warehouse: Warehouse) -> None:
    broken, broken_customer = subscribed(billed, database_url, fake, "rec-500")
    healed, healed_customer = subscribed(billed, database_url, fake, "rec-ok")
    fake.subscription(f"sub_{broken.id}", broken_customer, "price_pro_month", tenant_id=broken.id)
    fake.subscription(f"sub_{healed.id}", healed_customer, "price_pro_month", tenant_id=healed.id)
    fake.failing_customers.add(broken_customer)
    try:
        results = {r.tenant_id: r for r in run(warehouse, fake, "reconcile:test-500")}
    finally:
        fake.failing_customers.discard(broken_customer)
    assert results[broken.id].outcome == "error" and "APIError" in results[broken.id].detail
    assert (results[healed.id].outcome, results[healed.id].plan_after) == ("changed", "professional")
    assert plan_of(database_url, broken.id) == "free" and plan_of(database_url, healed.id) == "professional"
    assert billing.reconcile_summary(list(results.values()))["error"] == 1


# ---- the command line and the daily job ------------------------------------------------------

def test_the_cli_reports_per_tenant_and_exits_1_on_an_error(billed: TestClient, database_url: str,
                                                            fake: FakeStripe) -> None:
    from realestate_assets.cli import app

    tenant, customer = subscribed(billed, database_url, fake, "rec-cli")
    fake.subscription(f"sub_{tenant.id}", customer, "price_ent_month", tenant_id=tenant.id)
    env = {**stripe_env(fake), "DATABASE_URL": database_url, "REOS_ENV": "local"}
    dry = CliRunner().invoke(app, ["billing", "reconcile", "--tenant", tenant.id, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"{tenant.id}: would change free → enterprise" in dry.output
    assert "(dry run: nothing changed): 0 unchanged, 1 changed, 0 error" in dry.output
    assert plan_of(database_url, tenant.id) == "free"
    done = CliRunner().invoke(app, ["billing", "reconcile", "--tenant", tenant.id], env=env)
    assert done.exit_code == 0 and f"{tenant.id}: changed free → enterprise" in done.output
    assert plan_of(database_url, tenant.id) == "enterprise"
    [plan_row] = [row for row in audit(database_url, tenant.id, "tenants") if row[0] == "plan"]
    assert plan_row[4].startswith("reconcile:cli:")
    again = CliRunner().invoke(app, ["billing", "reconcile", "--tenant", tenant.id], env=env)
    assert again.exit_code == 0 and f"{tenant.id}: unchanged (enterprise)" in again.output
    fake.failing_customers.add(customer)
    try:
        failed = CliRunner().invoke(app, ["billing", "reconcile", "--tenant", tenant.id], env=env)
    finally:
        fake.failing_customers.discard(customer)
    assert failed.exit_code == 1 and f"{tenant.id}: error — APIError" in failed.output
    unknown = CliRunner().invoke(app, ["billing", "reconcile", "--tenant", "no-such-tenant"], env=env)
    assert unknown.exit_code == 2 and "has no Stripe customer" in unknown.output
    off = CliRunner().invoke(app, ["billing", "reconcile"], env={**env, "STRIPE_API_KEY": ""})
    assert off.exit_code == 2 and "billing is not configured" in off.output


def test_the_daily_job_reconciles_and_the_schedule_is_off_without_billing(
        billed: TestClient, database_url: str, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from resources import WarehouseResource
    from sensors.billing import billing_reconcile_job, billing_reconcile_schedule

    assert billing_reconcile_schedule(BillingResource()).default_status == dg.DefaultScheduleStatus.STOPPED
    assert billing_reconcile_schedule(billing_resource(fake)).default_status == dg.DefaultScheduleStatus.RUNNING
    # As the definitions build it: the key an EnvVar, read when they load.
    for name in stripe_env(fake):
        monkeypatch.delenv(name, raising=False)
    assert BillingResource.from_env().settings().configured is False
    for name, value in stripe_env(fake).items():
        monkeypatch.setenv(name, value)
    from_env = BillingResource.from_env()
    assert isinstance(from_env.api_key, dg.EnvVar) and from_env.prices == PRICES
    assert billing_reconcile_schedule(from_env).default_status == dg.DefaultScheduleStatus.RUNNING
    monkeypatch.delenv("STRIPE_API_KEY")  # unset since the definitions loaded
    assert billing_reconcile_schedule(from_env).default_status == dg.DefaultScheduleStatus.STOPPED

    tenant, customer = subscribed(billed, database_url, fake, "rec-job")
    fake.subscription(f"sub_{tenant.id}", customer, "price_pro_month", tenant_id=tenant.id)
    # The op takes billing's settings from its resource, not from the process environment.
    result = billing_reconcile_job.execute_in_process(
        resources={"warehouse": WarehouseResource(database_url=database_url), "billing": billing_resource(fake)})
    assert result.success
    assert plan_of(database_url, tenant.id) == "professional"
    [plan_row] = [row for row in audit(database_url, tenant.id, "tenants") if row[0] == "plan"]
    assert plan_row[4] == f"reconcile:{result.run_id}"
    assert result.output_for_node("reconcile_billing")["error"] == 0
    off = billing_reconcile_job.execute_in_process(
        resources={"warehouse": WarehouseResource(database_url=database_url), "billing": BillingResource()},
        raise_on_error=False)
    assert not off.success
