"""`slice_versions`: which transaction last wrote each county's slice of the tables the stages'
input fingerprints read, kept by a statement trigger on each (issue 17: an unchanged re-run costs
≤ 10% of the first; db/slice_versions.py says how a fingerprint uses it).

An unchanged re-run digested each input slice by scanning it (its rows' count and `xmin` sum,
db/input_fingerprints.py): ≈2 ms a table at 5k rows, more than half of our part of a skipped step
at 1×, and the part of a skip that grows with the county. A slice whose version is what it was
when its state was last read still has that state: no scan. Every statement on these tables
(INSERT, UPDATE, DELETE, COPY, TRUNCATE), by any writer, sets its row to the writer's
transaction id, in the writer's transaction (a rolled-back write leaves the version as it was):

* `county`: the county the transaction said it writes (`reos.slice_county`, set by
  `warehouse.sync_partition`), or `*` for any other write (a TRUNCATE, a statement from psql, the
  API's on-demand reasons): a `*` version that moved makes every county's slice of that table
  read again, as before this table existed.
* The row `('', '')` holds the database's identity, a random number drawn here: a version is
  trusted only in the database it was read from (a recreated database starts over).

The function is SECURITY DEFINER (a role that may write a table, the API's, need not be granted
this one) with the migration's search_path pinned.

Downgrade: the triggers, the function and the table are dropped.

Revision ID: 0066
Revises: 0065
Create Date: 2026-12-06
"""

from alembic import op

revision = "0066"
down_revision = "0065"
branch_labels = None
depends_on = None

# db/slice_versions.VERSIONED_TABLES names the same tables (a migration does not import the
# application); tests/test_slice_versions.py checks that both agree with the database.
# The key columns this migration adds, `COLLATE "C"` as 0054's (read by tests/test_key_collation.py).
KEY_COLUMNS = {"slice_versions": ("county",)}
TABLES = ("assessor_roll", "sales", "listings", "prospects", "prospect_sources", "enrichment", "features", "scores",
          "ml_models")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE slice_versions (
            table_name text NOT NULL,
            county text COLLATE "C" NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (table_name, county)
        )""")
    op.execute("COMMENT ON TABLE slice_versions IS 'The transaction that last wrote each county''s slice "
               "of a fingerprinted table (county * : a write that named no county); the row ('''', '''') is "
               "the database''s identity. Kept by the slice_version triggers (migration 0066).'")
    for column, comment in (
            ("table_name", "A table with the slice_version trigger ('' on the identity row)"),
            ("county", "The county whose slice the writing transaction named (reos.slice_county), or * for a "
                       "write that named none ('' on the identity row)"),
            ("version", "The id of the transaction that last wrote the slice (the identity row: a random number "
                        "drawn when the table was made)")):
        op.execute(f"COMMENT ON COLUMN slice_versions.{column} IS '{comment}'")
    op.execute("INSERT INTO slice_versions VALUES ('', '', (random() * 9.2e18)::bigint)")
    op.execute("""
        CREATE FUNCTION reos_note_slice_write() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
        BEGIN
            INSERT INTO slice_versions AS v (table_name, county, version)
            VALUES (TG_TABLE_NAME,
                    CASE WHEN TG_OP = 'TRUNCATE' THEN '*'
                         ELSE coalesce(nullif(current_setting('reos.slice_county', true), ''), '*') END,
                    pg_current_xact_id()::text::bigint)
            ON CONFLICT (table_name, county) DO UPDATE SET version = EXCLUDED.version
                WHERE v.version <> EXCLUDED.version;
            RETURN NULL;
        END $$""")
    for table in TABLES:
        op.execute(f"CREATE TRIGGER slice_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION reos_note_slice_write()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER slice_version ON {table}")
    op.execute("DROP FUNCTION reos_note_slice_write()")
    op.execute("DROP TABLE slice_versions")
