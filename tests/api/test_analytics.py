"""/api/v1/analytics on real PostgreSQL: figures that match the seeded rows, over the followed
counties only (tenant B's county never counts for tenant A)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.db.county_partitions import ensure_county_partitions
from tests.api.helpers_api import N_A, bearer, dsn, login, owner_cursor

API = "/api/v1/analytics"


@pytest.fixture(scope="module")
def viewer(client: TestClient, world: dict[str, Any]) -> dict[str, str]:
    return bearer(login(client, world["a"].users["viewer"]["email"])["access_token"])


def _scores(database_url: str, county: str) -> list[float]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT bird_dog_score FROM scores WHERE county = %s", (county,))
        return [r[0] for r in cur.fetchall()]


def test_summary_counts_the_followed_county_against_the_packet_threshold(
        client: TestClient, world: dict[str, Any], viewer: dict[str, str], database_url: str) -> None:
    # Tenant A also follows king_wa (helpers_api.make_tenant), whose public rows other test files in
    # the same database may have written: the figures are asked for the seeded county by name.
    mine = {"county": world["ca"]}
    answer = client.get(f"{API}/summary", params=mine, headers=viewer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    scores = _scores(database_url, world["ca"])
    [county] = body["counties"]
    assert county["county"] == world["ca"]
    assert (county["properties"], county["scored"]) == (N_A, len(scores))
    assert county["deals"] == sum(s >= body["threshold"] for s in scores) > 0
    assert county["new_deals_7d"] == county["deals"]  # all seeded just now
    assert county["average_score"] == round(sum(scores) / len(scores), 1)
    assert body["totals"] == {**county, "county": "all"}
    # Asking for tenant B's county shows nothing (row-level security), not B's figures.
    other = client.get(f"{API}/summary", params={"county": world["cb"]}, headers=viewer).json()
    assert other["counties"] == [] and other["totals"]["properties"] == 0


def test_distribution_locations_trends_and_funnel_agree_with_the_rows(
        client: TestClient, world: dict[str, Any], viewer: dict[str, str], database_url: str) -> None:
    scores = _scores(database_url, world["ca"])
    mine = {"county": world["ca"]}  # not king_wa, which tenant A follows too (see the summary's test)
    bins = client.get(f"{API}/score-distribution", params={"width": 20, **mine}, headers=viewer).json()
    assert bins["width"] == 20
    assert {b["bin_start"]: b["properties"] for b in bins["bins"]} == {
        float(start): sum(start <= min(s, 99.999) < start + 20 for s in scores)
        for start in {int(min(s, 99.999) // 20 * 20) for s in scores}}
    rows = client.get(f"{API}/locations", params=mine, headers=viewer).json()
    [zip_row] = rows
    assert (zip_row["zip"], zip_row["properties"], zip_row["scored"]) == ("98103", N_A, len(scores))
    [month] = client.get(f"{API}/trends", params=mine, headers=viewer).json()
    assert month["new_properties"] == N_A
    funnels = {f["county"]: f for f in client.get(f"{API}/funnel", headers=viewer).json()}
    funnel = funnels[world["ca"]]
    assert world["cb"] not in funnels
    stages = {s["stage"]: s["count"] for s in funnel["stages"]}
    assert stages["discovered"] == N_A and stages["scored"] == len(scores) and stages["emailed"] == 0
    assert funnel["emails"]["sent"] == 0
    assert client.get(f"{API}/score-distribution", params={"width": 0}, headers=viewer).status_code == 422


def _run(cur: Any, run_id: str, asset: str, county: str, status: str, ended_hours_ago: float, duration_s: float,
         row_count: int | None) -> None:
    cur.execute("INSERT INTO pipeline_runs (run_id, asset, county, job_name, run_status, status, started_at, ended_at, "
                "duration_s, row_count) VALUES (%s, %s, %s, '__ASSET_JOB', %s, %s, "
                "now() - make_interval(secs => %s * 3600 + %s), now() - make_interval(secs => %s * 3600), %s, %s)",
                (run_id, asset, county, status, status, ended_hours_ago, duration_s, ended_hours_ago, duration_s,
                 row_count))


def test_pipeline_per_stage_from_the_run_history(
        client: TestClient, world: dict[str, Any], viewer: dict[str, str], database_url: str) -> None:
    ca, cb = world["ca"], world["cb"]
    with owner_cursor(database_url) as cur:
        _run(cur, f"{ca}-1", "prospects", ca, "success", 30, 10.0, 100)
        _run(cur, f"{ca}-2", "prospects", ca, "success", 2, 20.0, 400)  # the latest counts
        _run(cur, f"{ca}-2", "sales", ca, "success", 2, 5.0, 100)
        _run(cur, f"{ca}-3", "scores", ca, "success", 1, 60.0, 300)
        _run(cur, f"{ca}-4", "packets", ca, "failure", 0.5, 1.0, None)
        _run(cur, f"{cb}-1", "prospects", cb, "success", 1, 1.0, 9)  # tenant B's county
    answer = client.get(f"{API}/pipeline", headers=viewer)
    assert answer.status_code == 200, answer.text
    [county] = [c for c in answer.json() if c["county"] != "king_wa"]
    assert county["county"] == ca and county["bottleneck"] == "scoring" and county["last_status"] == "failure"
    stages = {s["stage"]: s for s in county["stages"]}
    assert list(stages) == ["discovery", "enrichment", "scoring", "packets", "email"]
    discovery = stages["discovery"]
    assert (discovery["assets"], discovery["duration_s"], discovery["rows"], discovery["throughput_rows_per_s"],
            discovery["runs"], discovery["last_status"]) == (["prospects", "sales"], 25.0, 500, 20.0, 2, "success")
    assert 2 * 3600 - 60 < discovery["freshness_s"] < 2 * 3600 + 60
    assert (stages["packets"]["last_status"], stages["packets"]["failures"], stages["packets"]["duration_s"]) == (
        "failure", 1, None)
    assert stages["enrichment"]["last_run_at"] is None and stages["enrichment"]["runs"] == 0
    funnel = {f["county"]: f for f in client.get(f"{API}/funnel", headers=viewer).json()}[ca]
    assert funnel["last_run_status"] == "failure" and funnel["last_run_at"] == county["last_run_at"]
    # B's county: row-level security hides its runs even when asked for by name.
    assert client.get(f"{API}/pipeline", params={"county": cb}, headers=viewer).json() == []


def test_emails_per_month_are_the_tenants_own(
        client: TestClient, world: dict[str, Any], viewer: dict[str, str], database_url: str) -> None:
    with owner_cursor(database_url) as cur:
        for tenant, n in ((world["a"].id, 3), (world["b"].id, 5)):
            for i in range(n):
                cur.execute("INSERT INTO emails (tenant_id, county, campaign, recipient_email, subject, provider, "
                            "send_key, status, sent_at, opened_at) VALUES (%s, 'king_wa', 'monthly', %s, 's', "
                            "'outbox', %s, 'sent', now(), CASE WHEN %s THEN now() END)",
                            (tenant, f"m{i}@example.com", f"monthly:{tenant}:{i}", i == 0))
    answer = client.get(f"{API}/emails", params={"months": 2}, headers=viewer)
    assert answer.status_code == 200, answer.text
    [month] = answer.json()
    assert (month["county"], month["sent"], month["opened"], month["clicked"]) == ("king_wa", 3, 1, 0)


def test_stage_figures_of_a_county_without_runs_are_empty() -> None:
    from datetime import UTC, datetime

    from realestate_assets.api.v1.pipeline_health import county_pipelines, worst

    assert county_pipelines([], datetime.now(UTC)) == []
    assert county_pipelines([{"asset": "not_a_stage_asset", "county": "x", "run_id": "r", "status": "success",
                              "ended_at": datetime.now(UTC), "duration_s": 1.0, "row_count": 1}],
                            datetime.now(UTC)) == []
    assert worst(["success", "skipped", "failure"]) == "failure" and worst([]) is None


def _packet(cur: Any, tenant: str, county: str, key: str, template: str = "memo") -> int:
    cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                "(%s, %s, %s, %s, '1', 'h', 'k', 's', 10, 80, now()) RETURNING id", (tenant, county, key, template))
    return cur.fetchone()[0]


def _email(cur: Any, tenant: str, county: str, packet_ids: list[int], status: str) -> None:
    cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, "
                "provider, send_key, status, sent_at) VALUES (%s, %s, 'digest', %s, %s, 'r@example.com', 's', "
                "'outbox', %s, %s, CASE WHEN %s = 'sent' THEN now() END)",
                (tenant, county, packet_ids[0], packet_ids, f"digest:{packet_ids}:{status}", status, status))


def test_set_based_figures_equal_the_straightforward_queries(
        client: TestClient, database_url: str) -> None:
    """The funnel's TENANT_STATUS_COUNTS against TENANT_STATUS row by row, and the summary's one pass
    (GROUPING SETS) against a query per county and one for the total, as the API role of a tenant
    whose packets and emails cover every case: a scored property without a packet, with one, with
    one in a pending email, in a sent digest, with two packets one of them sent; a property not yet
    scored that has a packet (it stays at its public status); a packet without a property; another
    tenant's packet and sent email on the same properties (they never count for this one)."""
    from realestate_assets.api.v1.analytics import PROPERTIES
    from realestate_assets.api.v1.property_query import TENANT_STATUS, TENANT_STATUS_COUNTS
    from realestate_assets.db.lifecycle import PUBLIC_STATUS_JOINS
    from realestate_assets.db.tenancy import act_as_api
    from tests.api.helpers_api import make_tenant, seed_county

    mine, other = make_tenant(database_url, "funnel-a"), make_tenant(database_url, "funnel-b")
    county, second = (f"{x}_{uuid.uuid4().hex[:6]}" for x in ("fa", "fb"))
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 12)  # 4, 8 and 12 are `new`, the rest `scored`
        seed_county(cur, second, 4)
        # 8 enriched, not scored; 12's enrichment failed: still `new` (db/lifecycle.PUBLIC_STATUS)
        cur.execute("INSERT INTO enrichment (county, prospect_key, as_of_date, status) VALUES (%s, %s, '2026-12-01', "
                    "'enriched'), (%s, %s, '2026-12-01', 'failed')",
                    (county, f"{county}-0008", county, f"{county}-0012"))
        for tenant in (mine.id, other.id):
            store.subscribe(cur, tenant, county)
        store.subscribe(cur, mine.id, second)
        key = lambda i, c=county: f"{c}-{i:04d}"  # noqa: E731
        packeted = _packet(cur, mine.id, county, key(1))
        pending = _packet(cur, mine.id, county, key(2))
        _email(cur, mine.id, county, [pending], "pending")
        digest = [_packet(cur, mine.id, county, key(3)), _packet(cur, mine.id, county, key(5))]
        _email(cur, mine.id, county, digest, "sent")
        _packet(cur, mine.id, county, key(6), "other")
        _email(cur, mine.id, county, [_packet(cur, mine.id, county, key(6))], "sent")  # one of two packets sent
        _packet(cur, mine.id, county, key(4))  # `new` with a packet: stays `new`
        _packet(cur, mine.id, county, "no-such-property")
        _packet(cur, mine.id, second, key(1, second))
        _email(cur, other.id, county, [_packet(cur, other.id, county, key(1)), _packet(cur, other.id, county, key(7))],
               "sent")
    assert packeted
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            act_as_api(cur, mine.id)
            counties = [county, second, "king_wa"]
            cur.execute(TENANT_STATUS_COUNTS, {"counties": counties})
            fast = sorted(cur.fetchall())
            cur.execute(f"SELECT p.county, {TENANT_STATUS}, count(*)::int FROM prospects p {PUBLIC_STATUS_JOINS} "
                        "WHERE p.county = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2", (counties,))
            assert fast == cur.fetchall()
            assert {s: n for c, s, n in fast if c == county} == {
                "new": 2, "enriched": 1, "scored": 4, "packeted": 2, "emailed": 3}
            assert {s: n for c, s, n in fast if c == second} == {"new": 1, "packeted": 1, "scored": 2}
    finally:
        conn.close()
    viewer = bearer(login(client, mine.users["viewer"]["email"])["access_token"])
    funnels = {f["county"]: f for f in client.get(f"{API}/funnel", headers=viewer).json()}
    assert [(s["stage"], s["count"]) for s in funnels[county]["stages"]] == [
        ("discovered", 12), ("enriched", 10), ("scored", 9), ("packeted", 5), ("emailed", 3)]
    assert funnels[county]["emails"]["sent"] == 2  # its own two sent emails, not the other tenant's
    # The status counts come from the response cache until a table they read is written (the generation).
    responses = client.app.state.reos.responses
    hits = responses.hits
    assert client.get(f"{API}/funnel", headers=viewer).json() == list(funnels.values())
    assert responses.hits == hits + 1
    with owner_cursor(database_url) as cur:  # 12's enrichment succeeds on a re-run: `new` → `enriched`
        cur.execute("UPDATE enrichment SET status = 'enriched' WHERE county = %s AND prospect_key = %s",
                    (county, f"{county}-0012"))
    again = {f["county"]: f for f in client.get(f"{API}/funnel", headers=viewer).json()}
    assert [(s["stage"], s["count"]) for s in again[county]["stages"]] == [
        ("discovered", 12), ("enriched", 11), ("scored", 9), ("packeted", 5), ("emailed", 3)]

    body = client.get(f"{API}/summary", headers=viewer).json()
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            act_as_api(cur, mine.id)
            aggregates = ("count(*)::int, count(s.id)::int, round(avg(s.bird_dog_score)::numeric, 1)::float, "
                          "count(*) FILTER (WHERE s.bird_dog_score >= %(t)s)::int, "
                          "count(*) FILTER (WHERE s.bird_dog_score >= %(t)s "
                          "AND p.first_seen_at >= now() - interval '7 days')::int, max(s.updated_at)")
            params = {"t": body["threshold"], "counties": sorted({county, second, "king_wa"})}
            cur.execute(f"SELECT p.county, {aggregates} FROM {PROPERTIES} WHERE p.county = ANY(%(counties)s) "
                        "GROUP BY 1 ORDER BY 1", params)
            per_county = cur.fetchall()
            cur.execute(f"SELECT 'all', {aggregates} FROM {PROPERTIES} WHERE p.county = ANY(%(counties)s)", params)
            total = cur.fetchone()
    finally:
        conn.close()
    names = ("county", "properties", "scored", "average_score", "deals", "new_deals_7d", "last_scored_at")

    def row(values: tuple[Any, ...]) -> dict[str, Any]:
        return {**dict(zip(names, values, strict=True)),
                "last_scored_at": values[-1].isoformat().replace("+00:00", "Z") if values[-1] else None}

    def normal(r: dict[str, Any]) -> dict[str, Any]:
        stamp = r["last_scored_at"]
        return {**r, "last_scored_at": stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00"))}

    assert [normal(c) for c in body["counties"]] == [normal(row(r)) for r in per_county]
    assert normal(body["totals"]) == normal(row(total))
    assert {c["county"] for c in body["counties"]} == {county, second, "king_wa"} & {r[0] for r in per_county}


# ---- Home's summary from the response cache --------------------------------------------------

def _fresh_summary(database_url: str, tenant_id: str, threshold: float) -> dict[str, Any]:
    """SUMMARY run now as the tenant's API role over its followed counties: what the route must say."""
    from realestate_assets.api.v1.analytics import SUMMARY
    from realestate_assets.db.tenancy import act_as_api

    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            act_as_api(cur, tenant_id)
            cur.execute("SELECT county FROM subscriptions ORDER BY county")
            counties = [r[0] for r in cur.fetchall()]
            cur.execute(SUMMARY, {"t": threshold, "counties": counties})
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.close()
    for row in rows:
        del row["oldest_new_deal"]
    totals, *per_county = rows
    return {"threshold": threshold, "totals": totals, "counties": per_county}


def _as_read(body: dict[str, Any]) -> dict[str, Any]:
    """The route's JSON with its timestamps parsed, to compare with the query's rows."""
    def row(r: dict[str, Any]) -> dict[str, Any]:
        at = r["last_scored_at"]
        return {**r, "last_scored_at": datetime.fromisoformat(at) if at else None}
    return {**body, "totals": row(body["totals"]), "counties": [row(r) for r in body["counties"]]}


def test_the_cached_summary_is_the_query_s_answer_through_random_writes(
        client: TestClient, database_url: str) -> None:
    """Home's summary is kept in the response cache (analytics.summary): after each step of a random
    sequence of writes as the pipeline and the API make them — properties discovered (some first
    seen within the week, some before), scored, re-scored, unscored, deleted, a county followed and
    dropped — the route's answer is SUMMARY's run afresh, and asking again without a write is
    answered from the cache with the same body."""
    import random

    from tests.api.helpers_api import make_tenant

    rng = random.Random(20261204)
    tenant = make_tenant(database_url, "summary-cache")
    counties = [f"{x}_{uuid.uuid4().hex[:6]}" for x in ("sa", "sb")]
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, counties[0])
        ensure_county_partitions(cur, *counties)
    viewer = bearer(login(client, tenant.users["viewer"]["email"])["access_token"])
    responses = client.app.state.reos.responses
    threshold = client.get(f"{API}/summary", headers=viewer).json()["threshold"]
    keys: dict[str, list[str]] = {c: [] for c in counties}
    followed = {counties[0]}
    n, most_new = 0, 0

    def some(county: str, k: int) -> list[str]:
        return rng.sample(keys[county], min(k, len(keys[county])))

    for step in range(40):
        county = rng.choice(counties)
        action = rng.choice(("discover", "discover", "score", "rescore", "unscore", "forget", "follow"))
        with owner_cursor(database_url) as cur:
            if action == "discover" or not keys[county]:
                for _ in range(rng.randint(1, 6)):
                    n += 1
                    key = f"{county}-{n:04d}"
                    # Inside the week or well before it: never near its edge while the step runs.
                    days = rng.choice((rng.uniform(0, 6), rng.uniform(8, 40)))
                    cur.execute("INSERT INTO prospects (county, prospect_key, first_seen_at) "
                                "VALUES (%s, %s, now() - %s * interval '1 day')", (county, key, days))
                    keys[county].append(key)
            elif action in ("score", "rescore"):  # a scoring run: upsert, as the pipeline writes
                for key in some(county, rng.randint(1, 8)):
                    cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, "
                                "value_gap_pct, bird_dog_score, score_rank, model_version) "
                                "VALUES (%s, %s, '2026-12-01', 400000, 5, %s, 1, 'v1') "
                                "ON CONFLICT (county, prospect_key) DO UPDATE SET bird_dog_score = "
                                "excluded.bird_dog_score", (county, key, round(rng.uniform(0, 100), 2)))
            elif action == "unscore":
                cur.execute("DELETE FROM scores WHERE county = %s AND prospect_key = ANY(%s)",
                            (county, some(county, 3)))
            elif action == "forget":
                gone = some(county, 2)
                cur.execute("DELETE FROM scores WHERE county = %s AND prospect_key = ANY(%s)", (county, gone))
                cur.execute("DELETE FROM prospects WHERE county = %s AND prospect_key = ANY(%s)", (county, gone))
                keys[county] = [k for k in keys[county] if k not in gone]
            elif county in followed and len(followed) > 1:
                cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s AND county = %s", (tenant.id, county))
                followed.discard(county)
            else:
                store.subscribe(cur, tenant.id, county)
                followed.add(county)
        first = client.get(f"{API}/summary", headers=viewer)
        assert first.status_code == 200, first.text
        assert _as_read(first.json()) == _fresh_summary(database_url, tenant.id, threshold), (step, action)
        hits = responses.hits
        again = client.get(f"{API}/summary", headers=viewer).json()
        assert responses.hits == hits + 1 and again == first.json(), (step, action)
        most_new = max(most_new, again["totals"]["new_deals_7d"])
    assert most_new > 1 and len(again["counties"]) >= 1  # the sequence did make new deals


