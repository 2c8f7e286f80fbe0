"""`enrichment`'s provenance once per distinct document per county (migration 0063, docs/scale.md
"Twenty-ninth round (b)"): the writer's documents and records, the readers' document — the one
the column held, byte for byte in its jsonb text — and the migration both ways."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pandas as pd
import psycopg2
import pyarrow as pa

from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.tenancy import COUNTY_SCOPED_TABLES, PUBLIC_TABLES
from realestate_assets.enrich.pipeline import STORED_COLUMNS
from realestate_assets.enrich.provenance import compact, expand, stored_text
from realestate_assets.enrich.source_statuses import columns_sql
from realestate_assets.enrich.stored_provenance import PROVENANCE_SQL, ProvenanceIds, provenance_sql
from tests.databases import migration_module, psycopg2_dsn, query

FETCHED = "2026-12-01T04:00:00+00:00"
COUNTY = {"source": "county_assessor", "fetched_at": FETCHED, "confidence": 0.95}
MARKET = {"source": "market", "fetched_at": FETCHED, "confidence": 0.6}
KEPT = {"source": "attom", "fetched_at": "2026-01-02T03:04:05+00:00", "confidence": 0.9, "kept": True}


def _per_field(record: str | None) -> dict:
    county = {**COUNTY, "record": record} if record else COUNTY
    return {"beds": county, "living_sqft": county, "comps_count": MARKET}


# Every form a row's provenance was stored in: grouped with a record (the step's), grouped
# without, the per-field form of older rows, grouped with a per-field key added (an SQL patch),
# entries naming different records, none.
DOCUMENTS = {
    "k1": compact(_per_field("kc sale 1")),
    "k2": compact(_per_field("kc sale 2")),
    "k3": compact(_per_field(None)),
    "k4": _per_field("kc sale 4"),
    "k5": {**compact(_per_field("kc sale 5")), "assessed_value": KEPT},
    "k6": compact({**_per_field("kc sale 6"), "comps_count": {**MARKET, "record": "kc sale 7"}}),
    "k7": {},
}


def insert_stored_rows(cur: Any, county: str, keys: Sequence[str], ids: Sequence[Any],
                       records: Sequence[str | None]) -> None:
    """`enrichment` rows in their stored form (each key's document id and record), and one
    failed row without provenance (`none`)."""
    ensure_county_partitions(cur, county)
    for key, id_, record in zip(keys, ids, records, strict=True):
        cur.execute(
            "INSERT INTO enrichment (county, prospect_key, as_of_date, status, provenance_id, "
            "provenance_record) VALUES (%s, %s, '2026-12-01', 'enriched', %s, %s)",
            (county, key, int(id_), record),
        )
    cur.execute(
        "INSERT INTO enrichment (county, prospect_key, as_of_date, status) "
        "VALUES (%s, 'none', '2026-12-01', 'failed')",
        (county,),
    )

def test_readers_rebuild_the_document_the_column_held(database_url: str) -> None:
    """The writer's documents (a chunk's texts, dictionary-encoded as the local shortcut gives
    them), the rows' records beside their ids; `provenance_sql` gives back each row's document,
    its jsonb text the text the column held; `{}` for a row written without one; `prune` keeps
    only what the last writer named."""
    county = f"pv_{uuid.uuid4().hex[:8]}"
    keys = ["k1", "k2", "k3", "k6", "k7"]  # the forms the writer makes
    texts, records = zip(*(stored_text(expand(DOCUMENTS[k])) for k in keys), strict=True)
    assert records[:3] == ("kc sale 1", "kc sale 2", None) and records[-2:] == (None, None)
    assert texts[0] == texts[1] != texts[2]  # two rows' records, one document
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            distinct = sorted(set(texts))
            encoded = pa.DictionaryArray.from_arrays(
                pa.array([distinct.index(t) for t in texts], pa.int32()), pa.array(distinct, pa.large_string())
            )
            writer = ProvenanceIds(conn, county)
            frame = writer.store(pd.DataFrame({"provenance": pd.arrays.ArrowExtensionArray(encoded)}))
            assert (
                list(frame.columns) == ["provenance_id"]
                and {"provenance_id", "provenance_record"} <= {*STORED_COLUMNS}
                and "provenance" not in STORED_COLUMNS
            )
            ids = frame["provenance_id"].to_numpy()
            assert ids[0] == ids[1] and len(set(ids)) == len(distinct)
            insert_stored_rows(cur, county, keys, ids, records)
            again = ProvenanceIds(conn, county)  # a re-run whose rows name only the first document
            assert list(again.ids(texts[:1])) == [ids[0]]  # found, not added
        got = dict(
            query(
                database_url,
                f"SELECT prospect_key, {provenance_sql('e')}::text FROM enrichment e WHERE county = %s",
                (county,),
            )
        )
        for key in keys:  # the jsonb text of the document the column held
            assert [(got[key],)] == query(database_url, "SELECT %s::jsonb::text", (json.dumps(DOCUMENTS[key]),))
        assert got["none"] == "{}"
        assert query(
            database_url,
            f"SELECT {columns_sql(['provenance'], 'e')} FROM enrichment e WHERE county = %s AND prospect_key = 'k1'",
            (county,),
        ) == [(DOCUMENTS["k1"],)]
        with conn:
            assert again.prune() == len(distinct) - 1
        assert query(database_url, "SELECT id FROM enrichment_provenances WHERE county = %s", (county,)) == [(ids[0],)]
    finally:
        query(database_url, "DELETE FROM enrichment WHERE county = %s", (county,))
        query(database_url, "DELETE FROM enrichment_provenances WHERE county = %s", (county,))
        conn.close()


def _migration() -> ModuleType:
    return migration_module("0063")


def test_the_migrations_rebuild_is_the_readers() -> None:
    """The migration's downgrade rebuilds the rows' documents as the readers do (its own copy: a
    migration does not import the application)."""
    assert PROVENANCE_SQL.format(alias="e") == _migration().REBUILD


def test_the_migration_moves_the_documents_both_ways(fresh_database: str) -> None:
    """Up: each row's record taken out, one document per county and distinct value, every row
    its id; each row then reads back the document it held, byte for byte in its text; down: every
    row its document again; up again: the same."""
    upgrade(fresh_database, "0062")
    rows = {("c_one", k): d for k, d in DOCUMENTS.items()} | {("c_two", "k1"): DOCUMENTS["k1"]}
    for (county, key), document in rows.items():
        query(
            fresh_database,
            "INSERT INTO enrichment (county, prospect_key, as_of_date, status, provenance) "
            "VALUES (%s, %s, '2026-12-01', 'enriched', %s)",
            (county, key, json.dumps(document)),
        )
    held = query(fresh_database, "SELECT county, prospect_key, provenance::text FROM enrichment ORDER BY 1, 2")
    upgrade(fresh_database, "0063")
    read = f"SELECT county, prospect_key, {provenance_sql('e')}::text FROM enrichment e ORDER BY 1, 2"
    assert query(fresh_database, read) == held
    # k1 and k2 share one document (their records apart); c_two's k1 is its county's own.
    assert query(fresh_database, "SELECT county, count(*) FROM enrichment_provenances GROUP BY 1 ORDER BY 1") == [
        ("c_one", len(DOCUMENTS) - 1),
        ("c_two", 1),
    ]
    assert dict(
        query(fresh_database, "SELECT prospect_key, provenance_record FROM enrichment WHERE county = 'c_one'")
    ) == {"k1": "kc sale 1", "k2": "kc sale 2", "k3": None, "k4": None, "k5": "kc sale 5", "k6": None, "k7": None}
    # Public county data the API reads (the property detail): its role, through the county policy.
    assert query(
        fresh_database,
        "SELECT has_table_privilege('reos_api', 'enrichment_provenances', 'SELECT'), "
        "relrowsecurity FROM pg_class WHERE relname = 'enrichment_provenances'",
    ) == [(True, True)]
    assert "enrichment_provenances" in PUBLIC_TABLES & COUNTY_SCOPED_TABLES
    downgrade(fresh_database, "0062")
    assert query(fresh_database, "SELECT county, prospect_key, provenance::text FROM enrichment ORDER BY 1, 2") == held
    assert query(fresh_database, "SELECT to_regclass('enrichment_provenances')") == [(None,)]
    upgrade(fresh_database, "0063")
    assert query(fresh_database, read) == held
    assert query(fresh_database, "SELECT count(*) FROM enrichment_provenances") == [(len(DOCUMENTS),)]


def test_previous_rows_in_their_stored_form_read_as_the_rebuilt_documents(database_url: str) -> None:
    """The streamed step reads the previous rows' provenance as the table stores it — the id,
    its document read once per county, the record apart (`stored_previous`, docs/scale.md
    "Thirty-fourth round (c)") —: `_Previous` answers as from the document `provenance_sql`
    rebuilds per row: which rows may name a source, and each row's provenance; a row without a
    document (NULL id, or an id the documents lack) has none."""
    from realestate_assets.enrich.pipeline import _Previous
    from realestate_assets.enrich.stored_provenance import StoredDocuments, stored_previous

    county = f"pv_{uuid.uuid4().hex[:8]}"
    keys = list(DOCUMENTS)
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            texts, records = zip(*(stored_text(expand(DOCUMENTS[k])) for k in keys), strict=True)
            ids = ProvenanceIds(conn, county).ids(list(texts))
            insert_stored_rows(cur, county, keys, ids, records)
        rebuilt = pd.DataFrame(query(
            database_url,
            f"SELECT prospect_key, {provenance_sql('e')}::text FROM enrichment e WHERE county = %s ORDER BY 1",
            (county,)), columns=["prospect_key", "provenance"])
        stored = pd.DataFrame(query(
            database_url,
            "SELECT prospect_key, provenance_id, provenance_record FROM enrichment WHERE county = %s ORDER BY 1",
            (county,)), columns=["prospect_key", "provenance_id", "provenance_record"])
        documents = pd.DataFrame(query(
            database_url, "SELECT id, provenance::text FROM enrichment_provenances WHERE county = %s ORDER BY id DESC",
            (county,)), columns=["id", "provenance"])
        assert stored["provenance_id"].isna().sum() == 1
        k6 = int(stored.loc[stored["prospect_key"] == "k6", "provenance_id"].iloc[0])
        for docs, missing in ((documents, set()), (documents[documents["id"] != k6], {"k6"})):
            old, new = _Previous(rebuilt), _Previous(stored_previous(stored.copy(), StoredDocuments(docs)))
            every = pd.Series([*keys, "none", "absent"])
            for sources in (["county_assessor"], ["market"], ["attom"], ["attom", "market"], []):
                want = old.may_name_mask(every, sources) & ~every.isin(missing).to_numpy()
                assert list(new.may_name_mask(every, sources)) == list(want)
            assert new.may_name_mask(every, ["attom"]).sum() == 1  # k5's kept entry
            for key in every:
                assert new.provenance(key) == ({} if key in missing else old.provenance(key))
            assert new.provenance("k1")["beds"]["record"] == "kc sale 1"
    finally:
        query(database_url, "DELETE FROM enrichment WHERE county = %s", (county,))
        query(database_url, "DELETE FROM enrichment_provenances WHERE county = %s", (county,))
        conn.close()
