"""The property detail page's API on real PostgreSQL (issue #12): comparable sales (the one comps
rule), price history and the county index, the tenant's emails about a property, bulk review
marks and the list's `reviewed` filter, and `POST /properties/search` with "similar to" through a
real Qdrant local store — including the 503s when the store is busy or absent."""

from __future__ import annotations

import fcntl
import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.assets.common import county_sales
from realestate_assets.config_models import load_scoring
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.tenancy import act_as_api
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.market.comps import comparable_sales
from realestate_assets.market.index import INDEX_SALE_COLUMNS, HedonicIndex
from realestate_assets.market.stored import store_index
from realestate_assets.settings import repo_root
from tests.api.helpers_api import api_client, bearer, dsn, login, make_tenant, owner_cursor

AS_OF = "2026-06-01"
LAT, LON = 47.60, -122.30
N_PROSPECTS = 6


def _sales() -> pd.DataFrame:
    """The county's sales: 40 nearby same-type sales over three years, plus ones the rule must skip
    (too far, another use type, after the as-of date) and the subject parcel's own two sales."""
    rows = []
    for i in range(40):
        rows.append({"sale_id": f"s{i}", "parcel_id": f"P{i:03d}", "sale_price": 400000.0 + 5000 * (i % 9) + 2000 * i,
                     "sale_date": pd.Timestamp("2023-06-01") + pd.DateOffset(days=25 * i),
                     "use_type": "single_family", "living_sqft": 1300.0 + 10 * (i % 13),
                     "latitude": LAT + 0.0004 * (i % 7) - 0.0012, "longitude": LON + 0.0005 * (i % 5) - 0.001})
    rows += [
        {"sale_id": "far", "parcel_id": "FAR", "sale_price": 410000.0, "sale_date": pd.Timestamp("2026-01-10"),
         "use_type": "single_family", "living_sqft": 1400.0, "latitude": LAT + 0.2, "longitude": LON},
        {"sale_id": "condo", "parcel_id": "CONDO", "sale_price": 300000.0, "sale_date": pd.Timestamp("2026-01-11"),
         "use_type": "condo", "living_sqft": 1400.0, "latitude": LAT, "longitude": LON},
        {"sale_id": "late", "parcel_id": "LATE", "sale_price": 420000.0, "sale_date": pd.Timestamp("2026-06-15"),
         "use_type": "single_family", "living_sqft": 1400.0, "latitude": LAT, "longitude": LON},
        {"sale_id": "own1", "parcel_id": "S000", "sale_price": 300000.0, "sale_date": pd.Timestamp("2020-03-02"),
         "use_type": "single_family", "living_sqft": 1400.0, "latitude": LAT, "longitude": LON},
        {"sale_id": "own2", "parcel_id": "S000", "sale_price": 450000.0, "sale_date": pd.Timestamp("2024-05-03"),
         "use_type": "single_family", "living_sqft": 1400.0, "latitude": LAT, "longitude": LON},
    ]
    frame = pd.DataFrame(rows)
    for column in ("beds", "baths", "lot_sqft", "bldg_grade", "age_at_sale", "eff_age_at_sale"):
        frame[column] = 3.0
    return frame


