"""The API reads `features` for the counties a tenant follows: reasons on demand (issue #11).

`GET /api/v1/properties/{id}/reasons` explains a property whose score has no stored reasons from
its feature row, as `reos explain` and the `scores` asset do. `features` is public county data
(DESIGN §9) like `prospects`, `enrichment`, `scores` and `sales`: the API role gets SELECT only,
under the same `county_subscribed` policy (migrations 0008, 0021). ENABLE, not FORCE: the
pipeline, the table's owner, is unaffected.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-04
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")


def upgrade() -> None:
    op.execute(f"GRANT SELECT ON features TO {API_ROLE}")
    op.execute("ALTER TABLE features ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY county_subscribed ON features FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})")


def downgrade() -> None:
    op.execute("DROP POLICY county_subscribed ON features")
    op.execute("ALTER TABLE features DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE SELECT ON features FROM {API_ROLE}")
