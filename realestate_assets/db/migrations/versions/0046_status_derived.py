"""The public prospect status is derived from the county's rows, no longer stored (issue #17,
docs/scale.md "Seventh round (d)").

`enrichment` and `scores` moved every prospect of the county new → enriched → scored in
`prospects.status`: at a million parcels each move was a million-row UPDATE (55 s), none of it
HOT (status was indexed, the pages full), so every row got an entry in each of the ten prospects
indexes. The status is now read from the rows those stages write anyway
(realestate_assets/db/lifecycle.py PUBLIC_STATUS: a `scores` row → scored, else an `enrichment`
row whose status is `enriched` → enriched, else new).

* `prospects.status` stays (old rows and old readers keep their column) but is no longer
  maintained: new prospects keep its default `new`. Its comment says so.
* `ix_prospects_status` is dropped (no reader) and `ix_prospects_county_key_cover` no longer
  includes status: a prospect's upsert maintains one index less.
* `ix_enrichment_status (county, status)` (its only reader was the status move) becomes
  `ix_enrichment_county_key_cover (county, prospect_key) INCLUDE (status)`: Home's funnel counts
  the derived statuses with merge joins of index-only scans in key order (prospects and scores
  have theirs since 0036) instead of reading the wide enrichment rows.

Downgrade: the old indexes come back and `prospects.status` is set from the rows (as the stages
would have moved it) for the code that reads it again.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-04
"""

from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

STATUS_COMMENT = ("Not maintained since migration 0046 (kept for old readers): the public lifecycle is derived "
                  "from enrichment and scores rows, realestate_assets/db/lifecycle.py PUBLIC_STATUS.")
OLD_STATUS_COMMENT = ("County lifecycle: new, enriched, scored (a tenant's packeted / emailed is derived from its own "
                      "packets and emails, never stored here).")
# PUBLIC_STATUS as of this migration (a migration does not import code that may change later).
DERIVED = ("CASE WHEN s.prospect_key IS NOT NULL THEN 'scored' "
           "WHEN e.status = 'enriched' THEN 'enriched' ELSE 'new' END")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("DROP INDEX ix_prospects_status")
    op.execute("DROP INDEX ix_prospects_county_key_cover")
    op.execute("CREATE INDEX ix_prospects_county_key_cover ON prospects (county, prospect_key) INCLUDE (first_seen_at)")
    op.execute("DROP INDEX ix_enrichment_status")
    op.execute("CREATE INDEX ix_enrichment_county_key_cover ON enrichment (county, prospect_key) INCLUDE (status)")
    op.execute(f"COMMENT ON COLUMN prospects.status IS {_quote(STATUS_COMMENT)}")


def downgrade() -> None:
    op.execute(f"""
        UPDATE prospects p SET status = d.status FROM (
            SELECT p.id, {DERIVED} AS status FROM prospects p
            LEFT JOIN enrichment e ON e.county = p.county AND e.prospect_key = p.prospect_key
            LEFT JOIN scores s ON s.county = p.county AND s.prospect_key = p.prospect_key) AS d
        WHERE p.id = d.id AND p.status IS DISTINCT FROM d.status""")
    op.execute(f"COMMENT ON COLUMN prospects.status IS {_quote(OLD_STATUS_COMMENT)}")
    op.execute("DROP INDEX ix_enrichment_county_key_cover")
    op.execute("CREATE INDEX ix_enrichment_status ON enrichment (county, status)")
    op.execute("DROP INDEX ix_prospects_county_key_cover")
    op.execute("CREATE INDEX ix_prospects_county_key_cover ON prospects (county, prospect_key) "
               "INCLUDE (first_seen_at, status)")
    op.execute("CREATE INDEX ix_prospects_status ON prospects (county, status)")