@pytest.fixture(scope="module")
def market_world(database_url: str) -> dict[str, Any]:
    """Tenant A follows a county with sales and six scored properties; tenant B follows it too
    (isolation of emails and review marks); tenant C follows nothing of it."""
    a, b, c = (make_tenant(database_url, f"mkt-{x}") for x in "abc")
    county = f"cx_{uuid.uuid4().hex[:6]}"
    sales = _sales()
    with owner_cursor(database_url) as cur:
        ensure_county_partitions(cur, county)
        for row in sales.itertuples():
            cur.execute(
                "INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date, use_type, "
                "living_sqft, beds, baths, lot_sqft, bldg_grade, age_at_sale, eff_age_at_sale, latitude, longitude) "
                "VALUES (%s, 'test', %s, %s, %s, %s, %s, %s, 3, 3, 3, 3, 3, 3, %s, %s)",
                (county, row.sale_id, row.parcel_id, row.sale_price, row.sale_date.date(), row.use_type,
                 row.living_sqft, row.latitude, row.longitude))
        ids = []
        for i in range(N_PROSPECTS):
            key, parcel = f"{county}-{i}", "S000" if i == 0 else f"Q{i:03d}"
            cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, "
                        "zip, use_type, latitude, longitude) VALUES (%s, %s, %s, %s, 'SEATTLE', 'WA', "
                        "'98103', 'single_family', %s, %s) RETURNING id",
                        (county, key, parcel, f"{10 + i} ELM ST", LAT + 0.001 * i, LON))
            ids.append(cur.fetchone()[0])
            cur.execute("INSERT INTO enrichment (county, prospect_key, as_of_date, status, use_type, "
                        "living_sqft) VALUES (%s, %s, %s, 'enriched', 'single_family', %s)",
                        (county, key, AS_OF, 1400.0 + 50 * i))
            cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, "
                        "value_gap_pct, bird_dog_score, score_rank, model_version) "
                        "VALUES (%s, %s, %s, %s, 5.0, %s, %s, 'v1')",
                        (county, key, AS_OF, 500000.0 + 1000 * i, 90.0 - i, i + 1))
        for tenant in (a, b):
            store.subscribe(cur, tenant.id, county)
    # The county's index as the pipeline's `features` stage fits and stores it (the API reads it).
    fitted = HedonicIndex.from_sales(county_sales(Warehouse(database_url), {"county": county}, INDEX_SALE_COLUMNS))
    with owner_cursor(database_url) as cur:
        store_index(cur, county, fitted)
        # Tenant A emailed property 0 (a single-property email) and property 1 in a digest with 0.
        packets = {}
        for i in (0, 1):
            cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, "
                        "inputs_hash, object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                        "(%s, %s, %s, 'investor_memo', '1', 'h', 'x.pdf', 's', 10, 80, now()) RETURNING id",
                        (a.id, county, f"{county}-{i}"))
            packets[i] = cur.fetchone()[0]
        for n, listed in enumerate(([packets[0]], [packets[0], packets[1]])):
            cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, "
                        "subject, provider, send_key, status, sent_at) VALUES (%s, %s, 'new_opportunity', %s, %s, "
                        "'inv@example.com', %s, 'outbox', %s, 'sent', now() - %s * interval '1 hour') RETURNING id",
                        (a.id, county, listed[0], listed, f"Deal {n}", f"k{n}-{uuid.uuid4().hex}", 2 - n))
            email_id = cur.fetchone()[0]
            for event in ("delivered", "open"):
                cur.execute("INSERT INTO email_events (tenant_id, email_id, sg_event_id, event, occurred_at, payload) "
                            "VALUES (%s, %s, %s, %s, now(), '{}')", (a.id, email_id, uuid.uuid4().hex, event))
    return {"a": a, "b": b, "c": c, "county": county, "ids": ids, "sales": sales}


@pytest.fixture(scope="module")
def qdrant_dir(tmp_path_factory: pytest.TempPathFactory, market_world: dict[str, Any]) -> Path:
    """The property_vectors asset's local store for the county: property 1 is nearly property 0."""
    from realestate_assets.ml.vectors import open_store, write_partition

    path = tmp_path_factory.mktemp("vectors") / "qdrant"
    frame = pd.DataFrame({
        "prospect_key": [f"{market_world['county']}-{i}" for i in range(N_PROSPECTS)],
        "living_sqft": [1400.0, 1410.0, 3000.0, 900.0, 2500.0, 1800.0],
        "beds": [3.0, 3.0, 5.0, 1.0, 4.0, 2.0], "baths": [2.0, 2.0, 4.0, 1.0, 3.0, 1.0],
        "bldg_grade": [7.0, 7.0, 10.0, 5.0, 9.0, 6.0], "age_years": [60.0, 61.0, 5.0, 90.0, 15.0, 40.0],
        "latitude": [LAT + 0.001 * i for i in range(N_PROSPECTS)], "longitude": [LON] * N_PROSPECTS,
        "list_price": [None] * N_PROSPECTS, "estimated_value": [500000.0 + 1000 * i for i in range(N_PROSPECTS)],
        "bird_dog_score": [90.0 - i for i in range(N_PROSPECTS)], "use_type": ["single_family"] * N_PROSPECTS})
    with open_store(None, path) as client:
        write_partition(client, market_world["county"], frame)
    return path


