"""`prospect_sources`' primary key is its natural key (migration 0064): one index, which the
upsert still infers and a first load still defers and rebuilds; `id` is still filled; the migration
comes down and up."""

from __future__ import annotations

import uuid

import pandas as pd

from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.warehouse import Warehouse, sync_partition
from tests.databases import query

CONSTRAINTS = ("SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
               "WHERE conrelid = 'prospect_sources'::regclass AND contype IN ('p', 'u') ORDER BY conname")
INDEXES = "SELECT indexname FROM pg_indexes WHERE tablename = 'prospect_sources' ORDER BY indexname"
AT_HEAD = [("prospect_sources_pkey", "p", "PRIMARY KEY (county, source_id, source)")]
BEFORE = [("prospect_sources_county_source_source_id_key", "u", "UNIQUE (county, source_id, source)"),
          ("prospect_sources_pkey", "p", "PRIMARY KEY (id)")]


def test_one_index_the_natural_primary_key(database_url: str) -> None:
    assert query(database_url, CONSTRAINTS) == AT_HEAD
    assert query(database_url, INDEXES) == [("prospect_sources_pkey",)]


def test_the_links_write_upserts_on_the_key_and_fills_id(database_url: str) -> None:
    county = f"links_{uuid.uuid4().hex[:8]}"
    links = pd.DataFrame({"prospect_key": ["p1", "p2"], "source": ["s", "s"], "source_id": ["a", "b"],
                          "source_ref": ["r1", "r2"], "matched_on": ["parcel", "address"]})
    wh = Warehouse(database_url)
    try:
        for frame in (links, links.assign(prospect_key=["p1", "p3"]).iloc[[1]]):
            with wh.transaction() as conn:
                sync_partition(conn, "prospect_sources", frame, county=county, keys=["source", "source_id"])
        rows = query(database_url, "SELECT source_id, prospect_key, id IS NOT NULL FROM prospect_sources "
                                   "WHERE county = %s ORDER BY source_id", (county,))
        assert rows == [("b", "p3", True)]  # the update found its row by the key; 'a' no longer produced
    finally:
        query(database_url, "DELETE FROM prospect_sources WHERE county = %s", (county,))
        wh.dispose()


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0064")
    assert query(fresh_database, CONSTRAINTS) == AT_HEAD
    downgrade(fresh_database, "0063")
    assert query(fresh_database, CONSTRAINTS) == BEFORE
    upgrade(fresh_database, "0064")
    assert query(fresh_database, CONSTRAINTS) == AT_HEAD
