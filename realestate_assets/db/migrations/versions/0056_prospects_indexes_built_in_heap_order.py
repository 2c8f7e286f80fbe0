"""The first load's index builds of `prospects` and `prospect_sources` made cheaper (issue 17,
docs/scale.md "Twenty-third round (c)"): one index nothing reads goes, two are declared in the
order their rows are written, each read backward for the same orders.

* `ix_prospect_sources_key (county, prospect_key)` has no reader. Every statement on the table
  finds its rows by county or by the unique (county, source, source_id) that `sync_partition`
  upserts on: the first load's checks (a slice's first row), the input fingerprint's and the slice
  state's scans (a sequential scan of the county), the upsert's `ON CONFLICT` and the "no longer
  produced" delete (the unique key). No code, API route or bench reads a prospect's source records
  by its key (the API reads `prospects`, `enrichment` and `scores`, never this table). Its build
  was ≈0.5 server CPU s at a million links, on `prospects`' critical path (the step waits for the
  links' write before it writes the prospects), and an entry per link on every re-sync.
* `ix_prospects_county_first_seen (county, first_seen_at DESC NULLS LAST, id DESC NULLS LAST)`
  (0040) and `ix_prospects_county_price_desc (county, list_price DESC NULLS LAST, id DESC NULLS
  LAST)` (0030) become `(county, first_seen_at NULLS FIRST, id NULLS FIRST)` and `(county,
  list_price NULLS FIRST, id NULLS FIRST)`. A B-tree read backward gives every column's order
  reversed, nulls included: for one county (the list's plans read one county per index scan,
  `property_query._merged_by_county`) these yield `first_seen_at DESC NULLS LAST, id DESC NULLS
  LAST` and `list_price DESC NULLS LAST, id DESC NULLS LAST`, the list's orders, as before. What
  changes is the build: ids come from a sequence in the order rows are written, a first load's
  rows share one `first_seen_at` (the transaction's) and most counties' prospects have no
  listing price, so the new order is the rows' own order while the old one was its reverse, which
  PostgreSQL's sort pays for in full: at a million prospects 2.2–3.3 s per index against 1.0–1.3
  s (isolated builds alternated, load 8; 0.7–1.1 server CPU s less each). The `id` column is
  spelled NULLS FIRST (it is never NULL) so that the backward scan's order is literally the list's
  `id DESC NULLS LAST`: the planner matches orders by their nulls placement, not by NOT NULL.

Same plans at a million prospects, before and after: every list order that used one of the two
indexes uses it (as an `Index Scan Backward`), the others use what they used.

Downgrade: the three indexes as they were.

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-05
"""

from alembic import op

revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None

UNREAD = "ix_prospect_sources_key"
# name → (columns after this migration, columns before it)
REORDERED = {
    "ix_prospects_county_first_seen": ("county, first_seen_at NULLS FIRST, id NULLS FIRST",
                                       "county, first_seen_at DESC NULLS LAST, id DESC NULLS LAST"),
    "ix_prospects_county_price_desc": ("county, list_price NULLS FIRST, id NULLS FIRST",
                                       "county, list_price DESC NULLS LAST, id DESC NULLS LAST"),
}


def _rebuild(name: str, columns: str) -> None:
    # Built beside the old one, then swapped in: the list's order is never without its index.
    op.execute(f"CREATE INDEX {name}_new ON prospects ({columns})")
    op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def upgrade() -> None:
    op.execute(f"DROP INDEX {UNREAD}")
    for name, (columns, _) in REORDERED.items():
        _rebuild(name, columns)


def downgrade() -> None:
    for name, (_, columns) in REORDERED.items():
        _rebuild(name, columns)
    op.execute(f"CREATE INDEX {UNREAD} ON prospect_sources (county, prospect_key)")
