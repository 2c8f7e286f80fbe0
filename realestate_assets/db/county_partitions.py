"""Tables partitioned by county (LIST, migration 0069): a county's first load into a table of its
own, keyed and indexed once after its rows, then attached as the county's partition.

Why (issue 17, docs/scale.md "Stop 55 on this session's host"): a county loaded into a table that
already holds other counties keeps the table's indexes, and each row goes into each index at a
random place — at 1M sales 23.8–25.8 s of `COPY` against 11.0–12.5 s this way. The first county
of a fresh database gets the same by `warehouse._defer_indexes`; this is how every later county
gets it too.

Every county has a partition of its own and there is no DEFAULT one: a row of a county without
one is refused ("no partition of relation ... found for row"). `warehouse.sync_partition` makes it
at the county's first load; another writer (a test's INSERT, the bench's copies) asks
`ensure_county_partitions` first. `sync_partition` then writes the county's partition itself, and
`note_write` does what the parent's statement triggers would have done.

Locks: the new table is this transaction's alone until it commits. Attaching it takes SHARE
UPDATE EXCLUSIVE on the parent alone, held to the commit: readers and other counties' writers go
on, another county's attach waits for this commit (so the attach comes last, after the audit). A
DEFAULT partition would be locked ACCESS EXCLUSIVE and scanned at every attach, where each other
county's first read of its empty slice takes a lock on it: two first loads at once would deadlock.

No Dagster imports.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

# A partition's name: PostgreSQL's 63 characters, less room for its CHECK's suffix ("_county").
_NAME_LENGTH = 55


def _county_hash(county: str) -> str:
    return hashlib.md5(county.encode()).hexdigest()[:6]


def county_partition_name(table: str, county: str) -> str:
    """The name of `county`'s partition of `table`: readable, and unique by the county's hash
    (two counties that read alike once lowercased and cut still differ). Migration 0069 names the
    partitions it makes by the same rule."""
    slug = re.sub(r"[^a-z0-9_]", "_", county.lower())[:max(0, _NAME_LENGTH - len(table) - 9)]
    return f"{table}__{slug}_{_county_hash(county)}"


def _county_check_name(name: str) -> str:
    """The CHECK that table `name`'s rows are its county's: made with the table, dropped once it
    is attached (the partition's bound says the same)."""
    return f"{name}_county"


def partition_index_name(index: str, county: str) -> str:
    """The name of the index (or key) of `county`'s partition under the table's `index`: that
    index's name, so that a plan read by a person names the index it uses, and the county's hash
    (63 characters at most). Migration 0069 names the partitions' indexes by the same rule."""
    return f"{index[:56]}_{_county_hash(county)}"


@dataclass(frozen=True)
class CountyPartition:
    """A table partitioned by county, seen from one county."""

    name: str | None  # the county's partition; None while it has none (before its first load)


def county_partition(cur: Any, table: str, county: str) -> CountyPartition | None:
    """`county`'s partition of `table`, or None when `table` is not partitioned by county alone.
    Read from the catalog: no lock on the table or its partitions."""
    cur.execute(
        "SELECT (SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "        WHERE i.inhparent = p.partrelid AND pg_get_expr(c.relpartbound, c.oid) = "
        "        format('FOR VALUES IN (%%L)', %s::text)) "
        "FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
        "WHERE p.partrelid = %s::regclass AND p.partstrat = 'l' AND p.partnatts = 1 AND a.attname = 'county'",
        (county, table))
    row = cur.fetchone()
    return None if row is None else CountyPartition(name=row[0])


def partitioned_by_county(cur: Any) -> list[str]:
    """The tables of the current schema partitioned by county alone, read from the catalog."""
    cur.execute("SELECT p.partrelid::regclass::text FROM pg_partitioned_table p "
                "JOIN pg_class c ON c.oid = p.partrelid AND c.relnamespace = current_schema()::regnamespace "
                "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
                "WHERE p.partstrat = 'l' AND p.partnatts = 1 AND a.attname = 'county' ORDER BY 1")
    return [table for (table,) in cur.fetchall()]


def ensure_county_partitions(cur: Any, *counties: str) -> None:
    """Each county's partition of every table partitioned by county, made if it has none."""
    for table in partitioned_by_county(cur):
        for county in counties:
            ensure_county_partition(cur, table, county)


def ensure_county_partition(cur: Any, table: str, county: str) -> str:
    """`county`'s partition of `table` (partitioned by county), made empty if it has none yet."""
    partition = county_partition(cur, table, county)
    if partition is None:
        raise ValueError(f"{table} is not partitioned by county")
    if partition.name is not None:
        return partition.name
    name = create_county_table(cur, table, county)
    index_county_table(cur, table, name, county)
    attach_county_table(cur, table, name, county)
    return name


def create_county_table(cur: Any, table: str, county: str) -> str:
    """A table to load `county`'s rows into, made like `table` (columns, defaults, NOT NULLs,
    CHECKs, column statistics targets) with no key and no index yet, and a CHECK that its rows
    are `county`'s, so that attaching it does not scan them. Returns its name.

    The CHECK is there before the rows: each row is tested as it is written, instead of a scan
    of them all after the load (0.13–0.28 s a table at a million rows, on the step's path;
    docs/scale.md "Stop 59 on this session's host"). A row of another county is refused by the
    load."""
    ident = sql.Identifier
    name = county_partition_name(table, county)
    cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE "
                        "INCLUDING COMPRESSION, CONSTRAINT {} CHECK (county IS NOT NULL AND county = {}))").format(
        ident(name), ident(table), ident(_county_check_name(name)), sql.Literal(county)))
    # LIKE does not carry statistics targets (migrations 0055, 0068: payload columns at 0).
    cur.execute("SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attstattarget >= 0", (table,))
    targets = cur.fetchall()
    if targets:
        cur.execute(sql.SQL("ALTER TABLE {} ").format(ident(name)) + sql.SQL(", ").join(
            sql.SQL("ALTER COLUMN {} SET STATISTICS {}").format(ident(column), sql.Literal(target))
            for column, target in targets))
    return name


