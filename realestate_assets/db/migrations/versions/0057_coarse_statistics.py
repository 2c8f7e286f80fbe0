"""`ANALYZE` samples 3,000 rows, not 30,000, of three pipeline tables whose readers only need coarse
statistics: every analyzed column of `features`, `enrichment` and `prospect_sources` at statistics
target 10 (issue 17, docs/scale.md "Twenty-fifth round (c)").

Every first load of a partition ends with the server's `ANALYZE` of the table it wrote
(`warehouse.refresh_statistics`), on the step's critical path. ANALYZE reads a sample of 300 ×
the largest statistics target among the columns it analyzes (the default 100: 30,000 rows, from
as many pages), then sorts each column's sampled values. So the sample only shrinks when *every*
analyzed column of a table is at a lower target: one column left at the default keeps the
30,000 rows. At 1M (a 212× bench database) `ANALYZE` of these tables took 0.31–0.55 CPU s
(`enrichment`), 0.34–0.49 (`features`), 0.10–0.14 (`prospect_sources`); at target 10 0.02–0.04,
0.02–0.03, 0.01–0.02.

Why coarse statistics are enough, column by column:

* `county` (each table): one value per county, its rows a county's slice. At target 10 the most
  common values list holds the ten largest counties; a county outside it is estimated at the
  average of the rest, which overestimates a small county (hash joins where a nested loop would
  do: the safe side — an underestimate is what made nested loops over 400k rows) and makes
  `refresh_statistics` skip nothing it needs (its test is an estimate *below* half the rows).
* `prospect_key`, `source`, `source_id`, `id`: keys, unique per county (`id` unique): the planner
  needs "unique" (a sample's values all distinct gives it at any size) or the distinct count
  (a few sources). Looked up by equality and joined on; no range of them is estimated.
* `features`, every other column: model inputs read whole by `scores` (the county's slice, or
  by key), `property_vectors` and the memo rows (joined by key). No query filters, groups or
  sorts on them.
* `enrichment.status` (`enriched` / `failed`): the lifecycle's `e.status = 'enriched'`
  (db/lifecycle.py); two values, both in a 10-entry list of most common values.
* `enrichment`'s other columns: read with their row (`features`' read of the slice, the previous
  rows, the property detail, the memo, campaign items); the API's list sorts on four of them
  (`living_sqft`, `year_built`, `last_sale_price`, `last_sale_date`) with no index, so the plan
  is a join and a top-N sort whatever their histograms; their `IS [NOT] NULL` parts are
  estimated from the null fraction, which 3,000 rows give within about a percent.
* `prospect_sources`' other columns (`matched_on`, `created_at`, `updated_at`): written, never read
  by a query that filters on them.

Checked at 1M: every statement the chain ran (from the server's log), the API's list (fifteen sorts
and filters, both lead parts, the export), detail, summary and status counts as its role, on-demand
reasons (1 to 100,000 keys), the market's comps pool, the memo rows and the re-run's upsert and
"no longer produced" delete of each table (a staged 5%): the same plans as at the default target
(each compared with the plans several ANALYZEs at the default give: some API plans alternate
between two shapes there already).

Kept at the default: `sales` (at 30 or 50 the last sale per parcel — scores' inputs, on-demand
reasons, the market's parcel sales — planned an incremental sort instead of a sort: the
distinct parcel count from a smaller sample), `scores` (not decided: its plans outside the
default's set were statements that flip at the default too; its readers filter on
`bird_dog_score` and on `score_breakdown IS NULL`) and `prospects` (the API's list filters and
sorts on its prices and dates, and its trigram index's expression is analyzed with the table).
The payload columns of migration 0055 stay at 0 (skipped).

A column added to one of these tables comes at the default target, which brings the 30,000-row
sample back: add it here (tests/test_payload_statistics.py fails until every live column of
these tables is at 0 or in this list), or keep the table out of the list if a plan needs it.

Downgrade: the columns back to -1 (the default). Neither direction changes a row; the statistics
change at the table's next `ANALYZE`.

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None

TARGET = 10  # a 3,000-row sample (300 × the largest target of a table's analyzed columns)

# table -> its columns at TARGET: every analyzed column (migration 0055's payload columns, at 0,
# are not analyzed). The one list: the test reads it from here.
COARSE_COLUMNS: dict[str, tuple[str, ...]] = {
    "features": (
        "id", "county", "prospect_key", "as_of_date", "use_type", "neighborhood", "latitude", "longitude",
        "age_years", "eff_age_years", "living_sqft", "lot_sqft", "lot_to_building_ratio", "beds", "baths",
        "baths_per_bed", "bldg_grade", "waterfront", "last_sale_price", "last_sale_price_per_sqft",
        "last_sale_price_indexed", "years_since_last_sale", "last_price_to_comps_value", "comps_count",
        "comps_median_price_per_sqft", "comps_value_spread_pct", "market_trend_12m_pct", "created_at", "updated_at",
        "sale_count", "assessed_to_market_ratio", "tax_burden_pct", "gross_yield_pct", "cap_rate_est_pct",
        "list_price", "days_on_market", "list_price_to_comps_value", "absentee_owner", "out_of_state_owner",
        "corporate_owner", "years_owned", "tract_median_household_income", "tract_vacancy_rate",
        "tract_median_home_value",
    ),
    "enrichment": (
        "id", "county", "prospect_key", "as_of_date", "status", "failure_reason", "use_type", "neighborhood",
        "living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "year_built", "effective_year_built",
        "waterfront", "sale_count", "last_sale_price", "last_sale_date", "prior_sale_price", "prior_sale_date",
        "comps_count", "comps_median_price_per_sqft", "comps_estimated_value", "comps_value_spread_pct",
        "market_trend_12m_pct", "created_at", "updated_at", "attom_id", "owner_mailing_address",
        "assessed_value", "market_value", "tax_amount", "tax_year", "avm_value", "avm_low", "avm_high",
        "avm_confidence_score", "avm_fsd", "avm_date", "tract_geoid", "tract_name", "tract_population",
        "tract_median_household_income", "tract_median_home_value", "tract_median_gross_rent",
        "tract_housing_units", "tract_vacant_units", "tract_occupied_units", "tract_owner_occupied_units",
        "tract_renter_occupied_units", "tract_vacancy_rate", "tract_owner_occupied_share",
        "tract_renter_occupied_share", "rent_estimate_monthly", "absentee_owner", "out_of_state_owner",
        "years_owned", "corporate_owner", "trust_owner", "government_owner", "assessed_to_market_ratio",
    ),
    "prospect_sources": (
        "id", "county", "prospect_key", "source", "source_id", "created_at", "updated_at", "matched_on",
    ),
}


def _statistics(target: int) -> None:
    for table, columns in COARSE_COLUMNS.items():
        # One statement per table; SET STATISTICS takes a SHARE UPDATE EXCLUSIVE lock and rewrites nothing.
        op.execute(f'ALTER TABLE "{table}" '
                   + ", ".join(f'ALTER COLUMN "{column}" SET STATISTICS {target}' for column in columns))


def upgrade() -> None:
    _statistics(TARGET)


def downgrade() -> None:
    _statistics(-1)
