"""API calls kept for billing history (issue #11): one row per tenant and UTC day.

* `api_call_days`: the authenticated /api/v1 requests of a tenant's people and keys in a UTC day
  (what api/v1/quota.count_api_call counts). The API adds to it in batches (api/v1/call_ledger.py:
  one upsert per flush for every tenant that made calls since the last one, `calls = calls + n`),
  not one write per request; what a process counted since its last flush is lost if it crashes.
  The daily quota itself is enforced on the rate limiter's counter (Redis or memory), not here.
  Tenant data under row-level security (migration 0007); removed with the tenant.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-03
"""

from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
COMMENTS = {
    "tenant_id": "Tenant whose people and keys made the calls (tenants.id).",
    "day": "The UTC day the calls were made on.",
    "calls": "Authenticated /api/v1 requests counted against the plan that day (refused ones excluded); "
             "written in batches by the API, so it may trail the live count by one flush interval.",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE api_call_days (
            tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            day         date NOT NULL,
            calls       bigint NOT NULL DEFAULT 0 CHECK (calls >= 0),
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, day)
        )
    """)
    op.execute("CREATE TRIGGER api_call_days_updated_at BEFORE UPDATE ON api_call_days "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN api_call_days.{column} IS {_quote(text)}")
    op.execute(f"GRANT SELECT ON api_call_days TO {API_ROLE}")  # the usage route reads; the ledger writes as owner
    op.execute("ALTER TABLE api_call_days ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE api_call_days FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON api_call_days TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON api_call_days TO CURRENT_USER USING ({scoped}) "
               f"WITH CHECK ({scoped})")


def downgrade() -> None:
    op.execute("DROP TABLE api_call_days")