@pytest.fixture(scope="module")
def vclient(database_url: str, tmp_path_factory: pytest.TempPathFactory, qdrant_dir: Path):
    with api_client(database_url, tmp_path_factory.mktemp("api-state"), qdrant_path=str(qdrant_dir)) as c:
        yield c


@pytest.fixture(scope="module")
def auth(vclient: TestClient, market_world: dict[str, Any]) -> dict[str, dict[str, str]]:
    a, b, c = market_world["a"], market_world["b"], market_world["c"]
    return {"a": bearer(login(vclient, a.users["viewer"]["email"])["access_token"]),
            "a_analyst": bearer(login(vclient, a.users["analyst"]["email"])["access_token"]),
            "b": {"X-API-Key": b.keys["write"]}, "c": {"X-API-Key": c.keys["read"]}}


# ---- comps and history ----------------------------------------------------------------------

def test_comps_are_the_one_rule_applied_to_the_county_sales(vclient, auth, market_world) -> None:
    pid = market_world["ids"][0]
    response = vclient.get(f"/api/v1/properties/{pid}/comps", headers=auth["a"])
    assert response.status_code == 200, response.text
    body = response.json()
    sales = market_world["sales"]
    target = pd.DataFrame([{"parcel_id": "S000", "latitude": LAT, "longitude": LON, "living_sqft": 1400.0,
                            "use_type": "single_family"}])
    settings = load_scoring(repo_root() / "config").comps
    expected = comparable_sales(target, sales, pd.Timestamp(AS_OF), settings, HedonicIndex.from_sales(sales))
    chosen = sales.iloc[expected.chosen["sale"]]
    assert [c["parcel_id"] for c in body["comps"]] == chosen["parcel_id"].tolist()
    assert body["summary"]["comps_count"] == int(expected.summary["comps_count"].iloc[0]) == settings.max_comps
    assert body["summary"]["comps_estimated_value"] == pytest.approx(
        float(expected.summary["comps_estimated_value"].iloc[0]))
    assert {"FAR", "CONDO", "LATE", "S000"}.isdisjoint(c["parcel_id"] for c in body["comps"])
    distances = [c["distance_m"] for c in body["comps"]]
    assert distances == sorted(distances) and distances[-1] <= settings.radius_m
    assert all(c["sale_date"] < AS_OF for c in body["comps"])
    assert body["rule"]["radius_m"] == settings.radius_m and body["detail"] is None
    # The second request (the pool's reference latitude kept by the process) says the same.
    assert vclient.get(f"/api/v1/properties/{pid}/comps", headers=auth["a"]).json() == body


def test_price_history_is_the_parcels_sales_and_the_county_index(vclient, auth, market_world) -> None:
    pid = market_world["ids"][0]
    body = vclient.get(f"/api/v1/properties/{pid}/price-history", headers=auth["a"]).json()
    assert body["sales"] == [{"date": "2020-03-02", "price": 300000.0}, {"date": "2024-05-03", "price": 450000.0}]
    index = HedonicIndex.from_sales(market_world["sales"].assign(
        sale_date=pd.to_datetime(market_world["sales"]["sale_date"])))
    assert body["index_method"] == index.method
    months = [p["month"] for p in body["index"]]
    assert months == sorted(months) and months[0] == "2020-03-01" and months[-1] <= AS_OF
    assert body["index"][0]["level"] == pytest.approx(1.0)


def test_a_property_without_location_has_no_comps_and_says_why(vclient, auth, market_world, database_url) -> None:
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id) "
                    "VALUES (%s, %s, 'NOLOC') RETURNING id",
                    (market_world["county"], f"{market_world['county']}-noloc"))
        pid = cur.fetchone()[0]
    body = vclient.get(f"/api/v1/properties/{pid}/comps", headers=auth["a"]).json()
    assert body["comps"] == [] and "latitude" in body["detail"]
    assert vclient.get(f"/api/v1/properties/{pid}/price-history", headers=auth["a"]).json()["sales"] == []


