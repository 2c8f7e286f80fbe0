"""Home's recent deals from an index (issue #11, docs/api.md "Home's recent deals").

Home lists the newest deals: `GET /properties?sort=-first_seen_at,-bird_dog_score&min_score=<the
packet threshold>`, i.e. `ORDER BY p.first_seen_at DESC NULLS LAST, s.bird_dog_score DESC NULLS
LAST, p.id DESC NULLS LAST LIMIT 9`. No index had first_seen_at: every call hash-joined the
county's prospects to its deals and sorted them (at 100,000 properties, 25,000 deals: about
140 ms of one PostgreSQL backend's CPU).

`prospects (county, first_seen_at DESC NULLS LAST, id DESC NULLS LAST)` yields the newest
properties of a county first; the planner joins each to its score by the unique key and sorts only
within one first_seen_at (an incremental sort), stopping once a page of deals is found. The nulls
are spelled out: a plain `DESC` column is kept NULLS FIRST, which no scan turns into the list's
NULLS LAST order (measured: the plain `(county, first_seen_at DESC, id DESC)` is not used). The id
serves the list's own `sort=-first_seen_at` (id breaks ties in the same direction).

It helps when the county's properties were first seen over many runs (a discovery run's rows share
its transaction's first_seen_at); a county first seen all at once is one group, and the planner
keeps the hash join. A tenant following several counties asks `county = ANY(...)`, which a btree
scan does not return in first_seen_at order: the hash join too. first_seen_at is written on insert
only, so the index costs one entry per new prospect.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-04
"""

from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_prospects_county_first_seen ON prospects "
               "(county, first_seen_at DESC NULLS LAST, id DESC NULLS LAST)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_prospects_county_first_seen")
