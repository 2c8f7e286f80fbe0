"""Tables partitioned by county (migration 0069, db/county_partitions.py): a county's first load
goes into a table of its own, keyed and indexed after its rows, attached as its partition; a
repeated key or a failed audit leaves nothing behind; a row of a county without a partition is
refused until one is made; the API role reads only through the parent; the migration comes down
and up with its rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg2
import psycopg2.errors
import pytest

from realestate_assets.db.county_partitions import (
    county_partition,
    county_partition_name,
    ensure_county_partition,
    partition_index_name,
    partitioned_by_county,
)
from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.slice_versions import version_keys
from realestate_assets.db.warehouse import AuditResult, Warehouse, sync_partition
from tests.databases import migration_module, psycopg2_dsn, query

KEYS = ["source", "sale_id"]


@pytest.fixture
def county() -> str:
    return f"cp_{uuid.uuid4().hex[:8]}"


def sales(ids: list[str], price: float = 500_000.0) -> pd.DataFrame:
    return pd.DataFrame({"source": "assessor", "sale_id": ids, "parcel_id": [f"p{i}" for i in ids],
                         "sale_price": price, "sale_date": pd.Timestamp("2025-03-01").date(),
                         "latitude": 47.6, "longitude": -122.3, "beds": 3.0})


def sync(warehouse: Warehouse, county: str, frame: pd.DataFrame, audit=None):
    with warehouse.transaction() as conn:
        return sync_partition(conn, "sales", frame, county=county, keys=KEYS, audit=audit)


def partition(url: str, county: str, table: str = "sales") -> str | None:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            return county_partition(cur, table, county).name
    finally:
        conn.close()


# Each index of a partition (valid, attached to its table's) and the key constraint it backs, if any.
PARTITION_INDEXES = """
SELECT child.relname::text, coalesce(k.conname::text, '') FROM pg_inherits i
JOIN pg_index x ON x.indexrelid = i.inhrelid AND x.indisvalid JOIN pg_class child ON child.oid = i.inhrelid
LEFT JOIN pg_constraint k ON k.conindid = child.oid AND k.conrelid = x.indrelid
WHERE x.indrelid = %s::regclass ORDER BY 1
"""


def _partition_indexes(url: str, partition: str) -> list[tuple[object, ...]]:
    return query(url, PARTITION_INDEXES, (partition,))


def _expected_indexes(url: str, table: str, county: str) -> list[tuple[str, str]]:
    """The table's indexes under their partition names, each key's constraint under the same name."""
    parents = query(url, "SELECT x.indexrelid::regclass::text, EXISTS (SELECT 1 FROM pg_constraint k "
                         "WHERE k.conindid = x.indexrelid) FROM pg_index x WHERE x.indrelid = %s::regclass", (table,))
    return sorted((partition_index_name(name, county), partition_index_name(name, county) if key else "")
                  for name, key in parents)


def test_the_partition_name_is_short_readable_and_told_apart_by_hash() -> None:
    assert county_partition_name("sales", "king_wa").startswith("sales__king_wa_")
    long = "x" * 200
    assert len(county_partition_name("prospect_sources", long)) <= 55
    assert county_partition_name("sales", "King WA") != county_partition_name("sales", "king_wa")
    assert partition_index_name("ix_sales_location", "king_wa").startswith("ix_sales_location_")
    assert len(partition_index_name("i" * 80, "king_wa")) == 63


def test_a_first_load_makes_the_county_its_own_indexed_partition(warehouse: Warehouse, database_url: str,
                                                                 county: str) -> None:
    with warehouse.transaction() as conn, conn.cursor() as cur:
        before = version_keys(cur, ["sales"], county)["sales"]
    stats = sync(warehouse, county, sales([str(i) for i in range(1500)]))
    assert (stats.inserted, stats.published) == (1500, True)
    own = partition(database_url, county)
    assert own == county_partition_name("sales", county)
    assert query(database_url, f"SELECT count(*) FROM {own}") == [(1500,)]
    # Every index of the parent has its partition's, valid; no CHECK of the load is left.
    assert _partition_indexes(database_url, own) == _expected_indexes(database_url, "sales", county)
    assert query(database_url, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
                 (own,)) == [("sales_sale_price_check",)]
    # The parent's statistics targets (migration 0068), its row trigger, and statistics taken.
    assert query(database_url, "SELECT attstattarget FROM pg_attribute WHERE attrelid = %s::regclass "
                               "AND attname = 'beds'", (own,)) == [(0,)]
    assert query(database_url, "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass "
                               "AND tgname = 'sales_updated_at'", (own,)) == [(1,)]
    assert query(database_url, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (own,)) == [(1500,)]
    # Its rows written frozen (COPY's FREEZE into the table the load made): every page all-visible
    # at once, for index-only scans; each row's xmin still the load's, which slice versions read.
    assert query(database_url, "SELECT relpages > 0 AND relallvisible = relpages FROM pg_class "
                               "WHERE oid = %s::regclass", (own,)) == [(True,)]
    assert query(database_url, f"SELECT count(DISTINCT xmin::text), bool_and(xmin::text::bigint > 2) FROM {own}") \
        == [(1, True)]
    # The slice's version moved (the COPY went into a table of its own: a statement on the parent said it).
    with warehouse.transaction() as conn, conn.cursor() as cur:
        assert version_keys(cur, ["sales"], county)["sales"] != before
    # A re-run upserts into the partition: one changed row, one gone, one new.
    again = sync(warehouse, county, pd.concat([sales(["0"], price=600_000.0), sales([str(i) for i in range(2, 1501)])]))
    assert (again.inserted, again.updated, again.deleted) == (1, 1, 1)
    assert query(database_url, f"SELECT count(*) FROM {own}") == [(1500,)]


def test_a_repeated_key_or_a_failed_audit_leaves_no_partition(warehouse: Warehouse, database_url: str,
                                                             county: str) -> None:
    with pytest.raises(ValueError, match="duplicate natural keys"):
        sync(warehouse, county, sales(["1", "2", "1"]))
    assert partition(database_url, county) is None

    def failing(conn, stage: str) -> list[AuditResult]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {stage}")
            assert cur.fetchone()[0] == 2
        return [AuditResult(name="no", passed=False, description="refused")]

    stats = sync(warehouse, county, sales(["1", "2"]), audit=failing)
    assert stats.published is False
    assert partition(database_url, county) is None
    assert query(database_url, "SELECT count(*) FROM sales WHERE county = %s", (county,)) == [(0,)]


def test_a_row_of_a_county_without_a_partition_is_refused_until_one_is_made(
        warehouse: Warehouse, database_url: str, county: str) -> None:
    insert = ("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date) "
              "VALUES (%s, 'assessor', '1', 'p1', 1, DATE '2025-01-01')")
    with pytest.raises(psycopg2.errors.CheckViolation, match="no partition"):
        query(database_url, insert, (county,))
    with warehouse.transaction() as conn, conn.cursor() as cur:
        made = ensure_county_partition(cur, "sales", county)
        assert ensure_county_partition(cur, "sales", county) == made  # once
    query(database_url, insert, (county,))
    assert query(database_url, f"SELECT count(*) FROM {made}") == [(1,)]
    stats = sync(warehouse, county, sales(["1", "2"]))  # not a first load: upserted in the partition
    assert (stats.inserted, stats.updated) == (1, 1)
    query(database_url, "DELETE FROM sales WHERE county = %s", (county,))
    # An emptied partition takes a first load as it is (row by row into its indexes).
    assert sync(warehouse, county, sales(["3"])).inserted == 1
    assert partition(database_url, county) == made
    assert query(database_url, f"SELECT sale_id FROM {made}") == [("3",)]


def test_the_tables_partitioned_by_county_are_the_migrations(warehouse: Warehouse) -> None:
    with warehouse.transaction() as conn, conn.cursor() as cur:
        assert partitioned_by_county(cur) == sorted(migration_module("0069").TABLES)
        assert county_partition(cur, "ml_models", "king_wa") is None  # not partitioned


def test_the_api_role_reads_a_partition_only_through_its_table(warehouse: Warehouse, database_url: str,
                                                               county: str) -> None:
    sync(warehouse, county, sales(["1"]))
    own = partition(database_url, county)
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn.cursor() as cur:
            cur.execute("SET ROLE reos_api")
            cur.execute("SELECT count(*) FROM sales WHERE county = %s", (county,))
            assert cur.fetchone()[0] == 0  # row-level security: no tenant subscribes to it
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"SELECT count(*) FROM {own}")
    finally:
        conn.close()


# One row a table, for the migration's test: the columns each table requires.
ROWS = {
    "sales": ("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date) "
              "VALUES (%s, 'assessor', %s, 'p', 1, DATE '2025-01-01')"),
    "prospects": "INSERT INTO prospects (county, prospect_key, parcel_id) VALUES (%s, %s, 'p')",
    "prospect_sources": ("INSERT INTO prospect_sources (county, prospect_key, source, source_id) "
                         "SELECT %s, k, 's', k FROM (VALUES (%s)) AS v (k)"),
    "enrichment": ("INSERT INTO enrichment (county, prospect_key, as_of_date, status) "
                   "VALUES (%s, %s, '2025-01-01', 'enriched')"),
    "features": "INSERT INTO features (county, prospect_key, as_of_date) VALUES (%s, %s, DATE '2025-01-01')",
    "scores": ("INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, model_version) "
               "VALUES (%s, %s, DATE '2025-01-01', 50, 1, 'm')"),
}
ROWS_READ = "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t"  # every row, every column
SHAPE = """
SELECT (SELECT array_agg(conname || ' ' || pg_get_constraintdef(oid) ORDER BY conname)
        FROM pg_constraint WHERE conrelid = %(t)s::regclass),
       (SELECT array_agg(indexrelid::regclass::text || ' ' || regexp_replace(pg_get_indexdef(indexrelid), ' ONLY ', ' ')
                         ORDER BY indexrelid::regclass::text)
        FROM pg_index WHERE indrelid = %(t)s::regclass),
       (SELECT array_agg(a.attname || ' ' || a.attstattarget ORDER BY a.attname) FROM pg_attribute a
        WHERE a.attrelid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %(t)s::regclass)
          AND a.attstattarget >= 0),
       (SELECT array_agg(a.attname || ' ' || a.attstattarget ORDER BY a.attname) FROM pg_attribute a
        WHERE a.attrelid = %(t)s::regclass AND a.attstattarget >= 0 AND NOT a.attisdropped),
       (SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger
        WHERE tgrelid = %(t)s::regclass AND NOT tgisinternal),
       (SELECT array_agg(policyname || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '')
                         ORDER BY policyname)
        FROM pg_policies WHERE tablename = %(t)s),
       (SELECT array_agg(grantee || ' ' || privilege_type ORDER BY grantee, privilege_type)
        FROM information_schema.role_table_grants WHERE table_name = %(t)s),
       (SELECT array[relrowsecurity, relforcerowsecurity] FROM pg_class WHERE oid = %(t)s::regclass),
       (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
                         || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                         || ' ' || coalesce(col_description(a.attrelid, a.attnum), '') ORDER BY a.attnum)
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %(t)s::regclass AND a.attnum > 0 AND NOT a.attisdropped)
"""


def _shape(url: str, table: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(SHAPE, {"t": table})
            return list(cur.fetchone())
    finally:
        conn.close()


def test_the_migration_comes_down_and_up_with_its_rows(fresh_database: str) -> None:
    module = migration_module("0069")
    upgrade(fresh_database, "0068")
    for table in module.TABLES:
        for county, key in (("king_wa", "1"), ("king_wa", "2"), ("o'hare_il", "3")):
            query(fresh_database, ROWS[table], (county, key))
    rows = {table: query(fresh_database, ROWS_READ.format(table)) for table in module.TABLES}
    before = {table: _shape(fresh_database, table) for table in module.TABLES}
    upgrade(fresh_database, "0069")
    names = {"king_wa", "o'hare_il"}
    for table in module.TABLES:
        assert query(fresh_database, ROWS_READ.format(table)) == rows[table]
        own = {county_partition_name(table, c) for c in names}
        assert own == {module._partition_name(table, c) for c in names}
        attached = query(fresh_database, "SELECT inhrelid::regclass::text FROM pg_inherits "
                                         "WHERE inhparent = %s::regclass", (table,))
        assert set(attached) == {(n,) for n in own}
        for county in names:  # each partition's indexes (and keys) under the table's names
            expected = _expected_indexes(fresh_database, table, county)
            assert _partition_indexes(fresh_database, county_partition_name(table, county)) == expected
        after = _shape(fresh_database, table)
        [key] = [c for c in after[0] if c.startswith(f"{table}_pkey ")]
        assert key in (f"{table}_pkey PRIMARY KEY (id, county)",
                       "prospect_sources_pkey PRIMARY KEY (county, source_id, source)")  # held `county` already
        for shown, was in zip(after[:2], before[table][:2], strict=True):  # keys, indexes: all but the primary key
            assert [c for c in shown if "_pkey " not in c] == [c for c in was if "_pkey " not in c]
        assert after[2:] == before[table][2:]  # index and column targets, triggers, RLS, grants, columns
    downgrade(fresh_database, "0068")
    for table in module.TABLES:
        assert query(fresh_database, ROWS_READ.format(table)) == rows[table]
        assert _shape(fresh_database, table) == before[table]
    upgrade(fresh_database)
    # Migration 0070: each table analyzed as a whole, not left until its next write.
    for table in module.TABLES:
        assert query(fresh_database, "SELECT count(*) > 0 FROM pg_stats WHERE tablename = %s AND inherited",
                     (table,)) == [(True,)], table


def test_a_prospects_partition_keeps_the_search_index_target(warehouse: Warehouse, database_url: str,
                                                             county: str) -> None:
    frame = pd.DataFrame({"prospect_key": ["a", "b"], "parcel_id": ["a", "b"], "address": ["1 Main St", "2 Elm St"],
                          "latitude": 47.6, "longitude": -122.3, "sources": [["s"]] * 2})
    generation = "SELECT coalesce(sum(weight), 0) FROM cache_bumps WHERE scope = %s"
    with warehouse.transaction() as conn:
        stats = sync_partition(conn, "prospects", frame, county=county, keys=["prospect_key"])
    assert stats.inserted == 2
    # The API's cache generation of the county moved (migration 0037's triggers, not fired by the
    # load into a table of its own: county_partitions.note_write), at the first load and at a change.
    assert query(database_url, generation, (f"c:{county}",)) == [(1,)]
    with warehouse.transaction() as conn:
        sync_partition(conn, "prospects", frame.assign(address="3 Oak St"), county=county, keys=["prospect_key"])
    assert query(database_url, generation, (f"c:{county}",)) == [(2,)]
    with warehouse.transaction() as conn:  # nothing written: no bump
        assert sync_partition(conn, "prospects", frame.assign(address="3 Oak St"), county=county,
                              keys=["prospect_key"]).unchanged == 2
    assert query(database_url, generation, (f"c:{county}",)) == [(2,)]
    own = partition(database_url, county, "prospects")
    # Migration 0059's target on the trigram index's expression, carried to the partition's index.
    assert query(database_url, "SELECT a.attstattarget FROM pg_index x "
                               "JOIN pg_attribute a ON a.attrelid = x.indexrelid "
                               "WHERE x.indrelid = %s::regclass AND x.indexprs IS NOT NULL", (own,)) == [(10,)]


def test_first_loads_of_two_counties_at_once_both_land_and_readers_go_on(database_url: str) -> None:
    """An attach holds SHARE UPDATE EXCLUSIVE on the table until its commit: another county's first
    load waits for that commit at its own attach (no deadlock: there is no DEFAULT partition that
    both would lock), and a reader of the table is not held meanwhile."""
    import threading

    first, second, seen = (f"cp_{uuid.uuid4().hex[:8]}" for _ in range(3))
    holder = psycopg2.connect(psycopg2_dsn(database_url))
    other = psycopg2.connect(psycopg2_dsn(database_url))
    reader = psycopg2.connect(psycopg2_dsn(database_url))
    errors: list[BaseException] = []

    def second_load() -> None:
        try:
            with other.cursor() as cur:
                cur.execute("SET lock_timeout = '120s'")
            sync_partition(other, "sales", sales(["1", "2"]), county=second, keys=KEYS)
            other.commit()
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
            other.rollback()

    try:
        with holder.cursor() as cur:
            cur.execute("SET lock_timeout = '120s'")
        assert sync_partition(holder, "sales", sales(["1"]), county=first, keys=KEYS).inserted == 1
        thread = threading.Thread(target=second_load)
        thread.start()
        with reader.cursor() as cur:  # the table is read while the first attach is not committed
            cur.execute("SET lock_timeout = '30s'")
            cur.execute("SELECT count(*) FROM sales WHERE county = %s", (seen,))
            assert cur.fetchone() == (0,)
        reader.rollback()
        holder.commit()
        thread.join(timeout=180)
        assert not thread.is_alive() and errors == []
        assert partition(database_url, first) and partition(database_url, second)
        assert query(database_url, "SELECT count(*) FROM sales WHERE county = %s", (second,)) == [(2,)]
    finally:
        for conn in (holder, other, reader):
            conn.close()
        query(database_url, "DELETE FROM sales WHERE county IN (%s, %s)", (first, second))


@pytest.fixture
def counted_table(database_url: str) -> Iterator[str]:
    """A table of its own partitioned by county, so that its whole-table statistics are this test's."""
    table = f"cp_rows_{uuid.uuid4().hex[:8]}"
    query(database_url, f"CREATE TABLE {table} (id bigserial, county text NOT NULL, k text NOT NULL, v int, "
                        f"PRIMARY KEY (id, county), UNIQUE (county, k)) PARTITION BY LIST (county)")
    yield table
    query(database_url, f"DROP TABLE {table}")