def test_a_county_without_a_stored_index_has_no_comps_and_says_why(vclient, auth, market_world,
                                                                 database_url) -> None:
    pid, county = market_world["ids"][0], market_world["county"]
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM market_indexes WHERE county = %s RETURNING *", (county,))
        (row,) = cur.fetchall()
    try:
        body = vclient.get(f"/api/v1/properties/{pid}/comps", headers=auth["a"]).json()
    finally:  # the module's other tests read it
        with owner_cursor(database_url) as cur:
            cur.execute(f"INSERT INTO market_indexes VALUES ({', '.join(['%s'] * len(row))})", row)
    assert body["comps"] == [] and body["detail"] == (
        f"no comps yet: no market index is stored for {county} (the pipeline's next enrichment run stores it)")


def test_market_routes_of_an_unfollowed_county_are_404(vclient, auth, market_world) -> None:
    pid = market_world["ids"][0]
    for route in ("comps", "price-history", "emails"):
        response = vclient.get(f"/api/v1/properties/{pid}/{route}", headers=auth["c"])
        assert response.status_code == 404, route
        assert response.headers["content-type"] == "application/problem+json"


def test_sales_rows_are_county_scoped_for_the_api_role(database_url, market_world) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            for tenant, expected in (("a", len(market_world["sales"])), ("c", 0)):
                act_as_api(cur, market_world[tenant].id)
                cur.execute("SELECT count(*) FROM sales WHERE county = %s", (market_world["county"],))
                assert cur.fetchone()[0] == expected
                conn.rollback()
    finally:
        conn.close()


# ---- emails -----------------------------------------------------------------------------------

def test_email_history_lists_the_tenants_emails_carrying_the_property(vclient, auth, market_world) -> None:
    first, second = market_world["ids"][:2]
    emails = vclient.get(f"/api/v1/properties/{first}/emails", headers=auth["a"]).json()
    assert [e["subject"] for e in emails] == ["Deal 1", "Deal 0"]  # newest first; the digest lists it too
    assert [e["event"] for e in emails[0]["events"]] == ["delivered", "open"]
    assert [e["subject"] for e in vclient.get(f"/api/v1/properties/{second}/emails", headers=auth["a"]).json()] \
        == ["Deal 1"]
    # Tenant B follows the county too, but the emails are A's.
    assert vclient.get(f"/api/v1/properties/{first}/emails", headers=auth["b"]).json() == []


# ---- reviews ----------------------------------------------------------------------------------

