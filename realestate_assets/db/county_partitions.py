"""Tables partitioned by county (LIST, migration 0069): a county's first load into a table of its
own, keyed and indexed once after its rows, then attached as the county's partition.

Why (issue 17, docs/scale.md "Stop 55 on this session's host"): a county loaded into a table that
already holds other counties keeps the table's indexes, and each row goes into each index at a
random place — at 1M sales 23.8–25.8 s of `COPY` against 11.0–12.5 s this way. The first county
of a fresh database gets the same by `warehouse._defer_indexes`; this is how every later county
gets it too.

Locks: the new table is this transaction's alone until it commits. Attaching it takes SHARE
UPDATE EXCLUSIVE on the parent (readers and other counties' writers go on) and ACCESS EXCLUSIVE
on the DEFAULT partition, scanned for rows of the county; both are held to the commit, so the
attach comes last, after the audit.

No Dagster imports; `warehouse.sync_partition` is the one caller.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

# PostgreSQL's 63 characters, less room for the suffixes of the partition's own objects ("_county", "_ix0").
_NAME_LENGTH = 55


def county_partition_name(table: str, county: str) -> str:
    """The name of `county`'s partition of `table`: readable, and unique by the county's hash
    (two counties that read alike once lowercased and cut still differ). Migration 0069 names the
    partitions it makes by the same rule."""
    slug = re.sub(r"[^a-z0-9_]", "_", county.lower())[:max(0, _NAME_LENGTH - len(table) - 9)]
    return f"{table}__{slug}_{hashlib.md5(county.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class CountyPartitions:
    """Where a table partitioned by county keeps a county's rows."""

    own: str | None  # the county's own partition
    default: str | None  # the DEFAULT partition: every county without its own

    @property
    def holding(self) -> str | None:
        """The partition that takes the county's rows now."""
        return self.own or self.default


def county_partitions(cur: Any, table: str, county: str) -> CountyPartitions | None:
    """`table`'s partitions for `county`, or None when `table` is not partitioned by county alone."""
    cur.execute(
        "SELECT (SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "        WHERE i.inhparent = p.partrelid AND pg_get_expr(c.relpartbound, c.oid) = "
        "        format('FOR VALUES IN (%%L)', %s::text)), "
        "       (SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "        WHERE i.inhparent = p.partrelid AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') "
        "FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
        "WHERE p.partrelid = %s::regclass AND p.partstrat = 'l' AND p.partnatts = 1 AND a.attname = 'county'",
        (county, table))
    row = cur.fetchone()
    return None if row is None else CountyPartitions(own=row[0], default=row[1])


def create_county_table(cur: Any, table: str, county: str) -> str:
    """A table to load `county`'s rows into, made like `table` (columns, defaults, NOT NULLs,
    CHECKs, column statistics targets) with no key and no index yet. Returns its name."""
    name = county_partition_name(table, county)
    cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE "
                        "INCLUDING COMPRESSION)").format(sql.Identifier(name), sql.Identifier(table)))
    # LIKE does not carry statistics targets (migrations 0055, 0068: payload columns at 0).
    cur.execute("SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attstattarget >= 0", (table,))
    targets = cur.fetchall()
    if targets:
        cur.execute(sql.SQL("ALTER TABLE {} ").format(sql.Identifier(name)) + sql.SQL(", ").join(
            sql.SQL("ALTER COLUMN {} SET STATISTICS {}").format(sql.Identifier(column), sql.Literal(target))
            for column, target in targets))
    return name


def index_county_table(cur: Any, table: str, name: str, county: str) -> None:
    """`table`'s keys and indexes built on the loaded table `name`, so that attaching it finds
    them all and builds none; and a CHECK that proves its rows are `county`'s, so that the attach
    does not scan them. A key that the rows repeat raises psycopg2's UniqueViolation."""
    ident = sql.Identifier
    cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (county IS NOT NULL AND county = {})").format(
        ident(name), ident(f"{name}_county"), sql.Literal(county)))
    # Keys as constraints (an attach matches a parent's key only to a partition's key), the
    # other indexes by their definitions' method, columns and predicate.
    cur.execute("SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u') ORDER BY c.conname", (table,))
    for (definition,) in cur.fetchall():
        cur.execute(sql.SQL("ALTER TABLE {} ADD ").format(ident(name)) + sql.SQL(definition))
    cur.execute("SELECT pg_get_indexdef(x.indexrelid), "
                "ARRAY(SELECT ARRAY[a.attnum::int, a.attstattarget::int] FROM pg_attribute a "
                "      WHERE a.attrelid = x.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum) "
                "FROM pg_index x WHERE x.indrelid = %s::regclass "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
                "ORDER BY x.indexrelid", (table,))
    for number, (definition, statistics) in enumerate(cur.fetchall()):
        unique, rest = re.fullmatch(r"CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .*)", definition).groups()
        index = f"{name}_ix{number}"
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
    cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident(name), ident(f"{name}_county")))
    note_write(cur, table)


def note_write(cur: Any, table: str) -> None:
    """Statements that wrote a partition of `table` directly did not fire `table`'s statement
    triggers (the slice's version, migration 0066): a statement on `table` that writes no row does."""
    cur.execute(sql.SQL("DELETE FROM {} WHERE false").format(sql.Identifier(table)))
