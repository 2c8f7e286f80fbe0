"""The county market index the pipeline fitted, stored for the API's market panel (issue #11 × #17).

`GET /properties/{id}/comps` and `/price-history` loaded a county's every sale and fitted its
hedonic index per API process (seconds and about a gigabyte at a million sales). Now the
`features` stage stores the index it fits (`market_indexes`: one row per county — method, first
month, monthly levels, `fitted_at`) and the API reads the comps' candidates near the property by
`ix_sales_location` (the rule's radius box and time window: market/stored.py).

`market_indexes` is public county data like `sales` (DESIGN §9): the API role gets SELECT only,
under the same `county_subscribed` policy (migrations 0008, 0021, 0041). ENABLE, not FORCE: the
pipeline, the table's owner, is unaffected.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-04
"""

from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
SUBSCRIBED = ("county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
              "WHERE s.tenant_id = current_setting('app.tenant_id', true)))")

COMMENTS = {
    "county": "County key (config/counties/<key>.yaml): one fitted index per county.",
    "method": "How the index was fitted (market/index.py HedonicIndex): hedonic (a monthly hedonic regression, "
              "smoothed), median_ppsf (too few sales: median price per sqft by month) or empty (no priced sale).",
    "first_month": "The month (its first day) of levels[1]; NULL when the index is empty.",
    "levels": "Monthly index levels from first_month, one per consecutive month, the first 1.0: a price moves "
              "from one month to another by the ratio of their levels.",
    "fitted_at": "When the features stage stored this fit (UTC): the API's cached comps pools are rebuilt when "
                 "it changes.",
}


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE market_indexes (
            county text PRIMARY KEY,
            method text NOT NULL CHECK (method IN ('hedonic', 'median_ppsf', 'empty')),
            first_month date,
            levels float8[] NOT NULL,
            fitted_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("COMMENT ON TABLE market_indexes IS 'The hedonic index each county''s features stage fitted, "
               "for the API''s market panel (migration 0045).'")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN market_indexes.{column} IS {_quote(text)}")
    op.execute("CREATE INDEX ix_sales_location ON sales (county, latitude, longitude, sale_date)")
    op.execute(f"GRANT SELECT ON market_indexes TO {API_ROLE}")
    op.execute("ALTER TABLE market_indexes ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY county_subscribed ON market_indexes FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})")


def downgrade() -> None:
    op.execute("DROP TABLE market_indexes")
    op.execute("DROP INDEX ix_sales_location")
