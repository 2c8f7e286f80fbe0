"""`prospects` loses `ix_prospects_county_id (county, id)`: on a table partitioned by county its
primary key `(id, county)` serves every read it served (issue 17, docs/scale.md "Stop 60 on this
session's host").

Since migration 0069 each county is a partition of its own, one county value in each. A
partition's primary key index is then ordered by id alone, as `(county, id)` is: the API's list
by id and a cursor's page after an id (an index range on the key's first column) read it
(`tests/api/test_properties.py` checks the plans), as a look-up by id always did. The second
index cost a build in every county's first load (0.46–0.49 s at 1M parcels, on the `prospects`
step's path) and an entry in every prospect written.

Downgrade: the index comes back (built on every partition).

Revision ID: 0071
Revises: 0070
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0071"
down_revision = "0070"
branch_labels = None
depends_on = None

INDEX = "ix_prospects_county_id"


def upgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")  # a partitioned index: its partitions' indexes go with it


def downgrade() -> None:
    op.execute(f"CREATE INDEX {INDEX} ON prospects (county, id)")
