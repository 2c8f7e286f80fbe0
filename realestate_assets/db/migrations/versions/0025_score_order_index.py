"""The property list's default order has an index again (issue #11, list p95).

The list sorts on `bird_dog_score DESC NULLS LAST` (unscored properties last), but 0008's
`ix_scores_county_score` is `(county, bird_dog_score DESC)`, which PostgreSQL keeps NULLS FIRST:
no scan of it yields that order, so every list page read and sorted the county's matching scores
(a parallel sequential scan of 40k rows at 100k properties, bench/bench_api.py). The same columns
with NULLS LAST serve both the sort and the score filters.

Revision ID: 0025
Revises: 0018
Create Date: 2026-12-03
"""

from alembic import op

revision = "0025"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_scores_county_score")
    op.execute("CREATE INDEX ix_scores_county_score ON scores (county, bird_dog_score DESC NULLS LAST)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_scores_county_score")
    op.execute("CREATE INDEX ix_scores_county_score ON scores (county, bird_dog_score DESC)")
