"""The response cache of property lists and details (api/v1/response_cache.py, migration 0037) on real
PostgreSQL: a second identical request is served from the cache, and a write through each table
the routes read — by the API or straight to the database as the pipeline writes — shows on the
next request; tenants and roles never share a body; a cached detail is still received (quota)."""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.api.v1 import properties
from realestate_assets.api.v1.property_query import TENANT_STATUS_COUNTS, PropertyFilters, list_query
from tests.api.helpers_api import JWT_SECRET, bearer, login, make_tenant, owner_cursor, seed_county

N = 9


@pytest.fixture(scope="module")
def cw(database_url: str) -> dict[str, Any]:
    """Tenants A and B following the same county (their own progress on it differs)."""
    a, b = make_tenant(database_url, "cache-a"), make_tenant(database_url, "cache-b")
    county = f"cc_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, N)
        for tenant in (a, b):
            store.subscribe(cur, tenant.id, county)
        cur.execute("SELECT prospect_key, id FROM prospects WHERE county = %s ORDER BY id", (county,))
        ids = dict(cur.fetchall())
    return {"a": a, "b": b, "county": county, "ids": ids, "url": database_url}


def cache(client: TestClient) -> Any:
    return client.app.state.reos.responses


def get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> tuple[Any, bool]:
    """(response, served from the cache)."""
    before = cache(client).hits
    response = client.get(path, params=params, headers=headers)
    return response, cache(client).hits > before


def item(client: TestClient, cw: dict[str, Any], headers: dict[str, str], key: str) -> dict[str, Any]:
    response, _ = get(client, "/api/v1/properties", headers, county=cw["county"], limit=50)
    assert response.status_code == 200, response.text
    return next(i for i in response.json()["items"] if i["prospect_key"] == key)


def key_of(cw: dict[str, Any], i: int) -> str:
    return f"{cw['county']}-{i:04d}"


def test_a_repeated_list_and_detail_is_a_hit_with_the_same_body(client: TestClient, cw) -> None:
    headers = {"X-API-Key": cw["a"].keys["read"]}
    first, hit = get(client, "/api/v1/properties", headers, county=cw["county"], min_score=60)
    assert first.status_code == 200 and not hit
    again, hit = get(client, "/api/v1/properties", headers, county=cw["county"], min_score=60)
    assert hit and again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "private, no-cache"
    property_id = cw["ids"][key_of(cw, 1)]
    detail, hit = get(client, f"/api/v1/properties/{property_id}", headers)
    assert detail.status_code == 200 and not hit
    assert detail.json()["score"]["reasons"] == [f"reason for {key_of(cw, 1)}"]
    again, hit = get(client, f"/api/v1/properties/{property_id}", headers)
    assert hit and again.json() == detail.json()


def test_the_generation_is_read_with_authentication(cw) -> None:
    """For the cached routes, authentication's round trip reads the generation with the tenant's
    standing (for a key and a user alike), and the cache then asks the database nothing more;
    other routes do not read it."""
    from realestate_assets.accounts import credentials as cred
    from realestate_assets.api.v1.response_cache import generation
    from realestate_assets.api.v1.security import resolve_principal

    with owner_cursor(cw["url"]) as cur:
        assert resolve_principal(cur, cw["a"].keys["read"], "unused").standing.generation is None
        principal = resolve_principal(cur, cw["a"].keys["read"], "unused", generation=True)
        assert principal is not None and principal.standing is not None
        cur.execute("SELECT reos_cache_generation()")
        assert principal.standing.generation == cur.fetchone()[0]
    user = cw["a"].users["viewer"]
    token, _ = cred.issue_access_token(JWT_SECRET, user_id=user["id"], tenant_id=cw["a"].id, role="viewer",
                                       platform_admin=False, email=user["email"])
    with owner_cursor(cw["url"]) as cur:
        assert resolve_principal(cur, token, JWT_SECRET).standing.generation is None
        principal = resolve_principal(cur, token, JWT_SECRET, generation=True)
        assert principal is not None and principal.standing is not None
        cur.execute("SELECT reos_cache_generation()")
        assert principal.standing.generation == cur.fetchone()[0]

    class NoQueries:
        def execute(self, *_: Any) -> None:
            raise AssertionError("the generation was read already")

    assert generation(SimpleNamespace(principal=principal, cur=NoQueries())) == principal.standing.generation