def _listed(client: TestClient, headers: dict[str, str], county: str, **params: Any) -> list[int]:
    response = client.get("/api/v1/properties", params={"county": county, "limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(i["id"] for i in response.json()["items"])


def test_bulk_review_marks_filter_the_list_per_tenant(vclient, auth, market_world, database_url) -> None:
    ids, county = market_world["ids"], market_world["county"]
    marked = ids[:3]
    response = vclient.post("/api/v1/properties/reviews", json={"property_ids": marked}, headers=auth["a_analyst"])
    assert response.status_code == 200, response.text
    assert response.json() == {"property_ids": sorted(marked), "reviewed": True, "changed": 3}
    again = vclient.post("/api/v1/properties/reviews", json={"property_ids": marked}, headers=auth["a_analyst"])
    assert again.json()["changed"] == 0  # idempotent
    assert _listed(vclient, auth["a"], county, reviewed="true") == sorted(marked)
    assert set(_listed(vclient, auth["a"], county, reviewed="false")).isdisjoint(marked)
    items = vclient.get("/api/v1/properties", params={"county": county}, headers=auth["a"]).json()["items"]
    assert all((i["reviewed_at"] is not None) == (i["id"] in marked) for i in items)
    # Tenant B sees none of A's marks.
    assert _listed(vclient, auth["b"], county, reviewed="true") == []
    # Clearing the mark; an unknown id is refused and nothing changes.
    cleared = vclient.post("/api/v1/properties/reviews", json={"property_ids": marked[:1], "reviewed": False},
                           headers=auth["a_analyst"])
    assert cleared.json()["changed"] == 1
    refused = vclient.post("/api/v1/properties/reviews", json={"property_ids": [marked[1], 2**62]},
                           headers=auth["a_analyst"])
    assert refused.status_code == 404 and str(2**62) in refused.json()["detail"]
    assert _listed(vclient, auth["a"], county, reviewed="true") == sorted(marked[1:])
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT action, after FROM audit_log WHERE tenant_id = %s AND entity = 'property_reviews' "
                    "ORDER BY id", (market_world["a"].id,))
        assert [r[0] for r in cur.fetchall()] == ["review", "unreview"]


def test_a_viewer_cannot_mark_reviewed(vclient, auth, market_world) -> None:
    response = vclient.post("/api/v1/properties/reviews", json={"property_ids": market_world["ids"][:1]},
                            headers=auth["a"])
    assert response.status_code == 403


# ---- search and similar properties ------------------------------------------------------------

def test_search_without_similar_to_is_the_list(vclient, auth, market_world) -> None:
    county = market_world["county"]
    body = {"county": [county], "sort": "-bird_dog_score", "limit": 4}
    found = vclient.post("/api/v1/properties/search", json=body, headers=auth["a"]).json()
    listed = vclient.get("/api/v1/properties", params={"county": county, "limit": 4}, headers=auth["a"]).json()
    assert [i["id"] for i in found["items"]] == [i["id"] for i in listed["items"]]
    assert found["next_cursor"] == listed["next_cursor"] and found["items"][0]["similarity"] is None


def test_similar_properties_come_from_the_vector_store_nearest_first(vclient, auth, market_world) -> None:
    ids = market_world["ids"]
    response = vclient.post("/api/v1/properties/search", json={"similar_to": ids[0], "limit": 3}, headers=auth["a"])
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 3 and ids[0] not in [i["id"] for i in items]
    assert items[0]["id"] == ids[1]  # the near twin
    assert [i["similarity"] for i in items] == sorted((i["similarity"] for i in items), reverse=True)
    # The list's filters still apply (score ≥ 87 leaves properties 1..3 of 0..5).
    filtered = vclient.post("/api/v1/properties/search", json={"similar_to": ids[0], "min_score": 87, "limit": 10},
                            headers=auth["a"]).json()["items"]
    assert sorted(i["id"] for i in filtered) == sorted(ids[1:4])
    # A property of a county the caller does not follow: 404.
    hidden = vclient.post("/api/v1/properties/search", json={"similar_to": ids[0]}, headers=auth["c"])
    assert hidden.status_code == 404


@pytest.fixture(scope="module")
def other_counties(database_url: str, market_world: dict[str, Any], qdrant_dir: Path) -> dict[str, Any]:
    """Two more counties with vectors in the same store: `near`, followed by tenant A, holds an exact
    twin of property 0's features in a county of much larger homes (so county z-scores differ);
    `hidden`, followed by tenant C only, holds another exact twin that A must never see."""
    from realestate_assets.ml.vectors import open_store, write_partition

    near, hidden = (f"{x}_{uuid.uuid4().hex[:6]}" for x in ("near", "hidden"))
    sizes = [1400.0, 3200.0, 3600.0, 4000.0, 4400.0]  # the twin first, then the county's big homes
    ids: dict[str, list[int]] = {}
    with owner_cursor(database_url) as cur:
        ensure_county_partitions(cur, near, hidden)
        for county in (near, hidden):
            ids[county] = []
            for i in range(len(sizes)):
                key = f"{county}-{i}"
                cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, zip, "
                            "use_type) VALUES (%s, %s, %s, %s, 'X', 'WA', '98000', 'single_family') RETURNING id",
                            (county, key, f"N{i}", f"{i} OAK ST"))
                ids[county].append(cur.fetchone()[0])
                cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, value_gap_pct, "
                            "bird_dog_score, score_rank, model_version) VALUES "
                            "(%s, %s, %s, 500000, 5.0, 88.5, %s, 'v1')", (county, key, AS_OF, i + 1))
        store.subscribe(cur, market_world["a"].id, near)
        store.subscribe(cur, market_world["c"].id, hidden)
    with open_store(None, qdrant_dir) as client:
        for county in (near, hidden):
            n = len(sizes)
            write_partition(client, county, pd.DataFrame({
                "prospect_key": [f"{county}-{i}" for i in range(n)], "living_sqft": sizes,
                "beds": [3.0, 5.0, 5.0, 6.0, 6.0], "baths": [2.0, 4.0, 4.0, 5.0, 5.0],
                "bldg_grade": [7.0, 12.0, 12.0, 13.0, 13.0], "age_years": [60.0, 5.0, 6.0, 4.0, 3.0],
                "latitude": [40.0 + 0.01 * i for i in range(n)], "longitude": [-100.0] * n,
                "list_price": [None] * n, "estimated_value": [500000.0] * n, "bird_dog_score": [88.5] * n,
                "use_type": ["single_family"] * n}))
    return {"near": near, "hidden": hidden, "ids": ids}


