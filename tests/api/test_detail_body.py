"""The property detail's body is built as plain values and serialized once (issue #11): it must be
byte for byte what `PropertyDetail` (the route's documented response_model) would send, for every
shape a row takes — and the list and detail authorize in the route's own thread, with the same
answers as every other route."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg2
import pytest
from fastapi.testclient import TestClient

from realestate_assets.api.v1 import properties, security
from realestate_assets.api.v1.schemas import PropertyDetail
from realestate_assets.db.tenancy import act_as_api
from tests.api.helpers_api import api_client, dsn, owner_cursor


def test_the_detail_body_is_what_the_model_would_send(database_url: str, world, tmp_path) -> None:
    a, ca = world["a"], world["ca"]
    with owner_cursor(database_url) as cur:
        # Shapes the seeded rows lack: an integer and a null percentile, NaN and an infinity, a
        # numeric (Decimal) and a timestamp among the enrichment's values, a score without enrichment.
        cur.execute("UPDATE scores SET equity_percentile = 91, tenure_percentile = NULL, deal_percentile = 12.5, "
                    "estimated_value = 'NaN', value_gap_pct = 'Infinity' WHERE county = %s AND prospect_key = %s",
                    (ca, f"{ca}-0001"))
        cur.execute("UPDATE score_model_versions SET components = '{deal,equity,tenure}' WHERE county = %s", (ca,))
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = 'enrichment' AND data_type = 'numeric' ORDER BY 1 LIMIT 1")
        numeric = cur.fetchone()[0]
        cur.execute(f"UPDATE enrichment SET {numeric} = 1234.50 WHERE county = %s AND prospect_key = %s",
                    (ca, f"{ca}-0002"))
        cur.execute("DELETE FROM enrichment WHERE county = %s AND prospect_key = %s", (ca, f"{ca}-0003"))
    headers = {"X-API-Key": a.keys["read"]}
    conn = psycopg2.connect(dsn(database_url))
    try:
        with api_client(database_url, tmp_path) as client, conn.cursor() as cur:
            act_as_api(cur, a.id)
            shapes = set()
            for property_id in world["ids"][ca]:
                got = client.get(f"/api/v1/properties/{property_id}", headers=headers)
                assert got.status_code == 200, got.text
                detail = properties.property_detail(SimpleNamespace(cur=cur), property_id)  # type: ignore[arg-type]
                assert got.content == PropertyDetail.model_validate(detail).model_dump_json(by_alias=True).encode()
                shapes.add((detail["enrichment"] is None, detail["score"] is None))
            assert shapes == {(False, False), (True, True), (True, False)}  # every combination the rows have
            first = client.get(f"/api/v1/properties/{world['ids'][ca][0]}", headers=headers).json()
            percentiles = {c["name"]: c["percentile"] for c in first["score"]["components"]}
            assert percentiles == {"equity": 91.0, "tenure": None, "deal": 12.5}
            assert b'"percentile":91.0' in client.get(f"/api/v1/properties/{world['ids'][ca][0]}",
                                                       headers=headers).content
            assert first["score"]["estimated_value"] is None and first["score"]["value_gap_pct"] is None
    finally:
        conn.close()


def test_list_and_detail_authorize_in_the_route(client: TestClient, world) -> None:
    """Their one dependency runs in the event loop and hands the route an `Authorize`; the answers
    are the other routes': 401 without or with bad credentials, 404 outside the followed counties."""
    for path in ("/properties", "/properties/{property_id}"):
        route = next(r for r in properties.router.routes if r.path == path and "GET" in r.methods)
        [dependency] = [d.call for d in route.dependant.dependencies if hasattr(d.call, "permission")]
        assert dependency.permission == "read"
        assert any(d.call is dependency and d.name == "auth" for d in route.dependant.dependencies)
    other = world["ids"][world["cb"]][0]
    assert client.get(f"/api/v1/properties/{other}").status_code == 401
    assert client.get(f"/api/v1/properties/{other}", headers={"X-API-Key": "reos_nope_nope"}).status_code == 401
    headers = {"X-API-Key": world["a"].keys["read"]}
    assert client.get(f"/api/v1/properties/{other}", headers=headers).status_code == 404
    assert client.get("/api/v1/properties", headers=headers).status_code == 200


def test_a_route_that_does_not_authorize_is_an_error_not_an_answer(client: TestClient, world) -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/v1/test-unauthorized")
    def forgot(auth: security.Authorize = security.needs("read", in_route=True)) -> dict[str, str]:
        return {"data": "unchecked"}

    client.app.include_router(router)
    try:
        with pytest.raises(RuntimeError, match="did not authorize"):
            client.get("/api/v1/test-unauthorized", headers={"X-API-Key": world["a"].keys["read"]})
    finally:
        client.app.router.routes[:] = [r for r in client.app.router.routes
                                       if getattr(r, "path", None) != "/api/v1/test-unauthorized"]
