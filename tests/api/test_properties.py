"""/api/v1/properties on real PostgreSQL: two tenants following different counties, rows written
by the pipeline's tenant as the warehouse holds them today; pages, filters, sort, detail, CSV,
and row-level security with direct SQL."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.api.v1.property_query import (
    COLUMNS,
    InvalidQuery,
    PropertyFilters,
    decode_cursor,
    encode_cursor,
    list_query,
    nullable_lead,
    page_parts,
    sort_keys,
    text_matches,
    with_followed_counties,
)
from realestate_assets.db.county_partitions import county_partition_name, ensure_county_partitions
from realestate_assets.db.tenancy import act_as_api
from tests.api.helpers_api import N_A, PROVENANCE, bearer, dsn, login, make_tenant, owner_cursor, seed_county
from tests.databases import scratch_database


@pytest.fixture(scope="module")
def headers(client: TestClient, world) -> dict[str, dict[str, str]]:
    return {"a": bearer(login(client, world["a"].users["viewer"]["email"])["access_token"]),
            "b": {"X-API-Key": world["b"].keys["read"]}}


def walk(client: TestClient, headers: dict[str, str], limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        response = client.get("/api/v1/properties", params={**params, "limit": limit, "cursor": cursor},
                              headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


def expected_order(items: list[dict[str, Any]], sort: str) -> list[int]:
    """The order PostgreSQL must give: each key ascending or descending, nulls last, id last."""
    rows = list(items)
    for name, descending in reversed(sort_keys(sort)):  # stable sorts, least significant key first
        if descending:
            rows.sort(key=lambda r, n=name: (r[n] is not None, r[n]), reverse=True)
        else:
            rows.sort(key=lambda r, n=name: (r[n] is None, r[n]))
    return [r["id"] for r in rows]


@pytest.mark.parametrize("sort", ["-bird_dog_score", "list_price", "-list_price,address", "status,-id",
                                  "address", "-score_rank", "-last_seen_at", "last_sale_price,-last_sale_date"])
def test_pages_walk_every_row_exactly_once_in_sort_order(client: TestClient, world, headers, sort: str) -> None:
    # By name: tenants also follow king_wa (helpers_api.make_tenant), whose public rows other test
    # files in the same database may have written.
    items = walk(client, headers["a"], 4, sort=sort, county=world["ca"])
    ids = [r["id"] for r in items]
    assert len(ids) == len(set(ids)) == N_A and set(ids) == set(world["ids"][world["ca"]])
    assert ids == expected_order(items, sort)
    assert {r["county"] for r in items} == {world["ca"]}


def test_each_tenant_sees_only_the_counties_it_follows(client: TestClient, world, headers) -> None:
    b_items = walk(client, headers["b"], 50, county=world["cb"])  # not king_wa (see the walk's test)
    assert sorted(r["id"] for r in b_items) == world["ids"][world["cb"]]
    # Asking for a county one does not follow is not an error: there is nothing to see.
    assert walk(client, headers["a"], 50, county=world["cb"]) == []
    for other in [*world["ids"][world["cb"]][:3], 999999999]:
        missing = client.get(f"/api/v1/properties/{other}", headers=headers["a"])
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["detail"] == f"no property {other} in the counties this tenant follows"
    assert client.get(f"/api/v1/properties/{world['ids'][world['ca']][0]}", headers=headers["b"]).status_code == 404


def test_filters(client: TestClient, world, headers) -> None:
    def ids(**params: Any) -> set[int]:  # the seeded county's rows, not king_wa's (see the walk's test)
        return {r["id"] for r in walk(client, headers["a"], 200, **{"county": world["ca"], **params})}

    every = {r["id"]: r for r in walk(client, headers["a"], 200, county=world["ca"])}
    assert ids(min_score=70, max_score=80) == {i for i, r in every.items()
                                                if r["bird_dog_score"] is not None and 70 <= r["bird_dog_score"] <= 80}
    assert ids(min_price=310000, max_price=320000) == {
        i for i, r in every.items() if r["list_price"] is not None and 310000 <= r["list_price"] <= 320000}
    valued = sorted(r["estimated_value"] for r in every.values() if r["estimated_value"] is not None)
    low, high = valued[len(valued) // 4], valued[len(valued) // 2]
    assert ids(min_value=low, max_value=high) == {
        i for i, r in every.items()
        if r["estimated_value"] is not None and low <= r["estimated_value"] <= high} != set()
    assert ids(status="new") == {i for i, r in every.items() if r["status"] == "new"} != set()
    assert ids(property_type=["condo"], status=["new", "scored"]) == {
        i for i, r in every.items() if r["property_type"] == "condo"}
    assert ids(q="oak st") == {i for i, r in every.items() if "OAK" in r["address"]} != set()
    assert ids(q="100%") == set()  # a wildcard in the text is a literal
    assert ids(county=world["ca"], min_score=90) == {i for i, r in every.items() if r["bird_dog_score"] == 90}
    for bad in ({"sort": "password_hash"}, {"min_score": 90, "max_score": 10}, {"min_value": 9, "max_value": 1},
                {"limit": 201}, {"cursor": "x"},
                {"unknown": 1}):
        response = client.get("/api/v1/properties", params=bad, headers=headers["a"])
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json", bad
    page = client.get("/api/v1/properties", params={"limit": 2}, headers=headers["a"]).json()
    other_sort = client.get("/api/v1/properties", params={"cursor": page["next_cursor"], "sort": "address"},
                            headers=headers["a"])
    assert other_sort.status_code == 422 and "another sort" in other_sort.json()["detail"]


def test_detail_with_provenance_components_and_reasons(client: TestClient, world, headers) -> None:
    first = world["ids"][world["ca"]][0]  # i = 1: scored, with stored reasons
    detail = client.get(f"/api/v1/properties/{first}", headers=headers["a"])
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["county"] == world["ca"] and body["prospect"]["address"] == "101 MAIN ST"
    assert "tenant_id" not in body["prospect"]
    assert body["enrichment_status"] == "enriched"
    assert body["enrichment"]["living_sqft"] == {"value": 1001.0, "provenance": PROVENANCE["living_sqft"]}
    assert body["enrichment"]["year_built"] == {"value": 1950, "provenance": None}
    # i = 1's provenance is stored grouped, i = 2's per field (a row written before): the same answer.
    older = client.get(f"/api/v1/properties/{world['ids'][world['ca']][1]}", headers=headers["a"]).json()
    assert older["prospect_key"].endswith("-0002")
    assert older["enrichment"]["living_sqft"] == {"value": 1002.0, "provenance": PROVENANCE["living_sqft"]}
    assert older["enrichment"]["year_built"] == {"value": 1950, "provenance": None}
    score = body["score"]
    assert score["bird_dog_score"] == 60.0 and score["reasons"] == [f"reason for {world['ca']}-0001"]
    assert {c["name"]: c["percentile"] for c in score["components"]} == {"equity": 91.0, "tenure": 40.0}
    assert score["components"][0]["label"].startswith("Equity")
    # The estimate's 80% range (scores since migration 0018).
    assert (score["estimated_value_low"], score["estimated_value"], score["estimated_value_high"]) == (
        430001.0, 500001.0, 605001.0)
    unscored = client.get(f"/api/v1/properties/{world['ids'][world['ca']][3]}", headers=headers["a"]).json()
    assert unscored["score"] is None and unscored["enrichment"] is None and unscored["prospect"]["status"] == "new"


def test_csv_export_matches_the_list(client: TestClient, world, headers, database_url: str) -> None:
    params = {"sort": "-list_price,address", "min_score": 60, "county": world["ca"]}  # not king_wa (the walk's test)
    listed = walk(client, headers["a"], 5, **params)
    response = client.get("/api/v1/properties/export.csv", params=params, headers=headers["a"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(COLUMNS)
    assert [int(r["id"]) for r in rows] == [r["id"] for r in listed] and len(rows) > 5
    for row, item in zip(rows, listed, strict=True):
        assert row["address"] == item["address"] and row["bird_dog_score"] == str(item["bird_dog_score"])
        assert row["list_price"] == ("" if item["list_price"] is None else str(item["list_price"]))
        assert date.fromisoformat(row["last_sale_date"]) == date.fromisoformat(item["last_sale_date"])
    bad = client.get("/api/v1/properties/export.csv", params={"sort": "nope"}, headers=headers["a"])
    assert bad.status_code == 422
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT after FROM audit_log WHERE tenant_id = %s AND action = 'export' AND entity = 'properties'",
                    (world["a"].id,))
        assert [r[0]["min_score"] for r in cur.fetchall()] == [60]


def test_api_role_reads_public_rows_only_for_subscribed_counties(database_url: str, world) -> None:
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            for table in ("prospects", "enrichment", "scores"):
                act_as_api(cur, world["a"].id)
                cur.execute(f"SELECT DISTINCT county FROM {table}")
                # king_wa too when other test files wrote its public rows: A follows it (make_tenant).
                assert {r[0] for r in cur.fetchall()} - {"king_wa"} == {world["ca"]}, table
                conn.rollback()
                act_as_api(cur, None)
                cur.execute(f"SELECT count(*) FROM {table}")
                assert cur.fetchone()[0] == 0, table
                conn.rollback()
    finally:
        conn.close()


@pytest.fixture
def own_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of this test's own. The plans below depend on the statistics of
    `prospects.county`: row-level security adds `county = ANY(<the followed counties>)`, whose
    selectivity the planner derives from the number of distinct counties, and on the suite's shared
    database that is however many the other worker's tests left (once enough to estimate the
    40,000-property county at 7,060 rows and hash-join instead of reading the first-seen index).
    A policy the planner evaluates at plan time would not free them from it: its estimate is the
    followed counties' share of the table, as shared (docs/api.md, "Row-level security and the planner")."""
    with scratch_database(tmp_path_factory.mktemp("plans-pg"), prefix="reos_plans") as url:
        yield url


