"""Plans and usage (issue #11, plan §8.4): a tenant's plan, and the properties it first received
each month.

* `tenants.plan` names a plan of `realestate_assets/accounts/plans.py` (where the limits are):
  new tenants start on `free`; tenants that exist now move to `enterprise` (unlimited), so a
  workspace in use loses nothing it had. A platform admin changes it (PATCH /api/v1/tenants/{id}).
* `property_receipts`: one row per tenant, calendar month and property the tenant first received
  that month (detail view, memo, packet, alert), unique so that counting is idempotent; the
  `properties` quota is their count. Tenant data under row-level security (migration 0007).
* An index on emails (tenant_id, sent_at) for the `emails` quota (emails sent this month).

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-03
"""

from alembic import op

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
COMMENTS = {
    "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
    "tenant_id": "Tenant that received the property (tenants.id).",
    "period_start": "First day (UTC) of the calendar month the property was received in.",
    "county": "County of the property (public county data).",
    "prospect_key": "The property (prospects.prospect_key within the county).",
    "via": "How it was first received that month: detail (API view), memo (asked for), packet (pipeline), "
           "alert (an email listed it).",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN plan text NOT NULL DEFAULT 'enterprise'")
    op.execute("ALTER TABLE tenants ALTER COLUMN plan SET DEFAULT 'free'")  # existing rows keep enterprise
    op.execute("COMMENT ON COLUMN tenants.plan IS "
               + _quote("The tenant's plan (free, professional, enterprise; limits in accounts/plans.py)."))
    op.execute("""
        CREATE TABLE property_receipts (
            id            bigserial PRIMARY KEY,
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            period_start  date NOT NULL,
            county        text NOT NULL,
            prospect_key  text NOT NULL,
            via           text NOT NULL CHECK (via IN ('detail', 'memo', 'packet', 'alert')),
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, period_start, county, prospect_key)
        )
    """)
    op.execute("CREATE TRIGGER property_receipts_updated_at BEFORE UPDATE ON property_receipts "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN property_receipts.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON property_receipts TO {API_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE property_receipts_id_seq TO {API_ROLE}")
    op.execute("ALTER TABLE property_receipts ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE property_receipts FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON property_receipts TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON property_receipts TO CURRENT_USER USING ({scoped}) "
               f"WITH CHECK ({scoped})")
    op.execute("CREATE INDEX ix_emails_sent ON emails (tenant_id, sent_at) WHERE sent_at IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_emails_sent")
    op.execute("DROP TABLE property_receipts")
    op.execute("ALTER TABLE tenants DROP COLUMN plan")
