"""`sales`' unique key with `county` last: (sale_id, source, county) (issue 17, docs/scale.md
"Twenty-eighth round (e)").

A county's first load builds `sales`' indexes after its rows (`warehouse._defer_indexes`). The
unique key led with `county` and `source`, one value each in a county's file, so every comparison
of the build's sort read two constant text columns before the one that decides, and the sort's
abbreviated key (the first column's) decided nothing. Built alone at a million sales with one
parallel worker: 3.0–3.3 → 1.35–1.44 server CPU s; the step's server CPU 8.9–9.4 → 7.1–7.9 s in
eight alternated first loads.

The same columns, so the same uniqueness: `ON CONFLICT (county, source, sale_id)` infers the index
from its set of columns, and `warehouse._has_unique_key` compares sets. Every reader's plan is
unchanged (`EXPLAIN` at a million sales) but the first-load check for another county's rows, which
becomes the same index-only scan on `ix_sales_parcel`, still led by `county` so that a county's
slice keeps an index led by it. The constraint keeps its name.

Downgrade: the key in its old order.

Revision ID: 0062
Revises: 0061
Create Date: 2026-12-06
"""

from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None

KEY = "sales_county_source_sale_id_key"


def _key(columns: str) -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {KEY}_new ON sales ({columns})")
    op.execute(f"ALTER TABLE sales DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE sales ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_new")


def upgrade() -> None:
    _key("sale_id, source, county")


def downgrade() -> None:
    _key("county, source, sale_id")
