"""`scores` without per-row JSON documents (migration 0060, docs/scale.md "Twenty-seventh round
(a)"): the component percentiles as columns, the model versions once per county in
`score_model_versions`, written with the county's rows; the migration moves the rows' values both
ways."""

from __future__ import annotations

import importlib.util
import json
import uuid
from typing import Any

import psycopg2

from realestate_assets.assets.scoring import write_model_versions
from realestate_assets.db.migrate import MIGRATIONS, downgrade, upgrade
from realestate_assets.ml.scoring import SCORE_COMPONENT_COLUMNS, score_components_of, score_components_sql
from tests.databases import psycopg2_dsn

VERSIONS = {"avm": "avm-a", "deal": "deal-a", "sale_propensity": "sp-a"}


def _migration() -> Any:
    path = next((MIGRATIONS / "versions").glob("0060_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0060", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def test_one_mapping_of_components_to_columns() -> None:
    """The migration's columns are the app's, in the order the jsonb document gave its keys
    (shorter first), so the API lists the components as before."""
    assert _migration().COMPONENT_COLUMNS == SCORE_COMPONENT_COLUMNS
    assert list(SCORE_COMPONENT_COLUMNS) == list(json.loads(_jsonb_order(SCORE_COMPONENT_COLUMNS)))
    assert score_components_of({"equity_percentile": 0.5, "tenure_percentile": None,
                                "upside_percentile": float("nan"), "confidence_percentile": 1}) == \
        {"equity": 0.5, "tenure": None, "upside": None, "confidence": 1.0}


def _jsonb_order(keys: Any) -> str:
    return json.dumps(dict(sorted(((k, None) for k in keys), key=lambda item: (len(item[0]), item[0]))))


def test_the_versions_are_written_once_per_county(database_url: str) -> None:
    """An unchanged value is not written again (its row and the response cache's generation stay);
    a new one replaces it; None (no score rows left) removes the county's row."""
    county = f"smv_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    state = ("SELECT v.model_versions, v.xmin::text, (SELECT coalesce(sum(weight), 0) FROM cache_bumps "
             "WHERE scope = 'c:' || %s) FROM score_model_versions v WHERE v.county = %s")
    try:
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, VERSIONS)
            cur.execute(state, (county, county))
            first = cur.fetchone()
        assert first[0] == VERSIONS and first[2] >= 1
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, dict(reversed(VERSIONS.items())))  # the same value
            cur.execute(state, (county, county))
            assert cur.fetchone() == first
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, {**VERSIONS, "avm": "avm-b"})
            cur.execute(state, (county, county))
            changed = cur.fetchone()
        assert changed[0]["avm"] == "avm-b" and changed[2] > first[2]
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, None)
            cur.execute(state, (county, county))
            assert cur.fetchone() is None
    finally:
        conn.close()


def test_the_readers_see_the_document_the_column_held(database_url: str) -> None:
    """`score_components_sql` gives each percentile as a JSON number with its fraction (what the
    writer's JSON had: 1.0, not 1), NULL as null."""
    county = f"smv_{uuid.uuid4().hex[:8]}"
    _rows(database_url, "INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
          "model_version, equity_percentile, tenure_percentile, upside_percentile) "
          "VALUES (%s, 'k', '2026-12-01', 50, 1, 'v', 1.0, 0.1234, NULL)", (county,))
    try:
        (document,) = _rows(database_url, f"SELECT {score_components_sql('s')}::text FROM scores s "
                            "WHERE county = %s", (county,))[0]
        assert document == '{"equity": 1.0000, "tenure": 0.1234, "upside": null, "confidence": null}'
        assert json.loads(document) == {"equity": 1.0, "tenure": 0.1234, "upside": None, "confidence": None}
    finally:
        _rows(database_url, "DELETE FROM scores WHERE county = %s", (county,))


def test_the_migration_moves_the_values_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0059")
    documents = {"k1": {"equity": 0.5, "tenure": 0.25, "upside": 1.0, "confidence": 0.1234},
                 "k2": {"equity": None, "tenure": 0.0, "upside": 0.3333, "confidence": 0.9},
                 "k3": {"equity": 0.75}}  # a key the document lacks: NULL
    for county, versions in (("c_one", VERSIONS), ("c_two", {"avm": "avm-x"})):
        for rank, (key, document) in enumerate(documents.items(), 1):
            _rows(fresh_database, "INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
                  "model_version, score_components, model_versions) VALUES (%s, %s, '2026-12-01', 50, %s, 'v', "
                  "%s, %s)", (county, key, rank, json.dumps(document), json.dumps(versions)))
    upgrade(fresh_database, "0060")
    columns = list(SCORE_COMPONENT_COLUMNS.values())
    found = _rows(fresh_database, f"SELECT county, prospect_key, {', '.join(columns)} FROM scores ORDER BY 1, 2")
    for county, key, *values in found:
        assert values == [documents[key].get(name) for name in SCORE_COMPONENT_COLUMNS], (county, key)
    assert dict(_rows(fresh_database, "SELECT county, model_versions FROM score_model_versions")) == \
        {"c_one": VERSIONS, "c_two": {"avm": "avm-x"}}
    # Public county data as `scores`: the API role reads it under the same policy.
    assert _rows(fresh_database, "SELECT relrowsecurity FROM pg_class WHERE relname = 'score_model_versions'") == \
        [(True,)]
    assert _rows(fresh_database, "SELECT polname FROM pg_policy WHERE polrelid = 'score_model_versions'::regclass") \
        == [("county_subscribed",)]
    assert _rows(fresh_database, "SELECT has_table_privilege('reos_api', 'score_model_versions', 'SELECT'), "
                 "has_table_privilege('reos_api', 'score_model_versions', 'INSERT')") == [(True, False)]
    downgrade(fresh_database, "0059")
    back = _rows(fresh_database, "SELECT county, prospect_key, score_components, model_versions FROM scores "
                 "ORDER BY 1, 2")
    for county, key, document, versions in back:
        assert document == {name: documents[key].get(name) for name in SCORE_COMPONENT_COLUMNS}, (county, key)
        assert versions == (VERSIONS if county == "c_one" else {"avm": "avm-x"})
    assert _rows(fresh_database, "SELECT to_regclass('score_model_versions')") == [(None,)]
    upgrade(fresh_database, "0060")
    assert _rows(fresh_database, f"SELECT county, prospect_key, {', '.join(columns)} FROM scores ORDER BY 1, 2") \
        == found