def test_the_cached_summary_lets_a_new_deal_age_out_at_seven_days(
        client: TestClient, database_url: str) -> None:
    """No write, only time: a deal first seen 7 days less 3 seconds ago counts as new, then not; the
    kept answer is not served past that moment."""
    import time

    from tests.api.helpers_api import make_tenant

    tenant = make_tenant(database_url, "summary-time")
    county = f"st_{uuid.uuid4().hex[:6]}"
    viewer = bearer(login(client, tenant.users["viewer"]["email"])["access_token"])
    threshold = client.get(f"{API}/summary", headers=viewer).json()["threshold"]
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, county)
        ensure_county_partitions(cur, county)
        # Only this county: every seeded tenant also follows king_wa, whose public rows earlier
        # tests in the session may have scored (tests/outreach's on-demand reasons do).
        cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s AND county = 'king_wa'", (tenant.id,))
        for key, age in (("edge", "7 days -3 seconds"), ("fresh", "1 day")):
            cur.execute("INSERT INTO prospects (county, prospect_key, first_seen_at) "
                        "VALUES (%s, %s, now() - %s::interval)", (county, key, age))
            cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, value_gap_pct, "
                        "bird_dog_score, score_rank, model_version) "
                        "VALUES (%s, %s, '2026-12-01', 400000, 5, %s, 1, 'v1')", (county, key, threshold + 1))
    started = time.monotonic()
    responses = client.app.state.reos.responses
    assert client.get(f"{API}/summary", headers=viewer).json()["totals"]["new_deals_7d"] == 2
    hits = responses.hits
    assert client.get(f"{API}/summary", headers=viewer).json()["totals"]["new_deals_7d"] == 2
    assert responses.hits == hits + 1  # kept: the edge deal is still inside the week
    time.sleep(max(0.0, 4.0 - (time.monotonic() - started)))
    body = client.get(f"{API}/summary", headers=viewer).json()
    assert body["totals"]["new_deals_7d"] == 1 and body["totals"]["deals"] == 2
    assert _as_read(body) == _fresh_summary(database_url, tenant.id, threshold)
