"""`enrichment`'s source statuses once per distinct document (migration 0061, docs/scale.md
"Twenty-eighth round (a)"): the writer's ids (one document per distinct status set, none added
twice, the unused pruned), the readers' document, and the migration both ways."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import psycopg2
import pyarrow as pa

from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.tenancy import COUNTY_SCOPED_TABLES, PUBLIC_TABLES
from realestate_assets.enrich.source_statuses import SourceStatusIds, columns_sql, source_status_sql
from tests.databases import psycopg2_dsn, query

SKIPPED = {"attom": {"reason": "environment variable ATTOM_API_KEY is not set", "status": "skipped"},
           "market": {"status": "ok"}}
NO_MATCH = {"attom": {"reason": "environment variable ATTOM_API_KEY is not set", "status": "skipped"},
            "market": {"status": "no_match"}}


def test_a_countys_documents_are_written_once_and_pruned(database_url: str) -> None:
    """Each distinct text gets its document's id (texts jsonb holds equal share one); a second
    writer of the county (a re-run) finds the same ids, adds nothing; `prune` deletes the documents
    the slice's rows no longer name, and only the county's."""
    county, other = (f"ss_{uuid.uuid4().hex[:8]}" for _ in range(2))
    texts = [json.dumps(SKIPPED), json.dumps(NO_MATCH), json.dumps(SKIPPED)]
    reordered = json.dumps(dict(reversed(list(SKIPPED.items()))))  # the same document as jsonb
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn:
            SourceStatusIds(conn, other).ids([json.dumps(SKIPPED)])
            first = SourceStatusIds(conn, county)
            ids = first.ids(pd.Series(texts))
            assert ids[0] == ids[2] != ids[1]
            # Arrow text (the local shortcut's chunks), chunked, and a reordered equal document.
            assert list(first.ids(pa.chunked_array([[texts[1]], [reordered]]))) == [ids[1], ids[0]]
        with conn:
            again = SourceStatusIds(conn, county)
            assert list(again.ids(texts[:1])) == [ids[0]]  # found, not added
            assert again.prune() == 1  # the no-match document: no row of this run names it
        assert query(database_url, "SELECT id, source_status FROM enrichment_source_statuses WHERE county = %s",
                     (county,)) == [(ids[0], SKIPPED)]
        assert len(query(database_url, "SELECT 1 FROM enrichment_source_statuses WHERE county = %s", (other,))) == 1
    finally:
        conn.close()


def test_a_chunk_of_many_documents_and_a_long_one(database_url: str) -> None:
    """Statuses that vary per row (a failing source's reasons) are looked up together, and a
    document past the B-tree's ≈2.7 kB entry limit (a long failure reason) is stored like any
    other: the key is its md5."""
    county = f"ss_{uuid.uuid4().hex[:8]}"
    failed = [{"attom": {"status": "failed", "reason": f"HTTPError: 503 for parcel {n}"}} for n in range(300)]
    long = {"attom": {"status": "failed", "reason": "x" * 3000 + uuid.uuid4().hex * 40}}  # ≈4.3 kB
    texts = [json.dumps(doc) for doc in [*failed, long, failed[0]]]
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn:
            ids = SourceStatusIds(conn, county).ids(texts)
            assert len(set(ids)) == 301 and ids[0] == ids[-1]
        with conn:
            assert list(SourceStatusIds(conn, county).ids(texts)) == list(ids)  # found, none added
        stored = dict(query(database_url, "SELECT id, source_status FROM enrichment_source_statuses "
                            "WHERE county = %s", (county,)))
        assert len(stored) == 301 and stored[ids[300]] == long and stored[ids[7]] == failed[7]
    finally:
        query(database_url, "DELETE FROM enrichment_source_statuses WHERE county = %s", (county,))
        conn.close()


def test_readers_rebuild_the_document(database_url: str) -> None:
    """`source_status_sql` gives the row's document, `{}` for a row written without one (the old
    column's default); `columns_sql` lists the columns with it in its place."""
    county = f"ss_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            ensure_county_partitions(cur, county)
            (doc,) = SourceStatusIds(conn, county).ids([json.dumps(SKIPPED)])
            cur.execute("INSERT INTO enrichment (county, prospect_key, as_of_date, status, source_status_id) "
                        "VALUES (%s, 'a', '2026-12-01', 'enriched', %s), (%s, 'b', '2026-12-01', 'failed', NULL)",
                        (county, int(doc), county))
        found = query(database_url, f"SELECT {columns_sql(['prospect_key', 'source_status'], 'e')} "
                      "FROM enrichment e WHERE county = %s ORDER BY 1", (county,))
        assert found == [("a", SKIPPED), ("b", {})]
        assert query(database_url, f"SELECT {source_status_sql('e')} -> 'market' ->> 'status' FROM enrichment e "
                     "WHERE county = %s AND prospect_key = 'a'", (county,)) == [("ok",)]
    finally:
        conn.close()


def test_the_migration_moves_the_documents_both_ways(fresh_database: str) -> None:
    """Up: one document per county and distinct value, every row its id; down: every row its
    document again (`{}` where none); up again: the same documents."""
    upgrade(fresh_database, "0060")
    rows = {("c_one", "k1"): SKIPPED, ("c_one", "k2"): NO_MATCH, ("c_one", "k3"): SKIPPED,
            ("c_two", "k1"): SKIPPED, ("c_two", "k2"): {}}
    for (county, key), document in rows.items():
        query(fresh_database, "INSERT INTO enrichment (county, prospect_key, as_of_date, status, source_status) "
              "VALUES (%s, %s, '2026-12-01', 'enriched', %s)", (county, key, json.dumps(document)))
    upgrade(fresh_database, "0061")
    read = f"SELECT county, prospect_key, {source_status_sql('e')} FROM enrichment e ORDER BY 1, 2"
    assert {(c, k): d for c, k, d in query(fresh_database, read)} == rows
    assert query(fresh_database, "SELECT county, count(*) FROM enrichment_source_statuses GROUP BY 1 ORDER BY 1") \
        == [("c_one", 2), ("c_two", 2)]
    # Public county data the API does not read: no grant to its role (the detail leaves statuses out).
    assert query(fresh_database, "SELECT has_table_privilege('reos_api', 'enrichment_source_statuses', "
                 "'SELECT')") == [(False,)]
    assert "enrichment_source_statuses" in PUBLIC_TABLES - COUNTY_SCOPED_TABLES
    downgrade(fresh_database, "0060")
    back = query(fresh_database, "SELECT county, prospect_key, source_status FROM enrichment ORDER BY 1, 2")
    assert {(c, k): d for c, k, d in back} == rows
    assert query(fresh_database, "SELECT to_regclass('enrichment_source_statuses')") == [(None,)]
    upgrade(fresh_database, "0061")
    assert {(c, k): d for c, k, d in query(fresh_database, read)} == rows