def _rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"k": [f"k{i}" for i in range(n)], "v": range(n)})


def _whole_table_estimate(url: str, table: str) -> tuple[float, int]:
    """The table's own row estimate (-1: never analyzed) and how many columns it has statistics of."""
    return query(url, "SELECT reltuples, (SELECT count(*) FROM pg_stats WHERE tablename = %s AND inherited) "
                      "FROM pg_class WHERE oid = %s::regclass", (table, table))[0]


def _analyzed(url: str, table: str, county: str) -> tuple[int, int]:
    """How many times the county's partition was analyzed, and how many columns it has statistics of."""
    own = partition(url, county, table)
    return query(url, "SELECT analyze_count, (SELECT count(*) FROM pg_stats WHERE tablename = %s AND NOT inherited) "
                      "FROM pg_stat_user_tables WHERE relid = %s::regclass", (own, own))[0]


def test_a_write_refreshes_its_tables_whole_statistics_once_stale(warehouse: Warehouse, database_url: str,
                                                                  counted_table: str) -> None:
    """Autovacuum never analyzes a partitioned table: after the commit the write analyzes the table
    as a whole when its statistics are missing or count under half its rows, and not otherwise. A
    county's new partition is analyzed once: by the table's ANALYZE when there is one (it analyzes
    every partition), else alone; not in its load's transaction too."""
    def load(county: str, frame: pd.DataFrame) -> None:
        with warehouse.transaction() as conn:
            sync_partition(conn, counted_table, frame, county=county, keys=["k"])

    load("a", _rows(2_000))
    assert _whole_table_estimate(database_url, counted_table) == (2_000, 4)  # id, county, k, v
    assert _analyzed(database_url, counted_table, "a") == (1, 4)
    load("b", _rows(1_500))  # 3,500 rows, 2,000 estimated: not under half
    assert _whole_table_estimate(database_url, counted_table) == (2_000, 4)
    assert _analyzed(database_url, counted_table, "b") == (1, 4)  # alone
    assert _analyzed(database_url, counted_table, "a") == (1, 4)
    load("c", _rows(5_000))  # 8,500 rows: under half
    assert _whole_table_estimate(database_url, counted_table)[0] == 8_500
    assert _analyzed(database_url, counted_table, "c") == (1, 4)
    load("d", _rows(500))  # too few rows to pay for statistics (STATISTICS_MIN_ROWS)
    assert _analyzed(database_url, counted_table, "d") == (0, 0)
    assert query(database_url, f"EXPLAIN (FORMAT JSON) SELECT * FROM {counted_table} x JOIN {counted_table} y "
                               f"USING (county, k)")[0][0][0]["Plan"]["Plan Rows"] == pytest.approx(8_500, rel=0.5)