def test_if_none_match_answers_304_until_the_data_changes(client: TestClient, cw) -> None:
    headers = {"X-API-Key": cw["a"].keys["read"]}
    property_id = cw["ids"][key_of(cw, 2)]
    etag = client.get(f"/api/v1/properties/{property_id}", headers=headers).headers["etag"]
    unchanged = client.get(f"/api/v1/properties/{property_id}", headers={**headers, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag and not unchanged.content
    with owner_cursor(cw["url"]) as cur:
        cur.execute("UPDATE scores SET value_gap_pct = 33.3 WHERE county = %s AND prospect_key = %s",
                    (cw["county"], key_of(cw, 2)))
    changed = client.get(f"/api/v1/properties/{property_id}", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["score"]["value_gap_pct"] == 33.3


# Each write the cached routes depend on, as the pipeline makes it (the owner, straight SQL).
def _score(cur: Any, cw: dict[str, Any], key: str) -> None:
    cur.execute("UPDATE scores SET bird_dog_score = 12.5 WHERE county = %s AND prospect_key = %s", (cw["county"], key))


def _enrichment(cur: Any, cw: dict[str, Any], key: str) -> None:
    cur.execute("UPDATE enrichment SET living_sqft = 4321 WHERE county = %s AND prospect_key = %s", (cw["county"], key))


def _prospect(cur: Any, cw: dict[str, Any], key: str) -> None:
    cur.execute("UPDATE prospects SET address = '1 NEW ST' WHERE county = %s AND prospect_key = %s",
                (cw["county"], key))


def _packet(cur: Any, cw: dict[str, Any], key: str) -> None:
    cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                "(%s, %s, %s, 'investor_memo', '1', 'h', 'x.pdf', 's', 10, 80, now())", (cw["a"].id, cw["county"], key))


def _email(cur: Any, cw: dict[str, Any], key: str) -> None:
    _packet(cur, cw, key)
    cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, "
                "provider, send_key, status, sent_at) SELECT %s, %s, 'daily_digest', id, ARRAY[id], 'r@example.com', "
                "'Deals', 'outbox', 'k' || id, 'sent', now() FROM packets WHERE tenant_id = %s AND county = %s "
                "AND prospect_key = %s", (cw["a"].id, cw["county"], cw["a"].id, cw["county"], key))


# (write, property number: its own, scored but for the prospect's, list field, value it shows next)
WRITES: dict[str, tuple[Callable[..., None], int, str, Any]] = {
    "score rewritten": (_score, 3, "bird_dog_score", 12.5),
    "prospect rewritten": (_prospect, 4, "address", "1 NEW ST"),
    "enrichment rewritten": (_enrichment, 5, "living_sqft", 4321.0),
    "packet rendered": (_packet, 6, "status", "packeted"),
    "email sent": (_email, 7, "status", "emailed"),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_to_each_table_shows_on_the_next_request(client: TestClient, cw, write: str) -> None:
    do, number, field, value = WRITES[write]
    key = key_of(cw, number)
    headers = {"X-API-Key": cw["a"].keys["read"]}
    property_id = cw["ids"][key]
    item(client, cw, headers, key)
    assert item(client, cw, headers, key)[field] != value  # cached now
    before, _ = get(client, f"/api/v1/properties/{property_id}", headers)
    _, hit = get(client, f"/api/v1/properties/{property_id}", headers)
    assert hit
    with owner_cursor(cw["url"]) as cur:
        do(cur, cw, key)
    assert item(client, cw, headers, key)[field] == value
    after, hit = get(client, f"/api/v1/properties/{property_id}", headers)
    assert not hit and after.json() != before.json()
    if field == "status":  # the tenant's own progress: B's list and detail still say scored
        other = {"X-API-Key": cw["b"].keys["read"]}
        assert item(client, cw, other, key)["status"] == "scored"
        assert client.get(f"/api/v1/properties/{property_id}", headers=other).json()["prospect"]["status"] == "scored"


def test_a_review_through_the_api_shows_on_the_next_list(client: TestClient, cw) -> None:
    key = key_of(cw, 8)  # discovered only: no score
    reader = bearer(login(client, cw["a"].users["viewer"]["email"])["access_token"])
    assert item(client, cw, reader, key)["reviewed_at"] is None
    assert item(client, cw, reader, key)["reviewed_at"] is None  # from the cache
    writer = bearer(login(client, cw["a"].users["analyst"]["email"])["access_token"])
    marked = client.post("/api/v1/properties/reviews", json={"property_ids": [cw["ids"][key]]}, headers=writer)
    assert marked.status_code == 200 and marked.json()["changed"] == 1
    assert item(client, cw, reader, key)["reviewed_at"] is not None
    assert item(client, cw, {"X-API-Key": cw["b"].keys["read"]}, key)["reviewed_at"] is None


def test_tenants_never_get_each_others_bodies(client: TestClient, cw) -> None:
    key = key_of(cw, 9)
    with owner_cursor(cw["url"]) as cur:
        _packet(cur, cw, key)  # A's memo: packeted for A only
    params = {"county": cw["county"], "sort": "address", "limit": 50}
    a, _ = get(client, "/api/v1/properties", {"X-API-Key": cw["a"].keys["read"]}, **params)
    get(client, "/api/v1/properties", {"X-API-Key": cw["a"].keys["read"]}, **params)
    b, hit = get(client, "/api/v1/properties", {"X-API-Key": cw["b"].keys["read"]}, **params)
    assert not hit and a.content != b.content
    assert {i["prospect_key"]: i["status"] for i in a.json()["items"]}[key] == "packeted"
    assert {i["prospect_key"]: i["status"] for i in b.json()["items"]}[key] == "scored"


def test_each_set_of_permissions_has_its_own_entries(client: TestClient, cw) -> None:
    """What a caller may see is its permissions (roles and key scopes map onto them): a viewer, an
    analyst and an owner each compute their own body; a read key shares the viewer's (both: read)."""
    params = {"county": cw["county"], "sort": "-list_price", "limit": 7}
    roles = [bearer(login(client, cw["a"].users[role]["email"])["access_token"])
             for role in ("viewer", "analyst", "owner")]
    bodies = []
    for headers in roles:
        response, hit = get(client, "/api/v1/properties", headers, **params)
        assert response.status_code == 200 and not hit  # nobody else's entry
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies)  # the same rows today: what differs is the key
    for headers in [*roles, {"X-API-Key": cw["a"].keys["read"]}]:
        assert get(client, "/api/v1/properties", headers, **params)[1]


def test_a_dropped_subscription_hides_the_county_at_once(client: TestClient, cw, database_url: str) -> None:
    tenant = make_tenant(database_url, "cache-drop")
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, cw["county"])
    admin = {"X-API-Key": tenant.keys["admin"]}
    property_id = cw["ids"][key_of(cw, 1)]
    for _ in range(2):
        assert client.get(f"/api/v1/properties/{property_id}", headers=admin).status_code == 200
        page = client.get("/api/v1/properties", params={"county": cw["county"]}, headers=admin).json()
        assert len(page["items"]) == N
    assert client.delete(f"/api/v1/subscriptions/{cw['county']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/properties/{property_id}", headers=admin).status_code == 404
    assert client.get("/api/v1/properties", params={"county": cw["county"]}, headers=admin).json()["items"] == []


