"""`sales`' unique key is (sale_id, source, county) since migration 0062: the same uniqueness, an
upsert on (county, source, sale_id) still infers it, and the migration comes down and up."""

from __future__ import annotations

import uuid

from realestate_assets.db.migrate import downgrade, upgrade
from tests.databases import query

KEY = ("SELECT pg_get_indexdef(indexrelid) FROM pg_index "
       "WHERE indexrelid = 'sales_county_source_sale_id_key'::regclass")
INSERT = ("INSERT INTO sales (county, source, sale_id, parcel_id, sale_date, sale_price) "
          "VALUES (%s, 's', 'x1', 'p1', DATE '2026-01-01', %s) "
          "ON CONFLICT (county, source, sale_id) DO UPDATE SET sale_price = EXCLUDED.sale_price")


def test_the_key_has_county_last(database_url: str) -> None:
    [(definition,)] = query(database_url, KEY)
    assert definition.startswith("CREATE UNIQUE INDEX")
    assert definition.endswith("(sale_id, source, county)")


def test_an_upsert_on_the_key_still_infers_it(database_url: str) -> None:
    county = f"key_{uuid.uuid4().hex[:8]}"
    for price in (100, 200):
        query(database_url, INSERT, (county, price))
    try:
        assert query(database_url, "SELECT sale_price::int FROM sales WHERE county = %s", (county,)) == [(200,)]
    finally:
        query(database_url, "DELETE FROM sales WHERE county = %s", (county,))


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0062")
    downgrade(fresh_database, "0062-1")
    [(before,)] = query(fresh_database, KEY)
    assert before.endswith("(county, source, sale_id)")
    upgrade(fresh_database, "0062")
    [(after,)] = query(fresh_database, KEY)
    assert after.endswith("(sale_id, source, county)")
