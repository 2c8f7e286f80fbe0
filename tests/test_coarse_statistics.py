"""The tables ANALYZE samples coarsely (migrations 0057 and 0059, one rule): every analyzed column of
each listed table, and each listed expression index's column, is at the coarse target (one left at
the default would bring the 30,000-row sample back), the statistics come out that coarse, and each
migration comes down and up again."""

from __future__ import annotations

import re
import uuid
from types import ModuleType

import psycopg2

from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.migrate import MIGRATIONS, downgrade, upgrade
from tests.databases import migration_module, psycopg2_dsn
from tests.test_payload_statistics import _targets


def _migration(number: str = "0057") -> ModuleType:
    return migration_module(number)


def _index_target(url: str, index: str, column: int) -> int | None:
    """The statistics target of an index's column; None when the index does not exist."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(attstattarget, -1) FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                        "AND attnum = %s", (index, column))
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def _coarse_columns() -> dict[str, set[str]]:
    """Every table's coarse columns as 0057 and the later migrations that list some declare them
    (0059 added `prospects` and `scores`, 0061 a column of `enrichment`), each at one target."""
    numbers = sorted(path.name[:4] for path in (MIGRATIONS / "versions").glob("0*.py")
                     if path.name[:4] >= "0057" and re.search(r"^COARSE_COLUMNS\b", path.read_text(), re.M))
    modules = [_migration(number) for number in numbers]
    assert {module.TARGET for module in modules} == {_migration().TARGET}  # one coarse target
    tables: dict[str, set[str]] = {}
    for module in modules:
        for table, columns in module.COARSE_COLUMNS.items():
            tables.setdefault(table, set()).update(columns)
    return tables


def test_every_analyzed_column_of_a_coarse_table_is_at_the_target(database_url: str) -> None:
    """A column added to one of these tables comes at the default target: this fails until a
    migration lists it (or the table leaves the list). `prospects` and `scores` joined the rule in 0059."""
    first, second = _migration("0057"), _migration("0059")
    assert not first.COARSE_COLUMNS.keys() & second.COARSE_COLUMNS.keys()
    targets = _targets(database_url)
    for table, columns in _coarse_columns().items():
        live = {column: target for (t, column), target in targets.items() if t == table}
        assert set(columns) <= set(live), table  # the list names real columns
        analyzed = {column for column, target in live.items() if target != 0}  # 0: a payload column (0055)
        assert analyzed == set(columns), (table, analyzed ^ set(columns))
        assert {live[column] for column in columns} == {first.TARGET}, table
    assert {"prospects", "scores"} <= second.COARSE_COLUMNS.keys()
    for index, column in second.COARSE_INDEX_COLUMNS:  # analyzed with its table: its sample counts too
        assert _index_target(database_url, index, column) in (first.TARGET, None), index


def test_analyze_keeps_coarse_statistics(database_url: str) -> None:
    """The point of the target: at most TARGET histogram buckets for `features`, whose sample is
    then 300 × TARGET rows; `sales` (not listed) keeps the default's."""
    target = _migration().TARGET
    county = f"coarse_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            ensure_county_partitions(cur, county)
            cur.execute("INSERT INTO features (county, prospect_key, as_of_date, living_sqft) "
                        "SELECT %s, 'k' || i, DATE '2026-01-01', i FROM generate_series(1, 5000) AS i", (county,))
            cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date, living_sqft) "
                        "SELECT %s, 'src', 's' || i, 'p' || i, 100000, DATE '2026-01-01', i "
                        "FROM generate_series(1, 5000) AS i", (county,))
            cur.execute("ANALYZE features")
            cur.execute("ANALYZE sales")
            cur.execute("SELECT tablename, array_length(histogram_bounds::text::float8[], 1) FROM pg_stats "
                        "WHERE schemaname = current_schema() AND tablename IN ('features', 'sales') "
                        "AND attname = 'living_sqft'")
            buckets = dict(cur.fetchall())
            cur.execute("DELETE FROM features WHERE county = %s", (county,))
            cur.execute("DELETE FROM sales WHERE county = %s", (county,))
        assert buckets["features"] <= target + 1
        assert buckets["sales"] > target + 1
    finally:
        conn.close()


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    module = _migration()
    coarse = {(table, column) for table, columns in module.COARSE_COLUMNS.items() for column in columns}
    upgrade(fresh_database, "0056")
    before = _targets(fresh_database)
    assert {before[key] for key in coarse} == {-1}
    upgrade(fresh_database, "0057")
    after = _targets(fresh_database)
    assert {after[key] for key in coarse} == {module.TARGET}
    assert {key: t for key, t in after.items() if key not in coarse} == {key: t for key, t in before.items()
                                                                       if key not in coarse}
    downgrade(fresh_database, "0056")
    assert _targets(fresh_database) == before
    upgrade(fresh_database, "0057")
    assert _targets(fresh_database) == after


def test_the_prospects_and_scores_migration_comes_down_and_up(fresh_database: str) -> None:
    module = _migration("0059")
    coarse = {(table, column) for table, columns in module.COARSE_COLUMNS.items() for column in columns}
    upgrade(fresh_database, "0058")
    indexes = [(i, c) for i, c in module.COARSE_INDEX_COLUMNS if _index_target(fresh_database, i, c) is not None]
    before = _targets(fresh_database)
    assert {before[key] for key in coarse} == {-1}
    assert {_index_target(fresh_database, i, c) for i, c in indexes} <= {-1}
    upgrade(fresh_database, "0059")
    after = _targets(fresh_database)
    assert {after[key] for key in coarse} == {module.TARGET}
    assert {_index_target(fresh_database, i, c) for i, c in indexes} <= {module.TARGET}
    assert {key: t for key, t in after.items() if key not in coarse} == {key: t for key, t in before.items()
                                                                       if key not in coarse}
    downgrade(fresh_database, "0058")
    assert _targets(fresh_database) == before
    assert {_index_target(fresh_database, i, c) for i, c in indexes} <= {-1}
    upgrade(fresh_database, "0059")
    assert _targets(fresh_database) == after
