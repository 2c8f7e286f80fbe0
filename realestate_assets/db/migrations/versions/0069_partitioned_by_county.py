"""The six chain tables partitioned by county (LIST), one partition a county (issue 17, docs/scale.md
"Stop 56 on this session's host"): `sales`, `prospects`, `prospect_sources`, `enrichment`,
`features` and `scores`.

A county's first load into a table that already holds other counties kept the table's indexes,
and each of its rows went into each index at a random place: at 1M, `sales`, `prospects` and
`scores` lost 10–18, 10–18 and 6–9 s to it; a `COPY` of 1M sales took 25.1, 25.8 and 23.8 s against
11.0–12.5 s for the same rows loaded into a table of their own, indexed after, then attached
(docs/scale.md "Stop 55 on this session's host"). A first load now does that
(`warehouse.sync_partition`, db/county_partitions.py): the county's rows go into a new table, its
keys and indexes are built once after the rows, and the table is attached as the county's
partition. Readers and other counties' writers are not held meanwhile (the attach takes SHARE
UPDATE EXCLUSIVE on the table). `prospect_sources`, `enrichment` and `features` lost less (their rows
come in their keys' order, so each index insert lands next to the one before), but still go in row
by row; and partitioned, every table's `ANALYZE` after a load reads the county's rows alone.

No DEFAULT partition (db/county_partitions.py says why): a row of a county that has no partition
is refused; a writer other than the pipeline asks `county_partitions.ensure_county_partition`
first. This migration makes one for each county the tables hold.

What changes besides:
* Each primary key on `id` becomes `(id, county)`: a partitioned table's unique keys hold its
  partition key. `id` stays drawn from the same sequence, so it stays unique on its own.
  `prospect_sources`' key holds `county` already.
* Everything else is rebuilt as it was, read from the catalog: the columns (collations, defaults,
  NOT NULL, CHECKs, column comments, statistics targets), the indexes and unique keys under their
  names (and their expressions' statistics targets), the triggers, row-level security and its
  policies, the grants. No foreign key refers to these tables, and they have none.

Downgrade: the same tables unpartitioned, the primary keys on `id` alone again; the rows kept.

Revision ID: 0069
Revises: 0068
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0069"
down_revision = "0068"
branch_labels = None
depends_on = None

# The tables this migration partitions by county (read by tests/test_county_partitions.py).
TABLES = ("sales", "prospects", "prospect_sources", "enrichment", "features", "scores")


# db/county_partitions' names (a migration does not import the application).
def _partition_name(table: str, county: str) -> str:
    slug = re.sub(r"[^a-z0-9_]", "_", county.lower())[:max(0, 55 - len(table) - 9)]
    return f"{table}__{slug}_{hashlib.md5(county.encode()).hexdigest()[:6]}"


def _partition_index_name(index: str, county: str) -> str:
    return f"{index[:56]}_{hashlib.md5(county.encode()).hexdigest()[:6]}"


def _objects(conn: Any, table: str) -> dict[str, Any]:
    """What `_rebuild` puts back on the new table: read from the catalog before the old one goes."""
    def rows(query: str) -> list[Any]:
        return list(conn.execute(sa.text(query), {"t": table}))
    return {
        "constraints": rows("SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
                            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') ORDER BY conname"),
        "indexes": rows("SELECT pg_get_indexdef(x.indexrelid), x.indexrelid::regclass::text, "
                        "ARRAY(SELECT ARRAY[a.attnum::int, a.attstattarget::int] FROM pg_attribute a "
                        "      WHERE a.attrelid = x.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum) "
                        "FROM pg_index x "
                        "WHERE x.indrelid = CAST(:t AS regclass) AND NOT EXISTS "
                        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1"),
        "triggers": rows("SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                         "WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal ORDER BY tgname"),
        "policies": rows("SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
                         "WHERE schemaname = current_schema() AND tablename = :t ORDER BY policyname"),
        "rls": rows("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)")[0],
        "grants": rows("SELECT grantee, string_agg(privilege_type, ', ') FROM information_schema.role_table_grants "
                       "WHERE table_schema = current_schema() AND table_name = :t "
                       "AND grantee <> (SELECT tableowner FROM pg_tables "
                       "                WHERE schemaname = current_schema() AND tablename = :t) GROUP BY grantee"),
        "statistics": rows("SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                           "AND attnum > 0 AND NOT attisdropped AND attstattarget >= 0 ORDER BY attnum"),
        "columns": [r[0] for r in rows("SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                                       "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")],
        "counties": [r[0] for r in rows(f'SELECT DISTINCT county FROM "{table}" ORDER BY 1')],
    }


def _rebuild(table: str, partitioned: bool) -> None:
    """`table` made again, partitioned by county or not, with its rows and everything on it."""
    conn = op.get_bind()
    old = _objects(conn, table)
    new = f"{table}_rebuilt"
    op.execute(f'CREATE TABLE "{new}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
               f'INCLUDING COMPRESSION INCLUDING COMMENTS)' + (" PARTITION BY LIST (county)" if partitioned else ""))
    if partitioned:
        for county in old["counties"]:
            quoted = county.replace("'", "''")
            op.execute(f'CREATE TABLE "{_partition_name(table, county)}" PARTITION OF "{new}" '
                       f"FOR VALUES IN ('{quoted}')")
    columns = ", ".join(f'"{c}"' for c in old["columns"])
    op.execute(f'INSERT INTO "{new}" ({columns}) SELECT {columns} FROM "{table}"')
    op.execute(f'ALTER SEQUENCE IF EXISTS "{table}_id_seq" OWNED BY "{new}".id')
    op.execute(f'DROP TABLE "{table}"')
    op.execute(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for name, definition, contype in old["constraints"]:
        if contype == "p":  # a partitioned table's primary key holds its partition key: (id) ↔ (id, county)
            keyed = "county" in definition[definition.index("(") + 1:definition.index(")")].split(", ")
            if partitioned and not keyed:
                definition = definition.replace(")", ", county)", 1)
            elif not partitioned:
                definition = definition.replace(", county)", ")")
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for definition, index, statistics in old["indexes"]:
        op.execute(definition.replace(" ON ONLY ", " ON "))
        for column, target in statistics:  # an expression's target (migration 0059): not in the definition
            op.execute(f'ALTER INDEX "{index}" ALTER COLUMN {column} SET STATISTICS {target}')
    if partitioned:  # each partition's indexes under the table's index names (and their keys with them)
        counties = {_partition_name(table, county): county for county in old["counties"]}
        children = conn.execute(sa.text(
            "SELECT child.oid::regclass::text, parent.oid::regclass::text, x.indrelid::regclass::text "
            "FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid "
            "JOIN pg_class parent ON parent.oid = i.inhparent JOIN pg_index x ON x.indexrelid = child.oid "
            "WHERE parent.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = CAST(:t AS regclass))"),
            {"t": table}).fetchall()
        for child, parent, partition in children:
            op.execute(f'ALTER INDEX "{child}" RENAME TO "{_partition_index_name(parent, counties[partition])}"')
    for (definition,) in old["triggers"]:
        op.execute(definition)
    row_security, forced = old["rls"]
    if row_security:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    if forced:
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    for name, permissive, roles, cmd, qual, with_check in old["policies"]:
        op.execute(f'CREATE POLICY "{name}" ON "{table}" AS {permissive} FOR {cmd} TO {", ".join(roles)}'
                   + (f" USING ({qual})" if qual else "") + (f" WITH CHECK ({with_check})" if with_check else ""))
    for grantee, privileges in old["grants"]:
        op.execute(f'GRANT {privileges} ON "{table}" TO "{grantee}"')
    if old["statistics"]:  # on a partitioned table, recursing into its partitions
        op.execute(f'ALTER TABLE "{table}" ' + ", ".join(
            f'ALTER COLUMN "{column}" SET STATISTICS {target}' for column, target in old["statistics"]))
    op.execute(f'ANALYZE "{table}"')


def upgrade() -> None:
    for table in TABLES:
        _rebuild(table, partitioned=True)


def downgrade() -> None:
    for table in TABLES:
        _rebuild(table, partitioned=False)
