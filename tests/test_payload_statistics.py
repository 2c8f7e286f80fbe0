"""The payload columns ANALYZE skips (`SET STATISTICS 0`, migrations 0055 and 0068): every listed
column is at target 0, no other column of the pipeline's tables is, and each migration comes down
and up again."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2

from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.migrate import downgrade, upgrade
from tests.databases import migration_module, psycopg2_dsn

# attstattarget: 0 = skipped by ANALYZE; -1 (PostgreSQL < 17) or NULL (17+) = the default target.
TARGETS = """
SELECT c.relname, a.attname, coalesce(a.attstattarget, -1)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
     AND c.relnamespace = current_schema()::regnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
"""


def _migration(number: str) -> Any:
    return migration_module(number)


def _listed(columns: dict[str, tuple[str, ...]]) -> set[tuple[str, str]]:
    return {(table, column) for table, names in columns.items() for column in names}


def _payload_columns(head: bool = True) -> set[tuple[str, str]]:
    """0055's list; at the head, without the columns later migrations dropped and with the ones they added."""
    listed = _listed(_migration("0055").PAYLOAD_COLUMNS)
    if head:
        for number in ("0060", "0061", "0063", "0068"):
            later = _migration(number)
            listed = (listed - _listed(later.DROPPED_COLUMNS)) | _listed(later.PAYLOAD_COLUMNS)
    return listed


def _targets(url: str) -> dict[tuple[str, str], int]:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(TARGETS)
            return {(table, column): target for table, column, target in cur.fetchall()}
    finally:
        conn.close()


def _skipped(url: str) -> set[tuple[str, str]]:
    return {key for key, target in _targets(url).items() if target == 0}




def test_only_the_listed_payload_columns_are_skipped(database_url: str) -> None:
    targets = _targets(database_url)
    payload = _payload_columns()
    assert payload <= set(targets)  # the list names real columns
    assert _skipped(database_url) == payload


def _analyzed(database_url: str, table: str, insert: str) -> set[str]:
    """The columns of `table` that have statistics after `insert` (its one parameter: a county of
    its own) added rows and `table` was analyzed; the rows are deleted again."""
    county = f"pay_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            ensure_county_partitions(cur, county)
            cur.execute(insert, (county,))
            cur.execute(f"ANALYZE {table}")
            cur.execute("SELECT attname FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s",
                        (table,))
            analyzed = {name for (name,) in cur.fetchall()}
            cur.execute(f"DELETE FROM {table} WHERE county = %s", (county,))
        return analyzed
    finally:
        conn.close()


def test_analyze_leaves_the_payload_columns_out(database_url: str) -> None:
    """The point of the list: after ANALYZE, pg_stats has no row for a payload column and one for
    the columns beside it that plans use (`score_breakdown` among them: on-demand reasons' update
    filters on it being NULL)."""
    analyzed = _analyzed(database_url, "scores",
                         "INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
                         "model_version, equity_percentile, score_breakdown) "
                         "SELECT %s, 'k' || i, DATE '2026-01-01', i %% 100, i, 'v1', i / 50.0, '[\"r\"]' "
                         "FROM generate_series(1, 50) AS i")
    assert {"county", "prospect_key", "bird_dog_score", "score_rank", "score_breakdown"} <= analyzed
    assert not analyzed & {column for table, column in _payload_columns() if table == "scores"}


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0054")
    before = _targets(fresh_database)
    assert _skipped(fresh_database) == set()
    upgrade(fresh_database, "0055")
    assert _skipped(fresh_database) == _payload_columns(head=False)
    downgrade(fresh_database, "0054")
    assert _targets(fresh_database) == before
    upgrade(fresh_database, "0055")
    assert _skipped(fresh_database) == _payload_columns(head=False)


def test_analyze_of_sales_leaves_its_payload_columns_out(database_url: str) -> None:
    """`sales`' payload (0068): no statistics after ANALYZE. The columns the comps' pool and the
    last sale per parcel filter, join or sort on keep theirs, and so do `sale_price` and
    `neighborhood`, whose widths the comps' candidate query is planned with."""
    analyzed = _analyzed(database_url, "sales",
                         "INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date, use_type, "
                         "neighborhood, living_sqft, beds, baths, latitude, longitude, address, city, source_ref) "
                         "SELECT %s, 'src', 's' || i, 'p' || i, 100000 + i, DATE '2020-01-01' + i, 'sfr', "
                         "'n' || (i %% 5), 1000 + i, 3, 2, 47.5 + i / 1000.0, -122.3, i || ' Main St', 'Seattle', "
                         "'row ' || i FROM generate_series(1, 50) AS i")
    assert {"county", "sale_id", "parcel_id", "sale_date", "use_type", "living_sqft", "latitude", "longitude",
            "sale_price", "neighborhood"} <= analyzed
    assert not analyzed & set(_migration("0068").PAYLOAD_COLUMNS["sales"])


def test_the_sales_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0067")
    before = _targets(fresh_database)
    sales = _listed(_migration("0068").PAYLOAD_COLUMNS)
    assert not _skipped(fresh_database) & sales
    upgrade(fresh_database, "0068")
    assert _skipped(fresh_database) - sales == {key for key, target in before.items() if target == 0}
    assert sales <= _skipped(fresh_database)
    downgrade(fresh_database, "0067")
    assert _targets(fresh_database) == before