def test_the_default_filtered_page_uses_indexes_on_a_large_table(own_database: str) -> None:
    """100,000 properties in 20 counties, 41,000 in each of the two the tenant follows: a page reads
    the followed counties' rows alone (each county a partition of its own, migration 0069), and a
    page in an order an index holds comes from that index. Everything is rolled back."""
    database_url = own_database
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            tenant, bulk = f"reader_{uuid.uuid4().hex[:6]}", f"bulk{uuid.uuid4().hex[:6]}"
            store.create_tenant(cur, tenant, "reader")
            store.subscribe(cur, tenant, f"{bulk}_c07")
            store.subscribe(cur, tenant, f"{bulk}_c08")
            ensure_county_partitions(cur, *(f"{bulk}_c{c:02d}" for c in range(20)))
            cur.execute("""
                INSERT INTO prospects (county, prospect_key, address, list_price)
                SELECT %s || '_c' || lpad((CASE WHEN g > 80000 OR g %% 20 IN (7, 8) THEN g %% 20
                                                ELSE 7 + g %% 2 END)::text, 2, '0'), 'k' || g, g || ' MAIN ST',
                       100000 + g
                FROM generate_series(1, 100000) g""", (bulk,))
            cur.execute("""
                INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, model_version)
                SELECT county, prospect_key, '2026-12-01', (id * 7919 %% 1000) / 10.0, 1, 'v1'
                FROM prospects WHERE county LIKE %s""", (bulk + "_c%",))
            cur.execute("ANALYZE prospects")
            cur.execute("ANALYZE scores")
            act_as_api(cur, tenant)
            followed = [s["county"] for s in store.list_subscriptions(cur)]
            # The default page (every followed county, by score) and a filtered one, as the route builds them.
            for filters, counties in ((PropertyFilters(), {f"{bulk}_c07", f"{bulk}_c08"}),
                                      (PropertyFilters(county=[f"{bulk}_c07"], min_score=50), {f"{bulk}_c07"})):
                query, params = list_query(with_followed_counties(filters, followed), limit=51)
                cur.execute("EXPLAIN " + query, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                # By score, every row of the county is joined and sorted (a property without a score
                # sorts last): read in one pass of its partitions, no other county's rows.
                read = set(re.findall(r" on ((?:prospects|scores)__\w+)", plan))
                assert read == {county_partition_name(t, c) for t in ("prospects", "scores") for c in counties}, plan
                cur.execute(query, params)
                rows = cur.fetchall()
                assert len(rows) == 51 and {r[1] for r in rows} <= counties
            # Migration 0030: the price order from its index; a selective `q` read by id (the trigram
            # index inside reos_search_prospects, when the server has pg_trgm), a common one not.
            query, params = list_query(PropertyFilters(county=[f"{bulk}_c07"], sort="list_price"), limit=51)
            cur.execute("EXPLAIN " + query, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "ix_prospects_county_price" in plan, plan
            # Migration 0065: the dearest first from the same price index read backward, in both parts
            # (the priced rows, then the NULL-priced ones: a page's parts, property_query.order_by).
            dearest = PropertyFilters(county=[f"{bulk}_c07"], sort="-list_price")
            for part in page_parts(dearest):
                query, params = list_query(dearest, limit=51, lead=part)
                cur.execute("EXPLAIN " + query, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                # (the partition's index: the table's name and the county's hash, county_partitions)
                assert re.search(r"Index Scan Backward using ix_prospects_county_price_[0-9a-f]{6} ", plan), plan
                assert "Sort" not in plan, plan
            selective = PropertyFilters(county=[f"{bulk}_c07"], q="12347 main")
            matches = text_matches(cur, selective)
            assert matches is not None and len(matches) == 1
            cur.execute(*list_query(selective, limit=51, matches=matches))
            assert [r[4] for r in cur.fetchall()] == ["12347 MAIN ST"]
            assert text_matches(cur, PropertyFilters(county=[f"{bulk}_c07"], q="main")) is None  # 41,000 match
            assert text_matches(cur, PropertyFilters(county=[f"{bulk}_c09"], q="12349")) == []  # not followed
            # Migration 0040: Home's recent deals (the packet threshold, newest first, then score) from the
            # first-seen index, in a county of 40,000 properties first seen over a year of daily runs.
            _first_seen_over_days(cur, tenant, f"{bulk}_big", 40_000, 365, "OAK ST")
            recent = PropertyFilters(county=[f"{bulk}_big"], min_score=75, sort="-first_seen_at,-bird_dog_score")
            query, params = list_query(recent, limit=9, lead=page_parts(recent)[0])
            cur.execute("EXPLAIN " + query, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "ix_prospects_county_first_seen" in plan and "Hash Join" not in plan, plan
            cur.execute(query, params)
            rows = [(r[22], r[18]) for r in cur.fetchall()]  # first_seen_at, bird_dog_score
            assert len(rows) == 9 and all(score >= 75 for _, score in rows)
            assert rows == sorted(rows, reverse=True)
            # Several followed counties: one index scan per county, merged (no hash join of all of them),
            # and the same page as the plain query over every county.
            _first_seen_over_days(cur, tenant, f"{bulk}_big2", 20_000, 200, "ELM ST", hours_earlier=1)
            both = recent.model_copy(update={"county": [f"{bulk}_big", f"{bulk}_big2"]})
            query, params = list_query(both, limit=9, lead=page_parts(both)[0])
            cur.execute("EXPLAIN " + query, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            # (the 20,000-property county may be hashed: its 1,000 deals are few; the point is that neither
            # county's plan joins the other's rows)
            assert "Append" in plan and "ix_prospects_county_first_seen" in plan, plan
            for filters in (both, both.model_copy(update={"sort": "-bird_dog_score"}),
                            both.model_copy(update={"sort": "list_price,address", "min_score": None}),
                            PropertyFilters(county=[f"{bulk}_c07", f"{bulk}_c08"], sort="-status,id")):
                cur.execute(*list_query(filters, limit=9))
                merged = cur.fetchall()
                cur.execute(*list_query(filters))
                assert merged == cur.fetchall()[:9], filters.sort
                cursor = encode_cursor(filters.sort, dict(zip([d[0] for d in cur.description], merged[3], strict=True)))
                cur.execute(*list_query(filters, cursor, limit=5))
                assert cur.fetchall()[:5] == merged[4:9], filters.sort
    finally:
        conn.rollback()
        conn.close()


# The orders with an index, each with its index (`id`: the primary key, `(id, county)`, ordered by id
# in a county's partition: migration 0071); a score order's NULL part (no scores row, a LEFT JOIN)
# has none.
INDEXED_ORDERS = {"-list_price": ("ix_prospects_county_price",), "list_price": ("ix_prospects_county_price",),
                  "-first_seen_at": ("ix_prospects_county_first_seen",),
                  "-first_seen_at,-bird_dog_score": ("ix_prospects_county_first_seen",),
                  "-bird_dog_score": ("ix_scores_county_score",), "id": ("prospects_pkey",)}


def test_cursor_pages_are_ranges_of_their_order_s_index(own_database: str) -> None:
    """A page after a cursor starts at the cursor in its order's index (an index range), in every
    part the route reads (`page_parts`: the rows whose lead is set, then those where it is NULL):
    deep in the set rows, across from priced to NULL-priced (or unscored) rows, and deep in the
    NULLs. Before, the cursor's OR of conditions was no index condition: the plan read the county
    from the top of the index and filtered (or, at a million, sorted it all: 4.1–4.8 s for
    `-list_price`). The pages are the full order's rows after the cursor. Everything is rolled back."""
    conn = psycopg2.connect(dsn(own_database))
    try:
        with conn.cursor() as cur:
            tenant, county = f"reader_{uuid.uuid4().hex[:6]}", f"pages{uuid.uuid4().hex[:6]}"
            store.create_tenant(cur, tenant, "reader")
            _first_seen_over_days(cur, tenant, county, 40_000, 365, "OAK ST")
            cur.execute("RESET ROLE")
            # A quarter priced (500 prices, so ties), a tenth unscored: every nullable lead has a NULL tail.
            cur.execute("UPDATE prospects SET list_price = 100000 + (id * 7919 %% 500) * 1000 "
                        "WHERE county = %s AND id %% 4 = 0", (county,))
            cur.execute("DELETE FROM scores s USING prospects p WHERE p.county = %s AND s.county = p.county "
                        "AND s.prospect_key = p.prospect_key AND p.id %% 10 = 0", (county,))
            cur.execute("ANALYZE prospects")
            cur.execute("ANALYZE scores")
            act_as_api(cur, tenant)
            for sort, indexes in INDEXED_ORDERS.items():
                filters = PropertyFilters(county=[county], sort=sort)
                cur.execute(*list_query(filters))
                names = [d[0] for d in cur.description]
                every = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
                lead = sort_keys(sort)[0][0]
                heads = sum(r[lead] is not None for r in every)
                assert len(every) == 40_000 and (heads < 40_000 or not nullable_lead(filters)), sort
                for at in sorted({1_000, heads - 10, min(heads + 1_000, 39_000), 39_000}):
                    cursor = encode_cursor(sort, every[at])
                    rows: list[Any] = []
                    for part in page_parts(filters):
                        query, params = list_query(filters, cursor, 51 - len(rows), lead=part)
                        cur.execute("EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) " + query, params)
                        plan = "\n".join(r[0] for r in cur.fetchall())
                        if part == "set" and every[at][lead] is None:
                            assert "One-Time Filter: false" in plan, plan  # no set lead follows a NULL one
                        elif not (part == "null" and lead == "bird_dog_score"):
                            # (a county partition's index: the table's name and the county's hash)
                            assert any(re.search(rf"\b{index}(_[0-9a-f]{{6}})?\b", plan) for index in indexes), \
                                (sort, at, part, plan)
                            assert "Seq Scan on prospects" not in plan and "Seq Scan on scores" not in plan, plan
                            # from the cursor on: at most a value's ties filtered out, not the rows before it
                            removed = sum(int(ln.split(":")[1]) for ln in plan.splitlines() if "Removed by" in ln)
                            assert removed <= 200, (sort, at, part, plan)
                        cur.execute(query, params)
                        rows += cur.fetchall()
                        if len(rows) > 50:
                            break
                    assert [r[0] for r in rows[:50]] == [r["id"] for r in every[at + 1:at + 51]], (sort, at)
    finally:
        conn.rollback()
        conn.close()


def _first_seen_over_days(cur: Any, tenant: str, county: str, n: int, days: int, street: str,
                          hours_earlier: int = 0) -> None:
    """`n` scored properties of a county the tenant follows, first seen over `days` daily runs (as the
    tables' owner, then back to the API role as `tenant`), analyzed."""
    cur.execute("RESET ROLE")  # the tables' owner again, in the same transaction
    store.subscribe(cur, tenant, county)
    ensure_county_partitions(cur, county)
    cur.execute("""
        INSERT INTO prospects (county, prospect_key, address, first_seen_at)
        SELECT %s, 'b' || g, g || ' ' || %s,
               now() - (g %% %s) * interval '1 day' - %s * interval '1 hour'
        FROM generate_series(1, %s) g""", (county, street, days, hours_earlier, n))
    cur.execute("""
        INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, model_version)
        SELECT county, prospect_key, '2026-12-01', (id * 7919 %% 1000) / 10.0, 1, 'v1'
        FROM prospects WHERE county = %s""", (county,))
    cur.execute("ANALYZE prospects")
    cur.execute("ANALYZE scores")
    act_as_api(cur, tenant)


def test_search_text_is_the_indexed_expression() -> None:
    """The trigram index (migration 0030) is on the same expression `q` filters on, else it is never used."""

    from realestate_assets.api.v1.property_query import SEARCH_TEXT
    from tests.databases import migration_module

    assert SEARCH_TEXT.replace("p.", "") == migration_module("0030").SEARCH_TEXT


def _forged(sort: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursors_round_trip_and_forged_ones_are_refused() -> None:
    sort = "-last_sale_price,last_seen_at"
    row = {"last_sale_price": Decimal("415000.00"), "last_seen_at": datetime(2026, 12, 2, 4, tzinfo=UTC), "id": 7}
    assert decode_cursor(sort, encode_cursor(sort, row)) == ["415000.00", "2026-12-02T04:00:00+00:00", 7]
    assert decode_cursor(sort, _forged(sort, [None, None, 7])) == [None, None, 7]
    for values in (["1", "2026-12-02", "7"], [{"a": 1}, None, 7], ["x", None, 7], ["1", "yesterday", 7],
                   ["1", None, 2**70], [1, None, 7]):
        with pytest.raises(InvalidQuery):
            decode_cursor(sort, _forged(sort, values))
    with pytest.raises(InvalidQuery):
        decode_cursor("address", encode_cursor(sort, row))


def test_packeted_and_emailed_are_the_calling_tenants_own(client: TestClient, database_url: str) -> None:
    """Two tenants follow one county: the public status stops at `scored`; a memo and a sent email of
    one tenant show as `packeted` / `emailed` to it alone (list, filter and detail)."""
    x, y = make_tenant(database_url, "stat-x"), make_tenant(database_url, "stat-y")
    county = f"cs_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 3)
        for tenant in (x, y):
            store.subscribe(cur, tenant.id, county)
        packet_ids = []
        for i in (1, 2):
            cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, "
                        "inputs_hash, object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                        "(%s, %s, %s, 'investor_memo', '1', 'h', 'k', 's', 10, 80, now()) RETURNING id",
                        (x.id, county, f"{county}-{i:04d}"))
            packet_ids.append(cur.fetchone()[0])
        cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, "
                    "subject, provider, send_key, status) VALUES (%s, %s, 'new_opportunity', %s, %s, "
                    "'r@example.com', 'Deal', 'outbox', 'k2', 'sent')", (x.id, county, packet_ids[1], [packet_ids[1]]))
    as_x, as_y = {"X-API-Key": x.keys["read"]}, {"X-API-Key": y.keys["read"]}

    def statuses(headers: dict[str, str], **params: Any) -> dict[str, str]:
        page = client.get("/api/v1/properties", params={"county": county, **params}, headers=headers)
        assert page.status_code == 200, page.text
        return {item["prospect_key"]: item["status"] for item in page.json()["items"]}

    keys = [f"{county}-{i:04d}" for i in (1, 2, 3)]
    assert statuses(as_x) == {keys[0]: "packeted", keys[1]: "emailed", keys[2]: "scored"}
    assert statuses(as_y) == dict.fromkeys(keys, "scored")
    assert statuses(as_x, status="emailed") == {keys[1]: "emailed"}
    assert statuses(as_y, status=["packeted", "emailed"]) == {}
    first = client.get("/api/v1/properties", params={"county": county, "status": "packeted"},
                       headers=as_x).json()["items"][0]["id"]
    assert client.get(f"/api/v1/properties/{first}", headers=as_x).json()["prospect"]["status"] == "packeted"
    assert client.get(f"/api/v1/properties/{first}", headers=as_y).json()["prospect"]["status"] == "scored"
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'prospects' "
                    "AND column_name = 'status'")
        assert cur.fetchone() == (0,)  # the public row stores no status (0050): nothing of x's progress
