"""Billing that heals itself: once a day, every tenant's Stripe subscriptions are read back and
what a lost event would have changed is applied (accounts/billing.py, `reconcile`).

Stripe retries a webhook event for three days; an endpoint down longer, or a wrong
STRIPE_WEBHOOK_SECRET, would leave a tenant on the wrong plan for good. The `billing_reconcile`
job (one op) does what `reos billing reconcile` does: per tenant with a Stripe customer, unchanged,
changed (from → to) or error, with the run id as the audit's request id. A tenant's error is
logged and counted and the others go on; the run then fails (after all of them), so the failure
alert (sensors/alerts.py) tells an operator.

Billing's settings are the `billing` resource (resources/billing.py: Stripe's key, API base and
the plans' prices, from STRIPE_* through `dg.EnvVar`s), which the op receives.

The schedule runs daily at 04:17 UTC. Like an inactive county's discovery sensor
(sensors/schedules.py), it starts STOPPED when billing is not configured (the same resource, read
when the definitions load, has no API key) and RUNNING when it is; the UI's switch overrides either.
"""

# No `from __future__ import annotations`: Dagster reads the op's parameter annotations to
# inject its resources.
import dagster as dg

from resources import BillingResource, WarehouseResource

JOB_NAME = "billing_reconcile"
SCHEDULE_NAME = "billing_reconcile_daily"
CRON = "17 4 * * *"


@dg.op(description="Read every tenant's Stripe subscriptions and apply what lost webhook events missed.")
def reconcile_billing(context: dg.OpExecutionContext, warehouse: WarehouseResource,
                      billing: BillingResource) -> dg.Output[dict]:
    from realestate_assets.accounts import billing as accounts_billing

    settings = billing.settings()
    if not settings.configured:
        raise dg.Failure("billing is not configured (the billing resource's api_key, STRIPE_API_KEY): nothing "
                         f"to reconcile; stop the {SCHEDULE_NAME} schedule or configure billing")
    run_id = f"reconcile:{context.run_id}"
    results = accounts_billing.reconcile(warehouse.get(), billing.client(), settings.prices, run_id)
    for result in results:
        (context.log.error if result.outcome == "error" else context.log.info)(accounts_billing.describe(result))
    counts = accounts_billing.reconcile_summary(results)
    if counts["error"]:
        raise dg.Failure(f"billing reconcile: {counts['error']} tenant(s) failed (the others were reconciled)",
                         metadata={**counts, "failed": [r.tenant_id for r in results if r.outcome == "error"]})
    return dg.Output(counts, metadata={**counts, "changed_tenants": [
        accounts_billing.describe(r) for r in results if r.outcome == "changed"]})


@dg.job(name=JOB_NAME, description="Billing reconciliation: Stripe's subscriptions applied to tenants' plans "
                                   "(heals webhook events lost beyond Stripe's retries).")
def billing_reconcile_job() -> None:
    reconcile_billing()


def billing_reconcile_schedule(billing: BillingResource) -> dg.ScheduleDefinition:
    """The daily schedule; RUNNING by default only where `billing` (the resource the definitions
    give the job) is configured, read when the definitions load, like the discovery sensors' default."""
    configured = billing.settings().configured
    return dg.ScheduleDefinition(
        name=SCHEDULE_NAME, job=billing_reconcile_job, cron_schedule=CRON, execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if configured else dg.DefaultScheduleStatus.STOPPED,
        description="Daily Stripe reconciliation (`reos billing reconcile`); starts stopped when billing is not "
                    "configured (no STRIPE_API_KEY).")