def test_a_lock_held_elsewhere_leaves_the_refresh_to_the_next_write(warehouse: Warehouse, database_url: str,
                                                                    counted_table: str) -> None:
    """The refresh runs after the write's commit and waits for another transaction's lock only
    STATISTICS_LOCK_TIMEOUT: the write stands, and the next write refreshes the statistics."""
    with warehouse.transaction() as conn, conn.cursor() as cur:
        other = ensure_county_partition(cur, counted_table, "other")
    holder = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with holder.cursor() as cur:  # as another county's ANALYZE of its partition holds it
            cur.execute(f"LOCK TABLE {other} IN SHARE UPDATE EXCLUSIVE MODE")
        with warehouse.transaction() as conn:
            assert sync_partition(conn, counted_table, _rows(2_000), county="a", keys=["k"]).inserted == 2_000
        assert query(database_url, f"SELECT count(*) FROM {counted_table}") == [(2_000,)]
        assert _whole_table_estimate(database_url, counted_table)[1] == 0  # no statistics
        assert _analyzed(database_url, counted_table, "a") == (1, 4)  # its new partition's, alone
    finally:
        holder.close()
    with warehouse.transaction() as conn:  # unchanged rows: the write is the upsert's
        assert sync_partition(conn, counted_table, _rows(2_000), county="a", keys=["k"]).unchanged == 2_000
    assert _whole_table_estimate(database_url, counted_table) == (2_000, 4)


