"""The API reads the model registry: `ml_models` joins the public tables a tenant reads for the
counties it subscribes to (the `county_subscribed` policy of migration 0008, the same condition),
SELECT only. Models are public county data (DESIGN §9): activation and training stay with the
pipeline.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")


def upgrade() -> None:
    op.execute(f"GRANT SELECT ON ml_models TO {API_ROLE}")
    op.execute("ALTER TABLE ml_models ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY county_subscribed ON ml_models FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})")


def downgrade() -> None:
    op.execute("DROP POLICY county_subscribed ON ml_models")
    op.execute("ALTER TABLE ml_models DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE SELECT ON ml_models FROM {API_ROLE}")
