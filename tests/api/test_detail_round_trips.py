"""The detail's fewer round trips (issue #11's bench, docs/api.md "Not done yet" item 1): the view's
receipt recorded by the detail's own statement on a plan that refuses nothing, and the list's and
the detail's transaction begun by authentication's first statement — each ending clean, as the
API role scoped to its tenant only while it lasts."""

from __future__ import annotations

from typing import Any

from tests.api.helpers_api import owner_cursor


def _receipts(database_url: str, tenant_id: str, property_id: int) -> int:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM property_receipts r JOIN prospects p ON p.county = r.county "
                    "AND p.prospect_key = r.prospect_key WHERE r.tenant_id = %s AND p.id = %s AND r.via = 'detail'",
                    (tenant_id, property_id))
        return cur.fetchone()[0]


def test_a_view_is_received_once_by_the_detail_statement(client: Any, database_url: str, world) -> None:
    a = world["a"]  # unlimited plan (helpers_api.make_tenant): the receipt rides with the read
    headers = {"X-API-Key": a.keys["read"]}
    mine, theirs = world["ids"][world["ca"]][-1], world["ids"][world["cb"]][-1]
    assert _receipts(database_url, a.id, mine) == 0
    first = client.get(f"/api/v1/properties/{mine}", headers=headers)
    again = client.get(f"/api/v1/properties/{mine}", headers=headers)  # from the response cache
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert _receipts(database_url, a.id, mine) == 1
    # A county it does not follow: not found, and nothing received (the CTE reads under RLS too).
    assert client.get(f"/api/v1/properties/{theirs}", headers=headers).status_code == 404
    assert _receipts(database_url, a.id, theirs) == 0


def test_the_transaction_begun_by_its_first_statement_ends_clean(client: Any, world) -> None:
    a = world["a"]
    mine = world["ids"][world["ca"]][0]
    answers = [client.get(f"/api/v1/properties/{mine}", headers={"X-API-Key": a.keys["read"]}).status_code,
               client.get("/api/v1/properties/999999999", headers={"X-API-Key": a.keys["read"]}).status_code,
               client.get(f"/api/v1/properties/{mine}", headers={"X-API-Key": "reos_nothere_x"}).status_code,
               client.get("/api/v1/properties?limit=2", headers={"X-API-Key": a.keys["read"]}).status_code]
    assert answers == [200, 404, 401, 200]
    # The pooled connection is back in psycopg2's own mode, outside any transaction, with none of
    # the request's settings (they were transaction-local: the role, the tenant).
    with client.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        assert conn.autocommit is False
        cur.execute("SELECT current_user <> 'reos_api', coalesce(current_setting('app.tenant_id', true), '')")
        assert cur.fetchone() == (True, "")
