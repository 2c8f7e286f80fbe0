"""`enrichment` keeps one index on its county key, not two (issue 17, docs/scale.md "Twenty-fifth
round (c)").

Migration 0046 added `ix_enrichment_county_key_cover (county, prospect_key) INCLUDE (status)` beside
the unique constraint on the same two columns, for Home's funnel (merge joins of index-only scans
in key order). Every enrichment row written pays two B-tree entries for the same key: on a re-run's
upsert, and on a first load too, whose COPY maintains the indexes row by row (the step's own reader
of the previous rows holds the table, so `warehouse._defer_indexes` cannot take its lock). A
million rows inserted into an empty copy of the table: 6.8–7.3 server CPU s with both key indexes,
5.4–5.5 with the one. As 0043 did for `scores` and 0050 for `prospects`, the unique constraint now
carries the INCLUDE column itself:
the same uniqueness (an INCLUDE column takes no part in it, and `ON CONFLICT (county,
prospect_key)` infers the same index), the same index-only scans for the funnel and the public
status (db/lifecycle.py reads `e.status` by the key), one index fewer.

Downgrade: the plain unique constraint and the covering index as they were.

Revision ID: 0058
Revises: 0057
Create Date: 2026-12-05
"""

from alembic import op

revision = "0058"
down_revision = "0057"
branch_labels = None
depends_on = None

KEY = "enrichment_county_prospect_key_key"
COVER = "ix_enrichment_county_key_cover"


def upgrade() -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {KEY}_new ON enrichment (county, prospect_key) INCLUDE (status)")
    op.execute(f"ALTER TABLE enrichment DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE enrichment ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_new")
    op.execute(f"DROP INDEX {COVER}")


def downgrade() -> None:
    op.execute(f"CREATE INDEX {COVER} ON enrichment (county, prospect_key) INCLUDE (status)")
    op.execute(f"CREATE UNIQUE INDEX {KEY}_old ON enrichment (county, prospect_key)")
    op.execute(f"ALTER TABLE enrichment DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE enrichment ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_old")
