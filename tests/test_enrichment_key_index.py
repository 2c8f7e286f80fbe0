"""`enrichment` has one index on its county key (migration 0058): the unique constraint carries
`status` for the funnel's index-only scans, the separate covering index is gone, an upsert still
infers it, and the migration comes down and up again."""

from __future__ import annotations

import uuid

import psycopg2

from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.migrate import downgrade, upgrade
from tests.databases import psycopg2_dsn

INDEXES = ("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
           "WHERE indrelid = 'enrichment'::regclass ORDER BY 1")


def _indexes(url: str) -> dict[str, str]:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(INDEXES)
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_one_unique_key_index_that_covers_status(database_url: str) -> None:
    indexes = _indexes(database_url)
    on_key = {name: d for name, d in indexes.items() if "(county, prospect_key)" in d}
    assert list(on_key) == ["enrichment_county_prospect_key_key"], indexes
    assert on_key["enrichment_county_prospect_key_key"].startswith("CREATE UNIQUE INDEX")
    assert on_key["enrichment_county_prospect_key_key"].endswith("INCLUDE (status)")


def test_the_upsert_still_infers_the_key(database_url: str) -> None:
    county = f"key_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            ensure_county_partitions(cur, county)
            for status in ("failed", "enriched"):
                cur.execute("INSERT INTO enrichment (county, prospect_key, as_of_date, status) "
                            "VALUES (%s, 'k1', DATE '2026-01-01', %s) "
                            "ON CONFLICT (county, prospect_key) DO UPDATE SET status = EXCLUDED.status",
                            (county, status))
            cur.execute("SELECT status FROM enrichment WHERE county = %s", (county,))
            assert cur.fetchall() == [("enriched",)]
            cur.execute("DELETE FROM enrichment WHERE county = %s", (county,))
    finally:
        conn.close()


def test_the_migration_comes_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0057")
    before = _indexes(fresh_database)
    assert "ix_enrichment_county_key_cover" in before
    upgrade(fresh_database, "0058")
    after = _indexes(fresh_database)
    assert "ix_enrichment_county_key_cover" not in after
    downgrade(fresh_database, "0057")
    assert _indexes(fresh_database) == before
    upgrade(fresh_database, "0058")
    assert _indexes(fresh_database) == after