def test_a_cached_detail_is_still_received_and_refused_past_the_plan(client: TestClient, cw, database_url) -> None:
    tenant = make_tenant(database_url, "cache-quota")
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, cw["county"])
    headers = {"X-API-Key": tenant.keys["read"]}
    key = key_of(cw, 1)
    property_id = cw["ids"][key]
    assert get(client, f"/api/v1/properties/{property_id}", headers)[0].status_code == 200

    def received() -> int:
        with owner_cursor(database_url) as cur:
            cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s AND county = %s "
                        "AND prospect_key = %s", (tenant.id, cw["county"], key))
            return cur.fetchone()[0]

    assert received() == 1
    with owner_cursor(database_url) as cur:  # as if a new month began: not received yet
        cur.execute("DELETE FROM property_receipts WHERE tenant_id = %s", (tenant.id,))
    response, hit = get(client, f"/api/v1/properties/{property_id}", headers)
    assert response.status_code == 200 and hit and received() == 1
    with owner_cursor(database_url) as cur:  # a plan of no properties left: the cached body is refused
        cur.execute("DELETE FROM property_receipts WHERE tenant_id = %s", (tenant.id,))
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "SELECT %s, date_trunc('month', now())::date, 'filler', 'k' || g, 'detail' "
                    "FROM generate_series(1, 100) g", (tenant.id,))
    refused, hit = get(client, f"/api/v1/properties/{property_id}", headers)
    assert hit and refused.status_code == 402 and refused.json()["quota"] == "properties"
    assert received() == 0


