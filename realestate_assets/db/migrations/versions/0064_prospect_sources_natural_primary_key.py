"""`prospect_sources`' primary key is its natural key (county, source_id, source); the index on
`id` is gone (issue 17, docs/scale.md "Thirty-second round (b)").

A first load builds the table's indexes after its rows (`warehouse._defer_indexes`), on the
`prospects` step's critical path: the main thread waits for the links' write before the prospects'
COPY can start on the same connection. The table had two unique B-trees, the key (county,
source_id, source) and the primary key on `id`, and nothing reads `id`: every statement on the
table reads it by `county` (the first-load test, `slice_states`, the re-run's delete of links no
longer produced) or by the whole key (the upsert's arbiter, the delete's anti-join), no foreign
key references it, and no code, API route or bench reads a link by its id (the twenty-third round
(c) found the same and dropped the other unread index, migration 0056). The `id` index's build in a
first load at a million links: 0.40–0.67 s wall and 0.19–0.26 leader CPU s (its parallel worker
besides) at load 3.4–7.5, ≈20 MB of WAL page images; the links' builds 1.34–1.94 → 0.62–1.62 s in
seven alternated pairs.

The key becomes the primary key under the table's conventional name, so the table keeps one
(replica identity, tools that expect one) and one index: the same columns and order as migration
0062's, so every reader's plan is the same (`EXPLAIN` at a million links), `ON CONFLICT (county,
source, source_id)` still infers it and `warehouse._has_unique_key` still finds it. `id` stays, NOT
NULL, filled by its sequence.

Downgrade: the primary key on `id` and the unique constraint on the key, as migration 0062 left
them.

Revision ID: 0064
Revises: 0063
Create Date: 2026-12-06
"""

from alembic import op

revision = "0064"
down_revision = "0063"
branch_labels = None
depends_on = None

KEY = "prospect_sources_county_source_source_id_key"  # migration 0062's unique constraint
PKEY = "prospect_sources_pkey"
COLUMNS = "county, source_id, source"


def upgrade() -> None:
    # Built beside the old constraint, then swapped in: the key is never unguarded.
    op.execute(f"CREATE UNIQUE INDEX {PKEY}_new ON prospect_sources ({COLUMNS})")
    op.execute(f"ALTER TABLE prospect_sources DROP CONSTRAINT {PKEY}")
    op.execute(f"ALTER TABLE prospect_sources DROP CONSTRAINT {KEY}")
    op.execute(f"ALTER TABLE prospect_sources ADD CONSTRAINT {PKEY} PRIMARY KEY USING INDEX {PKEY}_new")


def downgrade() -> None:
    op.execute(f"CREATE UNIQUE INDEX {KEY} ON prospect_sources ({COLUMNS})")
    op.execute(f"ALTER TABLE prospect_sources DROP CONSTRAINT {PKEY}")
    op.execute(f"ALTER TABLE prospect_sources ADD CONSTRAINT {KEY} UNIQUE USING INDEX {KEY}")
    op.execute(f"ALTER TABLE prospect_sources ADD CONSTRAINT {PKEY} PRIMARY KEY (id)")