def test_counties_written_at_once_refresh_the_statistics_without_deadlock(warehouse: Warehouse, database_url: str,
                                                                         counted_table: str) -> None:
    """Each write's refresh runs after its commit, in a transaction of its own, so it never holds a
    lock another county's write waits for while waiting itself: counties loaded and re-loaded at
    once all land, and the table ends analyzed."""
    import threading

    errors: list[BaseException] = []

    def loads(county: str) -> None:
        try:
            for round_ in range(3):  # a first load, then upserts with every row changed
                frame = _rows(1_500).assign(v=lambda f, r=round_: f["v"] + r)
                with warehouse.transaction() as conn:
                    sync_partition(conn, counted_table, frame, county=county, keys=["k"])
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=loads, args=(c,)) for c in ("a", "b", "c", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert query(database_url, f"SELECT county, count(*), sum(v) FROM {counted_table} GROUP BY 1 ORDER BY 1") == [
        (c, 1_500, sum(range(1_500)) + 2 * 1_500) for c in ("a", "b", "c", "d")]
    with warehouse.transaction() as conn:  # whatever the lock waits skipped, a write leaves it analyzed
        sync_partition(conn, counted_table, _rows(1_500).assign(v=lambda f: f["v"] + 2), county="a", keys=["k"])
    estimate, statistics = _whole_table_estimate(database_url, counted_table)
    assert statistics == 4 and estimate >= 3_000
