"""`prospect_sources`' unique key with `source` last: (county, source_id, source) (issue 17,
docs/scale.md "Twenty-eighth round (g)").

A county's first load builds the key after its rows (`warehouse._defer_indexes`). It led with
`county` and `source`, one value each in a county's links, so every comparison of the build's sort
read two constant text columns (the second through `index_getattr` without cached offsets, past a
text column) before the one that decides. Built alone at a million links, no parallel worker:
1.06–1.12 → 0.79–0.82 CPU s of the server.

`county` stays first: the table has no other index led by it, and its readers of a county alone
(`sync_partition`'s first-load test, `slice_states`, the re-run's delete of links no longer
produced) use it in a database of many counties — with `county` last as well (0.55–0.56 CPU s)
those plans turn into scans of the whole table. With `source` last every reader's plan is the
same (`EXPLAIN` at a million links): `ON CONFLICT (county, source, source_id)` infers the index
from its set of columns and `warehouse._has_unique_key` compares sets. The constraint keeps its
name.

Downgrade: the key in its old order.

Revision ID: 0063
Revises: 0062
Create Date: 2026-12-06
"""

from alembic import op

revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None

KEY = "prospect_sources_county_source_source_id_key"


def _key(columns: str) -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {KEY}_new ON prospect_sources ({columns})")
    op.execute(f"ALTER TABLE prospect_sources DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE prospect_sources ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}_new")


def upgrade() -> None:
    _key("county, source_id, source")


def downgrade() -> None:
    _key("county, source, source_id")
