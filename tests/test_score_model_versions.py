"""`scores` without per-row JSON documents (migration 0060, docs/scale.md "Twenty-seventh round
(a)"): the component percentiles as columns, the model versions once per county in
`score_model_versions`, written with the county's rows; the migration moves the rows' values both
ways."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg2

from realestate_assets.assets.scoring import write_model_versions
from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.ml.scoring import (
    MODEL_WEIGHTS,
    SCORE_COMPONENT_COLUMNS,
    WEIGHTS,
    score_components_of,
    score_components_sql,
)
from tests.databases import county_partitions, migration_module, psycopg2_dsn, query

VERSIONS = {"avm": "avm-a", "deal": "deal-a", "sale_propensity": "sp-a"}


def _migration() -> Any:
    return migration_module("0060")


def test_one_mapping_of_components_to_columns() -> None:
    """The migration's columns are the app's: every component either scoring gives, in the order
    the jsonb document gave its keys (shorter first), so the API lists the components as before;
    a row's dict has the county's components only."""
    assert _migration().COMPONENT_COLUMNS == SCORE_COMPONENT_COLUMNS
    assert set(SCORE_COMPONENT_COLUMNS) == set(MODEL_WEIGHTS) | set(WEIGHTS)
    assert list(SCORE_COMPONENT_COLUMNS) == sorted(SCORE_COMPONENT_COLUMNS, key=lambda name: (len(name), name))
    row = {"deal_percentile": None, "equity_percentile": 0.5, "confidence_percentile": 1,
           "propensity_percentile": float("nan"), "tenure_percentile": 0.25}
    assert list(score_components_of(row, ["propensity", "equity", "deal", "confidence"]).items()) == \
        [("deal", None), ("equity", 0.5), ("confidence", 1.0), ("propensity", None)]
    assert score_components_of(row, None) == {}


def test_the_versions_are_written_once_per_county(database_url: str) -> None:
    """An unchanged value is not written again (its row and the response cache's generation stay);
    new versions or components replace it; None (no score rows left) removes the county's row."""
    county = f"smv_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    state = ("SELECT v.model_versions, v.xmin::text, (SELECT coalesce(sum(weight), 0) FROM cache_bumps "
             "WHERE scope = 'c:' || %s) FROM score_model_versions v WHERE v.county = %s")
    try:
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, VERSIONS, ["equity", "deal"])
            cur.execute(state, (county, county))
            first = cur.fetchone()
        assert first[0] == VERSIONS and first[2] >= 1
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, dict(reversed(VERSIONS.items())), ["equity", "deal"])  # the same
            cur.execute(state, (county, county))
            assert cur.fetchone() == first
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, {**VERSIONS, "avm": "avm-b"}, ["equity", "deal"])
            cur.execute(state, (county, county))
            changed = cur.fetchone()
        assert changed[0]["avm"] == "avm-b" and changed[2] > first[2]
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, {**VERSIONS, "avm": "avm-b"}, ["equity", "tenure"])
            cur.execute(state, (county, county))
            assert cur.fetchone()[2] > changed[2]
            cur.execute("SELECT components FROM score_model_versions WHERE county = %s", (county,))
            assert cur.fetchone()[0] == ["equity", "tenure"]
        with conn, conn.cursor() as cur:
            write_model_versions(conn, county, None, [])
            cur.execute(state, (county, county))
            assert cur.fetchone() is None
    finally:
        conn.close()


