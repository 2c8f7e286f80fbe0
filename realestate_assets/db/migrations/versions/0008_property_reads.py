"""The API reads properties: county-scoped row-level security on the public tables it reads, and
the indexes its list query needs (issue #11, properties slice).

* `prospects`, `enrichment` and `scores` are public county data (DESIGN §9): they stay keyed by
  the pipeline's tenant_id for now (usually `default`), and a tenant reads them for the counties
  it subscribes to, whoever wrote them. That rule lives in ONE place, the policy
  `county_subscribed` for the API role: a row is visible when its county is in the current
  tenant's `subscriptions`. ENABLE (not FORCE) row-level security: the pipeline, the table owner,
  is unaffected; the API role gets SELECT only, and no grant on the other public tables.
* Indexes without a leading tenant_id (the API filters on county, not on the writer's tenant):
  scores by county and score (the default sort), prospects by county and id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
COUNTY_SCOPED_TABLES = ("prospects", "enrichment", "scores")
# `= ANY(ARRAY(subquery))`: the subscriptions are read once per query (an InitPlan) and the
# condition is an index condition on county; `IN (subquery)` would filter row by row after a scan.
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")
INDEXES = {
    "ix_scores_county_score": "scores (county, bird_dog_score DESC)",
    "ix_prospects_county_id": "prospects (county, id)",
}


def upgrade() -> None:
    for table in COUNTY_SCOPED_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {API_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY county_subscribed ON {table} FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})")
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {target}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
    for table in COUNTY_SCOPED_TABLES:
        op.execute(f"DROP POLICY county_subscribed ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE SELECT ON {table} FROM {API_ROLE}")
