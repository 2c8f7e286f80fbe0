"""Notices before a quota is used up (issue #11): one row per tenant, quota and period noticed.

* `quota_notices`: written when a tenant's usage of a monthly quota (properties, emails) first
  reaches the notice threshold (80 %) in a calendar month; unique on (tenant, quota, period), written
  with ON CONFLICT DO NOTHING before anything is sent, so the owners' and admins' email and the
  `quota.warning` webhook event go once per quota and period whatever re-runs or sensor ticks
  happen (accounts/quota_notices.py). Tenant data under row-level security (migration 0007).

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-03
"""

from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
COMMENTS = {
    "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
    "tenant_id": "Tenant whose quota was nearly used up (tenants.id).",
    "quota": "The quota (properties, emails; accounts/plans.py).",
    "period_start": "First day (UTC) of the period (calendar month) the notice is for.",
    "plan": "The tenant's plan when the notice was sent.",
    "used": "Usage of the quota when the notice was sent.",
    "quota_limit": "The plan's limit of the quota then.",
    "recipients": "How many owners and admins were emailed.",
    "created_at": "When the notice was sent (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE quota_notices (
            id            bigserial PRIMARY KEY,
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            quota         text NOT NULL,
            period_start  date NOT NULL,
            plan          text NOT NULL,
            used          bigint NOT NULL,
            quota_limit   bigint NOT NULL,
            recipients    integer NOT NULL DEFAULT 0,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, quota, period_start)
        )
    """)
    op.execute("CREATE TRIGGER quota_notices_updated_at BEFORE UPDATE ON quota_notices "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN quota_notices.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT ON quota_notices TO {API_ROLE}")
    op.execute("ALTER TABLE quota_notices ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE quota_notices FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON quota_notices TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON quota_notices TO CURRENT_USER USING ({scoped}) "
               f"WITH CHECK ({scoped})")


def downgrade() -> None:
    op.execute("DROP TABLE quota_notices")
