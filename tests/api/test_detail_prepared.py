"""The property detail's prepared statement (db/prepared.py, issue #11): one per connection, its
columns named from the catalog, prepared again when a column is added while the API runs and after
any failure."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest

from realestate_assets.api.v1 import properties
from realestate_assets.db.prepared import PerConnection
from realestate_assets.db.tenancy import act_as_api
from tests.api.helpers_api import api_client, dsn, owner_cursor


def _prepared_names(client: Any) -> list[str]:
    """The detail statements prepared on the app's pooled connection (tests run one request at a
    time, so the pool holds one)."""
    with client.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'reos_property_detail%%'")
        return [r[0] for r in cur.fetchall()]


def test_a_column_added_to_enrichment_while_prepared_is_in_the_next_answer(database_url: str, world,
                                                                          tmp_path) -> None:
    headers = {"X-API-Key": world["a"].keys["read"]}
    first = world["ids"][world["ca"]][0]
    with api_client(database_url, tmp_path) as client:
        before = [client.get(f"/api/v1/properties/{first}", headers=headers) for _ in range(3)]
        assert [r.status_code for r in before] == [200] * 3
        assert before[0].json() == before[2].json()
        assert len(_prepared_names(client)) == 1  # prepared once, then executed
        with owner_cursor(database_url) as cur:
            cur.execute("ALTER TABLE enrichment ADD COLUMN test_prepared_extra text")
        try:
            with owner_cursor(database_url) as cur:  # written by the pipeline: the generation moves
                cur.execute("UPDATE enrichment SET test_prepared_extra = 'new' WHERE county = %s", (world["ca"],))
            after = client.get(f"/api/v1/properties/{first}", headers=headers)
            assert after.status_code == 200, after.text
            assert after.json()["enrichment"]["test_prepared_extra"] == {"value": "new", "provenance": None}
            assert {k: v for k, v in after.json()["enrichment"].items() if k != "test_prepared_extra"} == \
                before[0].json()["enrichment"]
            assert len(_prepared_names(client)) == 2  # the stale one is left, unused
        finally:
            client.app.state.reos.warehouse.engine.dispose()  # no session keeps a statement naming it
            with owner_cursor(database_url) as cur:
                cur.execute("ALTER TABLE enrichment DROP COLUMN test_prepared_extra")


def test_a_failed_execution_prepares_again_under_a_new_name(database_url: str, world) -> None:
    built: list[int] = []

    def build(cur: Any) -> tuple[str, int]:
        built.append(len(built))
        return "SELECT 1 / $1", len(built)

    statement = PerConnection("test_prepared", build)
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, world["a"].id)
            assert statement.execute(cur, (1,)) == 1 and cur.fetchone() == (1,)
            assert statement.execute(cur, (1,)) == 1 and built == [0]
            with pytest.raises(psycopg2.errors.DivisionByZero):
                statement.execute(cur, (0,))
            conn.rollback()  # the statement outlives the transaction; the next use prepares anew anyway
            assert statement.execute(cur, (1,)) == 2 and cur.fetchone() == (1,)
            cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'test_prepared%%'")
            assert cur.fetchone() == (2,)
    finally:
        conn.close()


def test_the_detail_names_every_column_as_star_would(database_url: str, world) -> None:
    with owner_cursor(database_url) as cur:
        act_as_api(cur, world["a"].id)
        text, columns = properties._detail_statement(cur)
        for table, named in zip(properties.DETAIL_TABLES, (columns.prospects, columns.enrichment, columns.scores),
                                strict=True):
            cur.execute(f"SELECT * FROM {table} LIMIT 0")
            # The enrichment's provenance as its document, in its id's place (migration 0063).
            star = [c.name for c in cur.description]
            assert named == (["provenance" if c == "provenance_id" else c for c in star] if table == "enrichment"
                             else star)
        assert "*" not in text.split(" FROM prospects p ")[0].replace("count(*)", "")
