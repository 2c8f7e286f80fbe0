"""Covering indexes for Home's analytics at 100,000 properties (issue #11, docs/api.md "Home's
analytics at 100,000 properties").

`analytics/summary` aggregates the join of a county's prospects to their scores, and the funnel
reads the status of each property the tenant has a packet for. Both read whole rows of the
heap for a handful of columns: the join hashed 100,000 rows of each table
(180–260 ms of CPU a query at 100,000 properties, measured). With the join key first and those
columns in the index, both sides are index-only scans already in key order, so the summary is a
merge join that touches no heap page (about half the CPU), and the funnel's join to the tenant's
packets reads the index alone:

* `prospects (county, prospect_key) INCLUDE (first_seen_at, status)`: the summary's prospects
  side (its "new deals in 7 days" needs first_seen_at) and the funnel's statuses of packeted
  properties.
* `scores (county, prospect_key) INCLUDE (bird_dog_score, updated_at)`: the summary's scores side.

Index-only scans need the visibility map, which VACUUM (autovacuum after the pipeline's writes)
keeps; until then they read the heap as before. The writes' cost: one more index entry per row
written; a re-run that changes nothing writes no row (sync_partition skips unchanged rows), and a
changed score row was never a HOT update (bird_dog_score was indexed already).

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-03
"""

from alembic import op

revision = "0036"
down_revision = "0034"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_prospects_county_key_cover": "prospects (county, prospect_key) INCLUDE (first_seen_at, status)",
    "ix_scores_county_key_cover": "scores (county, prospect_key) INCLUDE (bird_dog_score, updated_at)",
}


def upgrade() -> None:
    for name, target in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {target}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