def index_county_table(cur: Any, table: str, name: str, county: str) -> None:
    """`table`'s keys and indexes built on the loaded table `name`, so that attaching it finds
    them all and builds none. A key that the rows repeat raises psycopg2's UniqueViolation."""
    ident = sql.Identifier
    # Keys as constraints (an attach matches a parent's key only to a partition's key), the
    # other indexes by their definitions' method, columns and predicate.
    cur.execute("SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u') ORDER BY c.conname", (table,))
    for key, definition in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
            ident(name), ident(partition_index_name(key, county))) + sql.SQL(definition))
    cur.execute("SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid), "
                "ARRAY(SELECT ARRAY[a.attnum::int, a.attstattarget::int] FROM pg_attribute a "
                "      WHERE a.attrelid = x.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum) "
                "FROM pg_index x WHERE x.indrelid = %s::regclass "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
                "ORDER BY x.indexrelid", (table,))
    for parent, definition, statistics in cur.fetchall():
        unique, rest = re.fullmatch(r"CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .*)", definition).groups()
        index = partition_index_name(parent, county)
        cur.execute(sql.SQL("CREATE {}INDEX {} ON {} ").format(sql.SQL(unique or ""), ident(index), ident(name))
                    + sql.SQL(rest))
        for column, target in statistics:  # an expression's (migration 0059's trigram index): not in the definition
            cur.execute(sql.SQL("ALTER INDEX {} ALTER COLUMN {} SET STATISTICS {}").format(
                ident(index), sql.Literal(column), sql.Literal(target)))


def attach_county_table(cur: Any, table: str, name: str, county: str) -> None:
    """The loaded, indexed table `name` made `county`'s partition of `table`."""
    ident = sql.Identifier
    cur.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
        ident(table), ident(name), sql.Literal(county)))
    # The partition's bound says what the CHECK said (and is what the planner prunes by).
    cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident(name), ident(_county_check_name(name))))


def note_write(cur: Any, table: str, county: str, rows_written: bool) -> None:
    """What `table`'s statement triggers do for a write of `county`'s rows, done for statements
    that wrote its partition directly (or the table attached as one), which did not fire them:
    * the slice's version (migration 0066): a statement on `table` that writes no row fires it;
    * when rows were written, the API's cache generation of each scope `table`'s cache triggers
      take from the rows' county (migration 0037: `reos_cache_bump_rows('county', prefix)`; fired
      by that statement too, they see no row)."""
    cur.execute(sql.SQL("DELETE FROM {} WHERE false").format(sql.Identifier(table)))
    if not rows_written:
        return
    # tgargs: the trigger's arguments, each ended by a NUL byte ('county\000c:\000' once escaped).
    cur.execute("SELECT array_agg(DISTINCT split_part(encode(tgargs, 'escape'), '\\000', 2) || %s) "
                "FROM pg_trigger WHERE tgrelid = %s::regclass AND tgfoid = to_regproc('reos_cache_bump_rows') "
                "AND split_part(encode(tgargs, 'escape'), '\\000', 1) = 'county'", (county, table))
    (scopes,) = cur.fetchone()
    if scopes:
        cur.execute("SELECT reos_cache_bump(%s::text[])", (scopes,))