def test_similar_in_all_followed_counties_compares_features_on_one_scale(vclient, auth, market_world,
                                                                         other_counties) -> None:
    ids, near, hidden = market_world["ids"], other_counties["near"], other_counties["hidden"]
    body = {"similar_to": ids[0], "limit": 10, "scope": "followed"}
    response = vclient.post("/api/v1/properties/search", json=body, headers=auth["a"])
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    # The other county's twin (same size, beds, baths, age) is the nearest: identical features on
    # the shared scale, similarity 1, although in its own county it is the smallest home.
    assert items[0]["id"] == other_counties["ids"][near][0] and items[0]["similarity"] == 1.0
    assert {i["county"] for i in items} == {market_world["county"], near}
    assert ids[0] not in [i["id"] for i in items]
    assert [i["similarity"] for i in items] == sorted((i["similarity"] for i in items), reverse=True)
    # A county the tenant does not follow never appears, though it holds a twin just as near.
    assert not {i["id"] for i in items} & set(other_counties["ids"][hidden])
    asked = vclient.post("/api/v1/properties/search", json={**body, "county": [hidden]}, headers=auth["a"])
    assert asked.status_code == 200 and asked.json()["items"] == []
    # A `county` filter narrows the followed counties; the list's filters still apply.
    narrowed = vclient.post("/api/v1/properties/search", json={**body, "county": [near], "min_score": 88},
                            headers=auth["a"]).json()["items"]
    assert {i["county"] for i in narrowed} == {near} and len(narrowed) == 5
    # The default scope is the property's own county, as before.
    own = vclient.post("/api/v1/properties/search", json={"similar_to": ids[0], "limit": 10},
                       headers=auth["a"]).json()["items"]
    assert {i["county"] for i in own} == {market_world["county"]}
    # Tenant C, following only `hidden`, finds nothing of A's counties from its own twin.
    seen = vclient.post("/api/v1/properties/search", json={**body, "similar_to": other_counties["ids"][hidden][0]},
                        headers=auth["c"]).json()["items"]
    assert seen and {i["county"] for i in seen} == {hidden}
    bad = vclient.post("/api/v1/properties/search", json={**body, "scope": "world"}, headers=auth["a"])
    assert bad.status_code == 422


def test_a_busy_local_store_is_503_not_a_hang(vclient, auth, market_world, qdrant_dir: Path) -> None:
    # Another process (a pipeline run) holds the store's lock: the API waits a second, then says so.
    with (qdrant_dir.parent / f".{qdrant_dir.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        response = vclient.post("/api/v1/properties/search", json={"similar_to": market_world["ids"][0]},
                                headers=auth["a"])
        fcntl.flock(handle, fcntl.LOCK_UN)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "30" and "busy" in response.json()["detail"]


def test_no_vector_store_is_503(client, world) -> None:
    headers = {"X-API-Key": world["a"].keys["read"]}
    pid = world["ids"][world["ca"]][0]
    response = client.post("/api/v1/properties/search", json={"similar_to": pid}, headers=headers)
    assert response.status_code == 503 and "not available" in response.json()["detail"]


def test_openapi_documents_the_detail_routes_with_examples(vclient) -> None:
    spec = vclient.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in (("/api/v1/properties/{property_id}/comps", "get"),
                         ("/api/v1/properties/{property_id}/price-history", "get"),
                         ("/api/v1/properties/{property_id}/emails", "get"),
                         ("/api/v1/properties/reviews", "post"), ("/api/v1/properties/search", "post")):
        assert method in paths[path], path
    assert "503" in paths["/api/v1/properties/search"]["post"]["responses"]
    schemas = spec["components"]["schemas"]
    for name in ("PropertyComps", "PriceHistory", "PropertyEmail", "ReviewRequest", "SearchRequest", "SearchResult"):
        assert schemas[name].get("examples"), name
    json.dumps(spec)