def test_the_readers_see_the_document_the_column_held(database_url: str) -> None:
    """`score_components_sql` gives the county's components, each percentile as a JSON number with
    its fraction (what the writer's JSON had: 1.0, not 1), NULL as null; none without a county row."""
    county = f"smv_{uuid.uuid4().hex[:8]}"
    county_partitions(database_url, county)
    query(database_url, "INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
          "model_version, equity_percentile, tenure_percentile, upside_percentile) "
          "VALUES (%s, 'k', '2026-12-01', 50, 1, 'v', 1.0, 0.1234, NULL)", (county,))
    read = (f"SELECT {score_components_sql('s')}::text FROM scores s "
            "LEFT JOIN score_model_versions v ON v.county = s.county WHERE s.county = %s")
    try:
        assert query(database_url, read, (county,)) == [("{}",)]
        query(database_url, "INSERT INTO score_model_versions (county, components) "
              "VALUES (%s, '{equity,tenure,upside,confidence}')", (county,))
        (document,) = query(database_url, read, (county,))[0]
        assert document == '{"equity": 1.0000, "tenure": 0.1234, "upside": null, "confidence": null}'
        assert json.loads(document) == {"equity": 1.0, "tenure": 0.1234, "upside": None, "confidence": None}
    finally:
        query(database_url, "DELETE FROM scores WHERE county = %s", (county,))
        query(database_url, "DELETE FROM score_model_versions WHERE county = %s", (county,))


def test_the_migration_moves_the_values_down_and_up(fresh_database: str) -> None:
    upgrade(fresh_database, "0059")
    # A county scored by the models, one by the rule (its other components' columns NULL).
    by_county = {"c_one": {"k1": {"deal": None, "equity": 0.5, "confidence": 0.1234, "propensity": 1.0},
                           "k2": {"deal": 0.3333, "equity": None, "confidence": 0.9, "propensity": 0.0}},
                 "c_two": {"k1": {"equity": 0.5, "tenure": 0.25, "upside": 1.0, "confidence": 0.1234},
                           "k2": {"equity": None, "tenure": 0.0, "upside": 0.3333, "confidence": 0.9}}}
    names = {"c_one": ["deal", "equity", "confidence", "propensity"], "c_two": ["equity", "tenure", "upside",
                                                                             "confidence"]}
    for county, versions in (("c_one", VERSIONS), ("c_two", {"avm": "avm-x"})):
        for rank, (key, document) in enumerate(by_county[county].items(), 1):
            query(fresh_database, "INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
                  "model_version, score_components, model_versions) VALUES (%s, %s, '2026-12-01', 50, %s, 'v', "
                  "%s, %s)", (county, key, rank, json.dumps(document), json.dumps(versions)))
    upgrade(fresh_database, "0060")
    columns = list(SCORE_COMPONENT_COLUMNS.values())
    found = query(fresh_database, f"SELECT county, prospect_key, {', '.join(columns)} FROM scores ORDER BY 1, 2")
    for county, key, *values in found:
        assert values == [by_county[county][key].get(name) for name in SCORE_COMPONENT_COLUMNS], (county, key)
    assert {county: (versions, sorted(components)) for county, versions, components in query(
        fresh_database, "SELECT county, model_versions, components FROM score_model_versions")} == \
        {"c_one": (VERSIONS, sorted(names["c_one"])), "c_two": ({"avm": "avm-x"}, sorted(names["c_two"]))}
    # Public county data as `scores`: the API role reads it under the same policy.
    assert query(fresh_database, "SELECT relrowsecurity FROM pg_class WHERE relname = 'score_model_versions'") == \
        [(True,)]
    assert query(fresh_database, "SELECT polname FROM pg_policy WHERE polrelid = 'score_model_versions'::regclass") \
        == [("county_subscribed",)]
    assert query(fresh_database, "SELECT has_table_privilege('reos_api', 'score_model_versions', 'SELECT'), "
                 "has_table_privilege('reos_api', 'score_model_versions', 'INSERT')") == [(True, False)]
    downgrade(fresh_database, "0059")
    back = query(fresh_database, "SELECT county, prospect_key, score_components, model_versions FROM scores "
                 "ORDER BY 1, 2")
    for county, key, document, versions in back:
        assert document == by_county[county][key], (county, key)
        assert versions == (VERSIONS if county == "c_one" else {"avm": "avm-x"})
    assert query(fresh_database, "SELECT to_regclass('score_model_versions')") == [(None,)]
    upgrade(fresh_database, "0060")
    assert query(fresh_database, f"SELECT county, prospect_key, {', '.join(columns)} FROM scores ORDER BY 1, 2") \
        == found
