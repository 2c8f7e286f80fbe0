"""`sales`' and `prospect_sources`' unique keys with their constant columns moved back (migration
0062): the same uniqueness, an upsert on the old column order still infers each, and the migration
comes down and up."""

from __future__ import annotations

import uuid

import pytest

from realestate_assets.db.migrate import downgrade, upgrade
from tests.databases import county_partitions, query

KEY = "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid = %s::regclass"
# table → (constraint, its columns before 0062, after)
KEYS = {
    "sales": ("sales_county_source_sale_id_key", "(county, source, sale_id)", "(sale_id, source, county)"),
    "prospect_sources": ("prospect_sources_county_source_source_id_key", "(county, source, source_id)",
                         "(county, source_id, source)"),
}
# The index that holds each key at head: `prospect_sources`' became its primary key (migration 0064).
AT_HEAD = {"sales": KEYS["sales"][0], "prospect_sources": "prospect_sources_pkey"}
# An upsert on the key as the writers name it (the old order); the second value wins.
UPSERTS = {
    "sales": ("INSERT INTO sales (county, source, sale_id, parcel_id, sale_date, sale_price) "
              "VALUES (%s, 's', 'x1', 'p1', DATE '2026-01-01', %s) "
              "ON CONFLICT (county, source, sale_id) DO UPDATE SET sale_price = EXCLUDED.sale_price",
              "SELECT sale_price::int FROM sales WHERE county = %s", (100, 200)),
    "prospect_sources": ("INSERT INTO prospect_sources (county, prospect_key, source, source_id) "
                         "VALUES (%s, %s, 's', 'x1') "
                         "ON CONFLICT (county, source, source_id) DO UPDATE SET prospect_key = EXCLUDED.prospect_key",
                         "SELECT prospect_key FROM prospect_sources WHERE county = %s", ("p1", "p2")),
}


def _definition(url: str, table: str, name: str | None = None) -> str:
    [(definition,)] = query(url, KEY, (name or KEYS[table][0],))
    assert definition.startswith("CREATE UNIQUE INDEX")
    return definition


@pytest.mark.parametrize("table", KEYS)
def test_the_key_has_its_constant_columns_later(database_url: str, table: str) -> None:
    assert _definition(database_url, table, AT_HEAD[table]).endswith(KEYS[table][2])


@pytest.mark.parametrize("table", KEYS)
def test_an_upsert_on_the_key_still_infers_it(database_url: str, table: str) -> None:
    insert, read, values = UPSERTS[table]
    county = f"key_{uuid.uuid4().hex[:8]}"
    county_partitions(database_url, county)
    try:
        for value in values:
            query(database_url, insert, (county, value))
        assert query(database_url, read, (county,)) == [(values[-1],)]
    finally:
        query(database_url, f"DELETE FROM {table} WHERE county = %s", (county,))


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0062")
    downgrade(fresh_database, "0061")
    assert {table: _definition(fresh_database, table)[-len(old):] for table, (_, old, _) in KEYS.items()} == \
        {table: old for table, (_, old, _) in KEYS.items()}
    upgrade(fresh_database, "0062")
    assert all(_definition(fresh_database, table).endswith(new) for table, (_, _, new) in KEYS.items())
