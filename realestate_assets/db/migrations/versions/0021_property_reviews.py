"""The property detail page and the list's review workflow (issue #12):

* `property_reviews`: a tenant's "reviewed" mark on a property (bulk action of the properties
  table, and the list's `reviewed` filter). Tenant data: the policies every tenant-owned table
  has (migration 0007's `tenant_isolation` and `owner_access`), ENABLE + FORCE. A property is
  named by its natural key (county, prospect_key) like notes, so the mark survives the public
  tables being rebuilt.
* `sales` becomes readable by the API role for the counties the tenant subscribes to (the same
  `county_subscribed` policy as prospects/enrichment/scores, migration 0008): the detail page's
  comparable sales and price history are computed from the county's recorded sales.

Revision ID: 0021
Revises: 0024
Create Date: 2026-12-03
"""

from alembic import op

revision = "0021"
down_revision = "0024"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
TENANT = "current_setting('app.tenant_id', true)"
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")
COMMENTS = {
    "tenant_id": "Tenant whose people marked the property reviewed (tenants.id).",
    "county": "County partition key of the property.",
    "prospect_key": "The property's key within its county (prospects.prospect_key).",
    "user_id": "Account that marked it (users.id); NULL for an API key or once the account is deleted.",
    "reviewed_by": "Who marked it (email or API key prefix), kept when the account goes.",
    "reviewed_at": "When it was marked reviewed (UTC).",
    "created_at": "When the row was first written (UTC, set by the database).",
    "updated_at": "When any value of the row last changed (UTC, kept by a trigger).",
}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE property_reviews (
            tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            county        text NOT NULL,
            prospect_key  text NOT NULL,
            user_id       bigint REFERENCES users (id) ON DELETE SET NULL,
            reviewed_by   text NOT NULL,
            reviewed_at   timestamptz NOT NULL DEFAULT now(),
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, county, prospect_key)
        )""")
    op.execute("CREATE TRIGGER property_reviews_updated_at BEFORE UPDATE ON property_reviews "
               "FOR EACH ROW EXECUTE FUNCTION set_updated_at()")
    for column, text in COMMENTS.items():
        quoted = text.replace("'", "''")
        op.execute(f"COMMENT ON COLUMN property_reviews.{column} IS '{quoted}'")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON property_reviews TO {API_ROLE}")
    op.execute("ALTER TABLE property_reviews ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE property_reviews FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON property_reviews TO {API_ROLE} "
               f"USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")
    scoped = f"coalesce({TENANT}, '') IN ('', tenant_id)"
    op.execute(f"CREATE POLICY owner_access ON property_reviews TO CURRENT_USER USING ({scoped}) "
               f"WITH CHECK ({scoped})")

    op.execute(f"GRANT SELECT ON sales TO {API_ROLE}")
    op.execute("ALTER TABLE sales ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY county_subscribed ON sales FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})")


def downgrade() -> None:
    op.execute("DROP POLICY county_subscribed ON sales")
    op.execute("ALTER TABLE sales DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE SELECT ON sales FROM {API_ROLE}")
    op.execute("DROP TABLE property_reviews")
