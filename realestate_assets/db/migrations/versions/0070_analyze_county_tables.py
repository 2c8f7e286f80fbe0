"""The tables partitioned by county analyzed as a whole (issue 17, docs/scale.md "Stop 57 on this
session's host").

Migration 0069 made `sales`, `prospects`, `prospect_sources`, `enrichment`, `features` and `scores`
partitioned tables. Their partitions get statistics (each load analyzes its county's), but the
tables as a whole were analyzed only once, by 0069, as they were then (none on a database empty
then), and never since: autovacuum does not analyze a partitioned table. The planner estimates
a join through such a table, and a query over several counties, from those statistics; without
them, at 1M parcels, the API's list pages took 0.7 s instead of 2–10 ms as the API role runs them.

Since this change a write refreshes them after its commit when they are missing or stale
(`warehouse.refresh_table_statistics`). This migration makes them at once, so that a database
whose counties were loaded since 0069 does not wait for each table's next write. ANALYZE samples
a bounded number of rows: 0.06–0.62 s a table at 1M.

Downgrade: nothing to undo (statistics are not schema).

Revision ID: 0070
Revises: 0069
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0070"
down_revision = "0069"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = op.get_bind().execute(text(
        "SELECT p.partrelid::regclass::text FROM pg_partitioned_table p "
        "JOIN pg_class c ON c.oid = p.partrelid AND c.relnamespace = current_schema()::regnamespace "
        "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
        "WHERE p.partstrat = 'l' AND p.partnatts = 1 AND a.attname = 'county' ORDER BY 1")).scalars().all()
    for table in tables:
        op.execute(f'ANALYZE "{table}"')


def downgrade() -> None:
    pass
