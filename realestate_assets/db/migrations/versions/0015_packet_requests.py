"""Memos on demand (issue #13): the pipeline renders the packets today's email plan sends; a
tenant asks for any other property's memo through the API (`GET /api/v1/properties/{id}/memo`),
which records the request here. A sensor launches the county's `packets` for open requests, the
asset renders them and marks them done. Tenant data under row-level security, like every
tenant-owned table (migration 0007's policies).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
COMMENTS = {
    "id": "Surrogate key (identity), stable for the row's life; not meaningful across databases.",
    "tenant_id": "Tenant that asked for the memo (tenants.id).",
    "county": "County partition key of the property.",
    "prospect_key": "The property's key within its county (prospects.prospect_key).",
    "requested_by": "Who asked (email or API key prefix).",
    "requested_at": "When the memo was last asked for and not yet rendered.",
    "rendered_at": "When the packets step rendered it (NULL: still waiting).",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE packet_requests (
            id            bigserial PRIMARY KEY,
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            county        text NOT NULL,
            prospect_key  text NOT NULL,
            requested_by  text NOT NULL,
            requested_at  timestamptz NOT NULL DEFAULT now(),
            rendered_at   timestamptz,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, county, prospect_key)
        )""")
    op.execute("CREATE TRIGGER packet_requests_updated_at BEFORE UPDATE ON packet_requests "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    op.execute("CREATE INDEX ix_packet_requests_open ON packet_requests (county) WHERE rendered_at IS NULL")
    for column, text in COMMENTS.items():
        quoted = text.replace("'", "''")
        op.execute(f"COMMENT ON COLUMN packet_requests.{column} IS '{quoted}'")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON packet_requests TO {API_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE packet_requests_id_seq TO {API_ROLE}")
    op.execute("ALTER TABLE packet_requests ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE packet_requests FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON packet_requests TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON packet_requests TO CURRENT_USER USING ({scoped}) WITH CHECK ({scoped})")


def downgrade() -> None:
    op.execute("DROP TABLE packet_requests")
