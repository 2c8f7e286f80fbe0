"""`prospects` keeps one index on its county key, not two, loses two indexes nothing reads and
the unmaintained `status` column (issue 17, docs/scale.md "Twelfth round: prospects at a million
parcels"). Each B-tree entry is server work on every prospect written: at a million parcels the
first load's COPY took 4.3 s into the bare table and 20 s with its nine indexes (≈2 s per index).

* Migration 0036 added `ix_prospects_county_key_cover (county, prospect_key) INCLUDE (...)`
  beside the unique constraint on the same two columns (0046 left it INCLUDE (first_seen_at)),
  so every prospect written paid for two B-tree entries of the same key. As 0043 did for
  `scores`, the unique constraint now carries the INCLUDE column itself: the same uniqueness
  (INCLUDE columns take no part in it, and `ON CONFLICT (county, prospect_key)` infers the same
  index) and the same index-only scans for Home's summary (prospects side, first_seen_at) and
  the funnel's merge joins, one index fewer per prospect upsert.
* `ix_prospects_address_key (county, address_key)` and `ix_prospects_parcel (county, parcel_id)`
  (0002, re-keyed by 0016) have no reader: matching is done in Python on the county's records
  (discovery/matching.py), every query of `prospects` finds its rows by id, (county, id), the
  county key, price, first seen or the search text, and the joins on parcel id probe `sales`
  (`ix_sales_parcel`), never `prospects`. One index less each per prospect written.
* `prospects.status` has not been maintained since 0046 (every row says `new`; the public status
  is derived, realestate_assets/db/lifecycle.py PUBLIC_STATUS). No code reads it: the API's list,
  export, detail and Home's funnel read the derived status, and the detail, which names every
  prospects column, replaces the stored one with the tenant's. A column that says `new` for a
  scored prospect only misleads a reader of the table, so it goes (with its CHECK constraint).
  Dropping a column only changes the catalog: instant at any size.

Downgrade: the three indexes and the column come back, the column set from the rows as 0046's
downgrade did (for code that reads it again).

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-04
"""

from alembic import op

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None

KEY = "prospects_county_prospect_key_key"
COVER = "ix_prospects_county_key_cover"
UNREAD = {"ix_prospects_address_key": "county, address_key", "ix_prospects_parcel": "county, parcel_id"}
STATUS_COMMENT = ("Not maintained since migration 0046 (kept for old readers): the public lifecycle is derived "
                  "from enrichment and scores rows, realestate_assets/db/lifecycle.py PUBLIC_STATUS.")
# PUBLIC_STATUS as of this migration (a migration does not import code that may change later).
DERIVED = ("CASE WHEN s.prospect_key IS NOT NULL THEN 'scored' "
           "WHEN e.status = 'enriched' THEN 'enriched' ELSE 'new' END")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {KEY}_new ON prospects (county, prospect_key) INCLUDE (first_seen_at)")
    op.execute(f"ALTER TABLE prospects DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE prospects ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_new")
    op.execute(f"DROP INDEX {COVER}")
    for name in UNREAD:
        op.execute(f"DROP INDEX {name}")
    op.execute("ALTER TABLE prospects DROP COLUMN status")


def downgrade() -> None:
    op.execute("ALTER TABLE prospects ADD COLUMN status text NOT NULL DEFAULT 'new' CONSTRAINT prospects_status_check "
               "CHECK (status IN ('new', 'enriched', 'scored', 'packeted', 'emailed'))")
    op.execute(f"""
        UPDATE prospects p SET status = d.status FROM (
            SELECT p.id, {DERIVED} AS status FROM prospects p
            LEFT JOIN enrichment e ON e.county = p.county AND e.prospect_key = p.prospect_key
            LEFT JOIN scores s ON s.county = p.county AND s.prospect_key = p.prospect_key) AS d
        WHERE p.id = d.id AND p.status IS DISTINCT FROM d.status""")
    op.execute(f"COMMENT ON COLUMN prospects.status IS {_quote(STATUS_COMMENT)}")
    op.execute(f"CREATE INDEX {COVER} ON prospects (county, prospect_key) INCLUDE (first_seen_at)")
    for name, columns in UNREAD.items():
        op.execute(f"CREATE INDEX {name} ON prospects ({columns})")
    op.execute(f"CREATE UNIQUE INDEX {KEY}_old ON prospects (county, prospect_key)")
    op.execute(f"ALTER TABLE prospects DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE prospects ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_old")
