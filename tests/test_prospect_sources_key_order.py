"""`prospect_sources`' unique key is (county, source_id, source) since migration 0063: the same
uniqueness, `county` still first, an upsert on (county, source, source_id) still infers it, and
the migration comes down and up."""

from __future__ import annotations

import uuid

from realestate_assets.db.migrate import downgrade, upgrade
from tests.databases import query

KEY = ("SELECT pg_get_indexdef(indexrelid) FROM pg_index "
       "WHERE indexrelid = 'prospect_sources_county_source_source_id_key'::regclass")
INSERT = ("INSERT INTO prospect_sources (county, prospect_key, source, source_id) "
          "VALUES (%s, %s, 's', 'x1') "
          "ON CONFLICT (county, source, source_id) DO UPDATE SET prospect_key = EXCLUDED.prospect_key")


def test_the_key_has_source_last(database_url: str) -> None:
    [(definition,)] = query(database_url, KEY)
    assert definition.startswith("CREATE UNIQUE INDEX")
    assert definition.endswith("(county, source_id, source)")


def test_an_upsert_on_the_key_still_infers_it(database_url: str) -> None:
    county = f"key_{uuid.uuid4().hex[:8]}"
    for prospect_key in ("p1", "p2"):
        query(database_url, INSERT, (county, prospect_key))
    try:
        assert query(database_url, "SELECT prospect_key FROM prospect_sources WHERE county = %s",
                     (county,)) == [("p2",)]
    finally:
        query(database_url, "DELETE FROM prospect_sources WHERE county = %s", (county,))


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0063")
    downgrade(fresh_database, "0063-1")
    [(before,)] = query(fresh_database, KEY)
    assert before.endswith("(county, source, source_id)")
    upgrade(fresh_database, "0063")
    [(after,)] = query(fresh_database, KEY)
    assert after.endswith("(county, source_id, source)")
