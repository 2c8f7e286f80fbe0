"""`enrichment.provenance` stored once per distinct document per county: `enrichment_provenances`
(one row per distinct document of a county), the rows holding its id and their own part of it,
the county record their county facts come from (issue 17, docs/scale.md "Twenty-ninth round (b)").

A county's rows repeat a handful of provenance documents (one per chunk of the step and pattern
of present fields: the groups' entries, their fetch time and field lists), yet each row carried
≈600 bytes of JSON parsed by `jsonb_in` in the server's COPY of every row the `enrichment` step
writes (≈6 server CPU s at a million parcels), written to the table and the WAL a million times.
The only part that is a row's own is the county assessor entry's `record` ("<source> sale <id>").

* `enrichment_provenances (id, county, provenance)`: a county's distinct documents, each once
  (a unique index on `(county, md5(provenance::text))`, as 0061's statuses). A document is the
  grouped form (`enrich/provenance.py::compact`) with the row's record taken out of the entries
  that named it, their groups marked `"record": true`. The `enrichment` step adds the documents
  its rows need before the rows that name them (on a connection of its own, each committed: the
  rows' streamed COPY holds the step's transaction) and, in the rows' transaction once they are
  published, deletes the county's documents no row names (`enrich/documents.py`). Public county data like
  `enrichment`; the property detail reads it, so the API role reads it through the same
  `county_subscribed` policy (0008). No cache trigger: a document never changes (its id names
  its content), and a row that names another document is an `enrichment` write, which bumps its
  county's scope (0037).
* `enrichment.provenance` (jsonb) becomes `enrichment.provenance_id` (integer, no foreign key: its
  check would run per row of a million-row COPY; the step writes the documents first; NULL reads
  as `{}`, the old default) and `enrichment.provenance_record` (text, NULL where the document
  names no record). Readers rebuild the document in SQL (`stored_provenance.PROVENANCE_SQL`,
  whose text `REBUILD` below is, held equal by tests/enrich/test_stored_provenance.py).

Upgrade: each row's record taken out (when its entries name exactly one), each county's distinct
documents, then every row's id. Downgrade: the documents back on every row and the table dropped.

Revision ID: 0063
Revises: 0062
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None

API_ROLE = "reos_api"
SUBSCRIBED = (
    "county = ANY (ARRAY(SELECT s.county FROM subscriptions s "
    "WHERE s.tenant_id = current_setting('app.tenant_id', true)))"
)  # 0008's, as 0054 left it
# The payload columns of 0055's list this migration drops and adds (read by tests/test_payload_statistics.py):
# the record is read with its row, in no WHERE/JOIN/ORDER BY.
PAYLOAD_COLUMNS: dict[str, tuple[str, ...]] = {"enrichment": ("provenance_record",)}
DROPPED_COLUMNS: dict[str, tuple[str, ...]] = {"enrichment": ("provenance",)}
# The analyzed column this migration adds to `enrichment`, at 0057's coarse target like the table's
# others (read by tests/test_coarse_statistics.py).
TARGET = 10
COARSE_COLUMNS: dict[str, tuple[str, ...]] = {"enrichment": ("provenance_id",)}
# The key columns this migration adds, `COLLATE "C"` as 0054's (read by tests/test_key_collation.py).
KEY_COLUMNS = {"enrichment_provenances": ("county",)}
COMMENTS = {
    "id": "The document's id, named by enrichment.provenance_id.",
    "county": "County whose enrichment rows name the document (enrichment.county).",
    "provenance": (
        "Per group of fields: which source filled them and when (JSON); a group marked record: true "
        "names the row's enrichment.provenance_record."
    ),
}
OLD_COMMENT = "Per field: which source filled it and when (JSON); NULL fields say why."  # 0006's
# The row `e`'s document as the column held it (enrich/stored_provenance.py::PROVENANCE_SQL).
REBUILD = (
    "coalesce((SELECT CASE WHEN e.provenance_record IS NULL THEN d.provenance ELSE d.provenance || "
    "jsonb_build_object('groups', (SELECT jsonb_agg(CASE WHEN g.g ? 'record' THEN jsonb_build_object('entry', "
    "(g.g -> 'entry') || jsonb_build_object('record', e.provenance_record), 'fields', g.g -> 'fields') "
    "ELSE g.g END ORDER BY g.at) FROM jsonb_array_elements(d.provenance -> 'groups') WITH ORDINALITY AS g(g, at))) "
    "END FROM enrichment_provenances d WHERE d.id = e.provenance_id), '{}'::jsonb)"
)
# Each row's record: the one `record` (a string) its groups' entries name, NULL when none or several
# (enrich/provenance.py::stored_text's rule).
_RECORD = (
    "(SELECT CASE WHEN count(DISTINCT g -> 'entry' ->> 'record') = 1 THEN min(g -> 'entry' ->> 'record') END "
    "FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.provenance -> 'groups') = 'array' "
    "THEN e.provenance -> 'groups' ELSE '[]' END) AS g WHERE jsonb_typeof(g -> 'entry' -> 'record') = 'string')"
)
# The row's document: the record out of the entries that name it, their groups marked.
_DOCUMENT = (
    "CASE WHEN r.record IS NULL THEN r.provenance ELSE r.provenance || jsonb_build_object('groups', "
    "(SELECT jsonb_agg(CASE WHEN g.g -> 'entry' ->> 'record' = r.record "
    "AND jsonb_typeof(g.g -> 'entry' -> 'record') = 'string' THEN jsonb_build_object("
    "'entry', (g.g -> 'entry') - 'record', 'fields', g.g -> 'fields', 'record', true) ELSE g.g END "
    "ORDER BY g.at) FROM jsonb_array_elements(r.provenance -> 'groups') WITH ORDINALITY AS g(g, at))) END"
)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute(
        "CREATE TABLE enrichment_provenances (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        'county text COLLATE "C" NOT NULL, provenance jsonb NOT NULL)'
    )
    op.execute(
        "CREATE UNIQUE INDEX ix_enrichment_provenances_md5 ON enrichment_provenances (county, md5(provenance::text))"
    )
    op.execute(
        "COMMENT ON TABLE enrichment_provenances IS "
        "'Each county''s distinct enrichment provenance documents, once each (migration 0063).'"
    )
    for column, text in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN enrichment_provenances.{column} IS {_quote(text)}")
    # Public county data the API reads (the property detail): as `enrichment` (0008).
    op.execute(f"GRANT SELECT ON enrichment_provenances TO {API_ROLE}")
    op.execute("ALTER TABLE enrichment_provenances ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY county_subscribed ON enrichment_provenances FOR SELECT TO {API_ROLE} USING ({SUBSCRIBED})"
    )
    op.execute(
        "CREATE TEMPORARY TABLE reos_0063 AS SELECT r.id, r.county, "
        f"{_DOCUMENT} AS provenance, r.record FROM (SELECT e.id, e.county, e.provenance, {_RECORD} AS record "
        "FROM enrichment e) AS r"
    )
    op.execute(
        "INSERT INTO enrichment_provenances (county, provenance) "
        "SELECT DISTINCT county, provenance FROM reos_0063 ORDER BY county, provenance"
    )
    op.execute("ALTER TABLE enrichment ADD COLUMN provenance_id integer, ADD COLUMN provenance_record text")
    op.execute(
        f"ALTER TABLE enrichment ALTER COLUMN provenance_id SET STATISTICS {TARGET}, "
        "ALTER COLUMN provenance_record SET STATISTICS 0"
    )
    op.execute(
        "UPDATE enrichment e SET provenance_id = d.id, provenance_record = t.record FROM reos_0063 t "
        "JOIN enrichment_provenances d ON d.county = t.county AND d.provenance = t.provenance WHERE e.id = t.id"
    )
    op.execute("ALTER TABLE enrichment DROP COLUMN provenance")
    op.execute("DROP TABLE reos_0063")
    op.execute(
        "COMMENT ON COLUMN enrichment.provenance_id IS "
        + _quote(
            "Per field: which source filled it and when: the document in enrichment_provenances, with "
            "provenance_record (NULL: none recorded, {})."
        )
    )
    op.execute(
        "COMMENT ON COLUMN enrichment.provenance_record IS "
        + _quote(
            "Which county record the row's county facts come from, as the provenance document's groups "
            "marked record: true name it (NULL: none)."
        )
    )


def downgrade() -> None:
    op.execute("ALTER TABLE enrichment ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}'")
    op.execute(f"UPDATE enrichment e SET provenance = {REBUILD} WHERE e.provenance_id IS NOT NULL")
    op.execute(f"COMMENT ON COLUMN enrichment.provenance IS {_quote(OLD_COMMENT)}")
    op.execute("ALTER TABLE enrichment ALTER COLUMN provenance SET STATISTICS 0")  # 0055's
    op.execute("ALTER TABLE enrichment DROP COLUMN provenance_id, DROP COLUMN provenance_record")
    op.execute("DROP TABLE enrichment_provenances")
