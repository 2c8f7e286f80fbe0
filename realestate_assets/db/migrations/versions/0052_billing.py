"""Billing through a provider (Stripe, issue #11): a tenant changes its own plan.

* `billing_accounts`: one row per tenant that ever started a checkout — its Stripe customer
  (created once, by the first checkout), its subscription, the subscription's status and period
  end as the provider's last applied event said, and when a payment last failed. Tenant data under
  row-level security (migration 0007): the API reads and writes the tenant's own row (checkout
  stores the customer); the webhook writes as the tables' owner.
* `stripe_events`: the provider's events already handled, one row per event id, inserted with
  ON CONFLICT DO NOTHING before the event is applied, in the same transaction: a replayed or
  retried event does nothing. Platform data, like the other webhook ledgers' dedup keys: no tenant
  column, not readable by the API role (only the webhook, as the owner, reads and writes it).

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-04
"""

from alembic import op

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
COMMENTS = {
    "billing_accounts": {
        "tenant_id": "Tenant billed (tenants.id).",
        "provider": "Billing provider (stripe).",
        "customer_id": "The provider's customer id (cus_…), created once by the tenant's first checkout.",
        "subscription_id": "The provider's subscription id (sub_…) the plan follows; NULL before the first checkout "
                           "completes.",
        "price_id": "The subscription's price id (price_…) when last applied; the plan is read from it.",
        "status": "The subscription's status as the provider last said (active, trialing, past_due, unpaid, "
                  "canceled, …); NULL before any.",
        "current_period_end": "End of the subscription's current billing period (UTC), as the provider last said.",
        "cancel_at_period_end": "The subscription ends at current_period_end (cancelled in the billing portal).",
        "payment_failed_at": "When the provider last reported a failed invoice payment (UTC); NULL: none since the "
                             "last successful status.",
        "event_at": "Creation time (UTC) of the newest provider event applied to the subscription: an older one "
                    "arriving late is recorded, not applied.",
        "created_at": "When the row was written (UTC, set by the database).",
        "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
    },
    "stripe_events": {
        "id": "The provider's event id (evt_…): each is applied once.",
        "type": "Event type (checkout.session.completed, customer.subscription.updated, …).",
        "created": "When the provider created the event (UTC).",
        "livemode": "The event came from the provider's live mode (false: test mode).",
        "tenant": "Tenant the event was applied to (tenants.id when handled; not a foreign key: the ledger "
                  "outlives a deleted tenant); NULL when it named none of ours.",
        "outcome": "What handling it did (plan_changed, recorded, stale, ignored, unplaced).",
        "received_at": "When the webhook received it (UTC, set by the database).",
    },
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE billing_accounts (
            tenant_id             text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
            provider              text NOT NULL DEFAULT 'stripe',
            customer_id           text UNIQUE,
            subscription_id       text,
            price_id              text,
            status                text,
            current_period_end    timestamptz,
            cancel_at_period_end  boolean NOT NULL DEFAULT false,
            payment_failed_at     timestamptz,
            event_at              timestamptz,
            created_at            timestamptz NOT NULL DEFAULT now(),
            updated_at            timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute("CREATE INDEX ix_billing_accounts_subscription ON billing_accounts (subscription_id)")
    op.execute("CREATE TRIGGER billing_accounts_updated_at BEFORE UPDATE ON billing_accounts "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    op.execute("""
        CREATE TABLE stripe_events (
            id           text PRIMARY KEY,
            type         text NOT NULL,
            created      timestamptz NOT NULL,
            livemode     boolean NOT NULL DEFAULT false,
            tenant       text,
            outcome      text,
            received_at  timestamptz NOT NULL DEFAULT now()
        )
    """)
    for table, columns in COMMENTS.items():
        for column, text in columns.items():
            op.execute(f"COMMENT ON COLUMN {table}.{column} IS {_quote(text)}")
    # The tenant's own row, as quota_notices (0039) and the other tenant tables: the API role sees and
    # writes only the scoped tenant's; the owner (pipeline, webhook) is scoped once it scopes itself.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON billing_accounts TO {API_ROLE}")
    op.execute("ALTER TABLE billing_accounts ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE billing_accounts FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON billing_accounts TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON billing_accounts TO CURRENT_USER USING ({scoped}) "
               f"WITH CHECK ({scoped})")


def downgrade() -> None:
    op.execute("DROP TABLE stripe_events")
    op.execute("DROP TABLE billing_accounts")
