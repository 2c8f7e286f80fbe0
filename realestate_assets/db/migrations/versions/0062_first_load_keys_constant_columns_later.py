"""Two unique keys a county's first load builds after its rows, with their constant columns moved
back (issue 17, docs/scale.md "Twenty-eighth round (e)" and "(g)"): `sales` as (sale_id, source,
county), `prospect_sources` as (county, source_id, source).

A first load builds its table's indexes after the rows (`warehouse._defer_indexes`). Both keys led
with `county` and `source`, one value each in a county's rows, so every comparison of the build's
sort read two constant text columns (the second through `index_getattr` without cached offsets,
past a text column) before the one that decides, and the sort's abbreviated key (the first
column's) decided nothing. Built alone at a million rows: `sales`' key 3.0–3.3 → 1.35–1.44 server
CPU s with its parallel worker (the step's server CPU 8.9–9.4 → 7.1–7.9 s in eight alternated first
loads); `prospect_sources`' 1.06–1.12 → 0.79–0.82 with none.

The same columns, so the same uniqueness: `ON CONFLICT (…)` infers an index from its set of
columns, and `warehouse._has_unique_key` compares sets. Every reader's plan is unchanged (`EXPLAIN`
at a million rows) but `sales`' first-load check for another county's rows, which becomes the same
index-only scan on `ix_sales_parcel`, still led by `county`. `prospect_sources` keeps `county`
first: it has no other index led by it, and its readers of a county alone (the first-load test,
`slice_states`, the re-run's delete of links no longer produced) would otherwise scan the whole
table in a database of many counties. The constraints keep their names.

Downgrade: the keys in their old order.

Revision ID: 0062
Revises: 0061
Create Date: 2026-12-06
"""

from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None

# table → (constraint, the key's columns before, after)
KEYS = {
    "sales": ("sales_county_source_sale_id_key", "county, source, sale_id", "sale_id, source, county"),
    "prospect_sources": ("prospect_sources_county_source_source_id_key", "county, source, source_id",
                         "county, source_id, source"),
}


def _key(table: str, name: str, columns: str) -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {name}_new ON {table} ({columns})")
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}_new")


def upgrade() -> None:
    for table, (name, _, after) in KEYS.items():
        _key(table, name, after)


def downgrade() -> None:
    for table, (name, before, _) in KEYS.items():
        _key(table, name, before)
