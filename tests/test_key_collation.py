"""The pipeline's text key columns compare bytes (`COLLATE "C"`, migration 0054), consistently
across the tables that compare them, and the migration comes down and up again."""

from __future__ import annotations

import re
import uuid

import psycopg2
from psycopg2 import sql

from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.migrate import MIGRATIONS, downgrade, upgrade
from tests.databases import create_tenant, migration_module, psycopg2_dsn

# A key column of a table added later must be declared COLLATE "C" too, or its joins with these
# lose their indexes (an index serves a comparison in its own collation only).
KEY_NAMES = ("county", "prospect_key", "parcel_id", "sale_id", "source_id", "source")
NOT_KEYS = {("suppressions", "source")}  # a suppression's provenance, compared with no key

COLLATIONS = """
SELECT c.relname, a.attname, co.collname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
     AND c.relnamespace = current_schema()::regnamespace
JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (%s)
"""


def _key_columns(revision: str = "0054") -> dict[str, tuple[str, ...]]:
    """A migration's `KEY_COLUMNS` (0054's: the key columns it made `COLLATE "C"`)."""
    return migration_module(revision).KEY_COLUMNS


def _all_key_columns() -> set[tuple[str, str]]:
    """Every (table, key column) 0054 and the later migrations that add key columns declare."""
    revisions = sorted(path.name[:4] for path in (MIGRATIONS / "versions").glob("0*.py")
                       if path.name[:4] >= "0054" and re.search(r"^KEY_COLUMNS\b", path.read_text(), re.M))
    return {(table, column) for revision in revisions
            for table, columns in _key_columns(revision).items() for column in columns}


def _collations(url: str) -> dict[tuple[str, str], str]:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(COLLATIONS, (list(KEY_NAMES),))
            return {(table, column): collation for table, column, collation in cur.fetchall()}
    finally:
        conn.close()


def _policies(url: str) -> list[tuple]:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM pg_policies ORDER BY schemaname, tablename, policyname")
            return cur.fetchall()
    finally:
        conn.close()




def test_every_key_column_is_c_and_no_other_column_of_those_names(database_url: str) -> None:
    declared = _all_key_columns()
    found = _collations(database_url)
    assert declared <= set(found)  # the list names real columns
    assert {key: found[key] for key in declared} == dict.fromkeys(declared, "C")
    others = {key: collation for key, collation in found.items() if key not in declared}
    assert set(others) == NOT_KEYS, "a key column not in the KEY_COLUMNS of 0054 or a later migration"


def test_joins_and_policies_across_tables_compare_in_c(database_url: str) -> None:
    county = f"col_{uuid.uuid4().hex[:8]}"
    tenant = create_tenant(database_url)
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            # Byte order, whatever the server's locale: '_' (0x5F) sorts before 'b', upper before lower.
            keys = ["p_b", "pb", "pB", "p-1", "Pz"]
            ensure_county_partitions(cur, county)
            cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id) "
                        "SELECT %s, k, k FROM unnest(%s::text[]) AS k", (county, keys))
            cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date) "
                        "SELECT %s, 'src', 's' || k, k, 100000, DATE '2026-01-01' FROM unnest(%s::text[]) AS k",
                        (county, keys))
            cur.execute("INSERT INTO features (county, prospect_key, as_of_date) "
                        "SELECT %s, unnest(%s::text[]), DATE '2026-01-01'",
                        (county, keys))
            cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant, county))
            cur.execute("SELECT p.prospect_key FROM prospects p "
                        "JOIN sales s ON s.county = p.county AND s.parcel_id = p.parcel_id "
                        "JOIN features f ON f.county = p.county AND f.prospect_key = p.prospect_key "
                        "WHERE p.county = %s AND p.prospect_key IN (SELECT prospect_key FROM features) "
                        "ORDER BY p.prospect_key", (county,))
            assert [k for (k,) in cur.fetchall()] == sorted(keys)  # Python's order is code points too
            # The recreated RLS policy compares sales.county with subscriptions.county.
            cur.execute("SET LOCAL ROLE reos_api")
            cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
            cur.execute("SELECT count(*) FROM sales WHERE county = %s", (county,))
            assert cur.fetchone() == (len(keys),)
        with conn, conn.cursor() as cur:
            for table in ("features", "sales", "prospects", "subscriptions"):
                cur.execute(sql.SQL("DELETE FROM {} WHERE county = %s").format(sql.Identifier(table)), (county,))
    finally:
        conn.close()


def test_the_migration_comes_down_and_up_with_its_policies(fresh_database: str) -> None:
    upgrade(fresh_database, "0053")
    policies = _policies(fresh_database)
    assert set(_collations(fresh_database).values()) == {"default"}
    upgrade(fresh_database, "0054")
    assert _policies(fresh_database) == policies
    declared = {(table, column) for table, columns in _key_columns().items() for column in columns}
    assert {key for key, collation in _collations(fresh_database).items() if collation == "C"} == declared
    downgrade(fresh_database, "0053")
    assert set(_collations(fresh_database).values()) == {"default"}
    assert _policies(fresh_database) == policies
