"""Scoring: model registry, deal model and vector fields (issue #5).

features gains the registry's financial, listing, owner and location features (NULL where
the data does not support them); scores gains the deal and sale-propensity probabilities and
the version of every model that produced the row; ml_models gains a status and the
promotion decision (why a challenger was or was not activated).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FEATURES = ["sale_count", "assessed_to_market_ratio", "tax_burden_pct", "gross_yield_pct", "cap_rate_est_pct",
            "list_price", "days_on_market", "list_price_to_comps_value", "absentee_owner", "out_of_state_owner",
            "corporate_owner", "years_owned", "tract_median_household_income", "tract_vacancy_rate",
            "tract_median_home_value"]
SCORES = {"deal_probability": "double precision", "sale_probability_12m": "double precision",
          "model_versions": "jsonb NOT NULL DEFAULT '{}'"}
ML_MODELS = {"status": "text NOT NULL DEFAULT 'active' "
                       "CHECK (status IN ('active', 'challenger_rejected', 'retired'))",
             "promotion": "jsonb NOT NULL DEFAULT '{}'", "training_rows": "integer"}


def upgrade() -> None:
    for column in FEATURES:
        op.execute(f"ALTER TABLE features ADD COLUMN {column} double precision")
    for column, kind in SCORES.items():
        op.execute(f"ALTER TABLE scores ADD COLUMN {column} {kind}")
    for column, kind in ML_MODELS.items():
        op.execute(f"ALTER TABLE ml_models ADD COLUMN {column} {kind}")
    op.execute("UPDATE ml_models SET status = CASE WHEN is_active THEN 'active' ELSE 'retired' END")
    op.execute("CREATE UNIQUE INDEX ux_ml_models_one_active ON ml_models (tenant_id, county, model_name) "
               "WHERE is_active")


def downgrade() -> None:
    op.execute("DROP INDEX ux_ml_models_one_active")
    for column in ML_MODELS:
        op.execute(f"ALTER TABLE ml_models DROP COLUMN {column}")
    for column in SCORES:
        op.execute(f"ALTER TABLE scores DROP COLUMN {column}")
    for column in FEATURES:
        op.execute(f"ALTER TABLE features DROP COLUMN {column}")
