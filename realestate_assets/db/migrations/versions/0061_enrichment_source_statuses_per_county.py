"""`enrichment.source_status` stored once per distinct document: `enrichment_source_statuses`
(one row per distinct document of a county), the rows holding its id (issue 17, docs/scale.md
"Twenty-eighth round (a)").

A county's prospects share a handful of status documents (which source answered, which was
skipped and why: one distinct value in 4,710 rows of King County with no outside key), yet each
row carried its own ≈355 bytes of JSON, parsed by `jsonb_in` in the server's COPY of every row
the `enrichment` step writes (a million times at a million parcels).

* `enrichment_source_statuses (id, county, source_status)`: a county's distinct documents, each
  once (a unique index on `(county, md5(source_status::text))`: a re-run finds its documents
  instead of adding them; the md5, not the jsonb, so that a long document — a failure's reason —
  is not refused by the B-tree's ≈2.7 kB entry limit).
  The `enrichment` step writes the documents its rows need in the transaction that writes the
  rows and, once they are published, deletes the county's documents no row names
  (`enrich/source_statuses.py`). Public county data like `enrichment` (no tenant); the API does not
  read the statuses (the property detail leaves them out), so no grant, policy or cache trigger.
* `enrichment.source_status` (jsonb) becomes `enrichment.source_status_id` (integer, no foreign
  key: its check would run per row of a million-row COPY; the step writes the documents first).
  NULL (a row written without statuses) reads as `{}`, the old column's default. Readers rebuild
  the document with a join (`enrich/source_statuses.py::SOURCE_STATUS_SQL`).

Upgrade: each county's distinct documents, then every row's id. Downgrade: the documents back on
every row (`{}` for NULL) and the table dropped.

Revision ID: 0061
Revises: 0060
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None

# The payload columns of 0055's list this migration drops (read by tests/test_payload_statistics.py);
# it adds none: `source_status_id` is a join key.
PAYLOAD_COLUMNS: dict[str, tuple[str, ...]] = {}
DROPPED_COLUMNS: dict[str, tuple[str, ...]] = {"enrichment": ("source_status",)}
# The analyzed column this migration adds to `enrichment`, at 0057's coarse target like the table's
# others (a 3,000-row sample; read by tests/test_coarse_statistics.py).
TARGET = 10
COARSE_COLUMNS: dict[str, tuple[str, ...]] = {"enrichment": ("source_status_id",)}
# The key columns this migration adds, `COLLATE "C"` as 0054's (read by tests/test_key_collation.py).
KEY_COLUMNS = {"enrichment_source_statuses": ("county",)}
COMMENTS = {
    "id": "The document's id, named by enrichment.source_status_id.",
    "county": "County whose enrichment rows name the document (enrichment.county).",
    "source_status": "Per outside source: answered, not configured, no match or error (JSON).",
}
OLD_COMMENT = "Per outside source: answered, not configured, no match or error (JSON)."  # 0006's


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute('CREATE TABLE enrichment_source_statuses (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, '
                'county text COLLATE "C" NOT NULL, source_status jsonb NOT NULL)')
    op.execute("CREATE UNIQUE INDEX ix_enrichment_source_statuses_md5 "
               "ON enrichment_source_statuses (county, md5(source_status::text))")
    op.execute("COMMENT ON TABLE enrichment_source_statuses IS "
               "'Each county''s distinct enrichment source-status documents, once each (migration 0061).'")
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN enrichment_source_statuses.{column} IS {_quote(text)}")
    op.execute("INSERT INTO enrichment_source_statuses (county, source_status) "
               "SELECT DISTINCT county, source_status FROM enrichment ORDER BY county, source_status")
    op.execute("ALTER TABLE enrichment ADD COLUMN source_status_id integer")
    op.execute(f"ALTER TABLE enrichment ALTER COLUMN source_status_id SET STATISTICS {TARGET}")
    op.execute("UPDATE enrichment e SET source_status_id = d.id FROM enrichment_source_statuses d "
               "WHERE d.county = e.county AND d.source_status = e.source_status")
    op.execute("ALTER TABLE enrichment DROP COLUMN source_status")
    op.execute("COMMENT ON COLUMN enrichment.source_status_id IS "
               + _quote("Per outside source: answered, not configured, no match or error: the document "
                        "in enrichment_source_statuses (NULL: none recorded, {})."))


def downgrade() -> None:
    op.execute("ALTER TABLE enrichment ADD COLUMN source_status jsonb NOT NULL DEFAULT '{}'")
    op.execute("UPDATE enrichment e SET source_status = d.source_status FROM enrichment_source_statuses d "
               "WHERE d.id = e.source_status_id")
    op.execute(f"COMMENT ON COLUMN enrichment.source_status IS {_quote(OLD_COMMENT)}")
    op.execute("ALTER TABLE enrichment ALTER COLUMN source_status SET STATISTICS 0")  # 0055's
    op.execute("ALTER TABLE enrichment DROP COLUMN source_status_id")
    op.execute("DROP TABLE enrichment_source_statuses")
