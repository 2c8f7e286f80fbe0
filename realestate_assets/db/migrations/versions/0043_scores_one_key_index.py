"""`scores` keeps one index on its county key, not two (issue 17, docs/scale.md "Eighth round: scores").

Migration 0036 added `ix_scores_county_key_cover (county, prospect_key) INCLUDE (bird_dog_score,
updated_at)` beside the unique constraint on the same two columns, so every score row written
paid for two B-tree entries of the same key. The unique constraint now carries the INCLUDE
columns itself: the same uniqueness (INCLUDE columns take no part in it, and `ON CONFLICT
(county, prospect_key)` infers the same index) and the same index-only scans for Home's
analytics, one index fewer to maintain. Measured on a first load of 117,750 score rows (the
25x county, load 9-12): the server's CPU for the COPY 2.5-3.0 → 1.9-2.4 s (5 and 4 runs).

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-04
"""

from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

KEY = "scores_county_prospect_key_key"
COVER = "ix_scores_county_key_cover"


def upgrade() -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {KEY}_new ON scores (county, prospect_key) INCLUDE (bird_dog_score, updated_at)")
    op.execute(f"ALTER TABLE scores DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE scores ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_new")
    op.execute(f"DROP INDEX {COVER}")


def downgrade() -> None:
    op.execute(f"CREATE INDEX {COVER} ON scores (county, prospect_key) INCLUDE (bird_dog_score, updated_at)")
    op.execute(f"CREATE UNIQUE INDEX {KEY}_old ON scores (county, prospect_key)")
    op.execute(f"ALTER TABLE scores DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE scores ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_old")