def _tables(sql: str) -> set[str]:
    return set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", sql, re.I))


def test_every_table_the_cached_routes_read_bumps_the_generation(cw) -> None:
    """The migration's trigger list against the SQL the routes run: a table added to the list or
    the detail without a trigger would serve stale bodies."""
    read = _tables(list_query(PropertyFilters(county=["x"], status=["emailed"], reviewed=True))[0])
    read |= _tables(properties.DETAIL)
    funnel = _tables(TENANT_STATUS_COUNTS)  # the funnel's status counts are kept in the cache too
    assert funnel - {"sent", "scored", "moved", "counted"} <= read, funnel
    read |= {"subscriptions"}  # row-level security's county_subscribed (migration 0008)
    triggered = set()
    for name in ("0037_response_cache_generations", "0051_email_packets",  # 0051: the junction's triggers
                 "0060_score_components_columns_model_versions_per_county"):  # 0060: the scores' versions
        triggered |= set(importlib.import_module(f"realestate_assets.db.migrations.versions.{name}").DEPENDENCIES)
    assert read == triggered
    with owner_cursor(cw["url"]) as cur:
        cur.execute("SELECT tgrelid::regclass::text, count(*) FROM pg_trigger WHERE tgname LIKE '%%\\_cache\\_%%' "
                    "GROUP BY 1")
        assert dict(cur.fetchall()) == {table: 4 for table in read}


def test_metrics_count_the_hits_and_the_bytes(client: TestClient, cw) -> None:
    headers = {"X-API-Key": cw["a"].keys["read"]}
    for _ in range(2):
        get(client, "/api/v1/properties", headers, county=cw["county"], sort="zip")
    text = client.get("/metrics").text
    hits = re.search(r'^reos_api_response_cache_lookups_total\{result="hit"\} (\S+)$', text, re.M)
    size = re.search(r"^reos_api_response_cache_bytes (\S+)$", text, re.M)
    assert hits and float(hits.group(1)) == cache(client).stats()["hits"] >= 1
    assert size and float(size.group(1)) == cache(client).stats()["bytes"] > 0


def test_the_generation_never_comes_back_to_an_earlier_value(database_url: str) -> None:
    """Migration 0042: a county bumped once, then unfollowed. Summed (0037), the tenant's +1 and
    the county's −1 gave the generation it had before the drop; per scope, it differs."""
    tenant = make_tenant(database_url, "cache-gen")
    county = f"cg_{uuid.uuid4().hex[:6]}"

    def generation() -> int:
        with owner_cursor(database_url) as cur:
            from realestate_assets.db.tenancy import act_as_api

            act_as_api(cur, tenant.id, then="SELECT reos_cache_generation()")
            return cur.fetchone()[0]

    seen = [generation()]
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT reos_cache_bump(ARRAY[%s])", (f"c:{county}",))  # one write to the county
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, county)
    seen.append(generation())
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s AND county = %s", (tenant.id, county))
    seen.append(generation())
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, county)
    seen.append(generation())
    assert len(set(seen)) == len(seen), seen
