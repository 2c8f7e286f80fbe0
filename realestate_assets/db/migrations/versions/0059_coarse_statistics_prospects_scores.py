"""`ANALYZE` of `prospects` and `scores` samples 3,000 rows, not 30,000: every analyzed column of
both tables, and the trigram index's expression, at statistics target 10 — the rule of migration
0057 (its TARGET, its reasons), extended to the two tables it left undecided (issue 17,
docs/scale.md "Twenty-sixth round (f)").

ANALYZE reads 300 × the largest statistics target among the columns it analyzes, an expression
index's column included: `prospects`' `ix_prospects_search_trgm` (migration 0030) is analyzed with
the table, so it comes down too, or the 30,000 rows stay. At 1M (a 212× bench database, backend CPU
alternated): `prospects` 0.11–0.15 CPU s → 0.00–0.01, `scores` 0.13–0.14 → 0.01–0.02; at 43k
0.04–0.06 → 0.00–0.01 and 0.06–0.07 → 0.00–0.01 (`ANALYZE` alone). Each is on a first load's
critical path (`warehouse.refresh_statistics`): in the 43k chain `scores`' 0.07–0.15 s → 0.007–0.008,
`prospects`' ≈0.05 s either way (not explained: docs/scale.md). A first load's deferred indexes come
back with their expression's target (`warehouse._rebuild_indexes`), or the trigram index's default
would bring the 30,000 rows back.

Why coarse statistics are enough (checked at 1M, below):

* keys and `county`: as in 0057 (unique keys stay unique from any sample; a county outside the ten
  most common values is overestimated, the safe side).
* `prospects`' list filters and sorts (`list_price`, `first_seen_at`, `use_type`, the search
  text): each sort has its own index leading with the county (0030, 0040, 0056), read in order
  and stopped after a page whatever the histogram; the ranges (`min_price`/`max_price`, the new
  deals' week) move an estimate by a few percent, not a plan.
* `scores.bird_dog_score` (`min_score`, the packet threshold of the memo rows, the email items,
  the webhooks and the summary) and `score_breakdown IS NULL` (on-demand reasons' store, from the
  null fraction, which 3,000 rows give within about a percent — JIT planned as before).

Checked at 1M like 0057: 127 statements (the chain's reads of both tables from the server's log,
the API's list as its role — 24 sorts and filters, each lead part, exports, cursor pages, the text
search —, detail, summary, status counts, score distribution, locations, trends, on-demand reasons
for 1 to 100,000 keys, the memo rows, the email items, the new-deal webhook, the search alerts, the
scores audit, the re-run's upsert and "no longer produced" delete of both tables), with listing
prices, a year of first-seen dates and 5% unscored prospects (and as the bench loads them): in 14
ANALYZEs at 10 against 14 at the default, three statements came out of the default's set of plans,
each measured no worse (the list by `-year_built` with status `enriched`, faster; the memo rows
with the last sales hashed, and the list by `-last_sale_date` with status `new`, the same time;
both flip at the default too).

A column added to either table comes at the default target and brings the 30,000-row sample back:
tests/test_coarse_statistics.py fails until it is listed here (or is payload at 0, migration 0055).

Downgrade: the columns and the index's expression back to -1 (the default). Neither direction
changes a row; the statistics change at the table's next `ANALYZE`.

Revision ID: 0059
Revises: 0058
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0059"
down_revision = "0058"
branch_labels = None
depends_on = None


TARGET = 10  # 0057's TARGET (a 3,000-row sample); tests/test_coarse_statistics.py holds them equal

# table -> its columns at TARGET: every analyzed column (0055's payload columns of `scores`,
# `score_components` and `model_versions`, stay at 0). Read by the test with 0057's list.
COARSE_COLUMNS: dict[str, tuple[str, ...]] = {
    "prospects": (
        "id", "county", "prospect_key", "parcel_id", "address", "city", "state", "zip", "latitude", "longitude",
        "use_type", "sources", "first_seen_at", "last_seen_at", "created_at", "updated_at", "unit", "address_key",
        "property_type", "beds", "baths", "living_sqft", "lot_sqft", "year_built", "list_price", "listing_status",
        "list_date", "listing_url", "description", "photos", "owner_name", "owner_mailing_address",
    ),
    "scores": (
        "id", "county", "prospect_key", "as_of_date", "estimated_value", "value_gap_pct", "bird_dog_score",
        "score_rank", "score_breakdown", "model_version", "created_at", "updated_at", "deal_probability",
        "sale_probability_12m", "estimated_value_low", "estimated_value_high",
    ),
}
# Expression indexes analyzed with a listed table: (index, column number). Absent when the server
# had no pg_trgm at migration 0030.
COARSE_INDEX_COLUMNS: tuple[tuple[str, int], ...] = (("ix_prospects_search_trgm", 1),)


def _statistics(target: int) -> None:
    for table, columns in COARSE_COLUMNS.items():
        # One statement per table; SET STATISTICS takes a SHARE UPDATE EXCLUSIVE lock and rewrites nothing.
        op.execute(f'ALTER TABLE "{table}" '
                   + ", ".join(f'ALTER COLUMN "{column}" SET STATISTICS {target}' for column in columns))
    for index, column in COARSE_INDEX_COLUMNS:
        op.execute(f"DO $$ BEGIN IF to_regclass('{index}') IS NOT NULL THEN "
                   f'ALTER INDEX "{index}" ALTER COLUMN {column} SET STATISTICS {target}; END IF; END $$')


def upgrade() -> None:
    _statistics(TARGET)


def downgrade() -> None:
    _statistics(-1)
