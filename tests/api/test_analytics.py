"""/api/v1/analytics on real PostgreSQL: figures that match the seeded rows, over the followed
counties only (tenant B's county never counts for tenant A)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers_api import N_A, bearer, login, owner_cursor

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
    answer = client.get(f"{API}/summary", headers=viewer)
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
    bins = client.get(f"{API}/score-distribution", params={"width": 20}, headers=viewer).json()
    assert bins["width"] == 20
    assert {b["bin_start"]: b["properties"] for b in bins["bins"]} == {
        float(start): sum(start <= min(s, 99.999) < start + 20 for s in scores)
        for start in {int(min(s, 99.999) // 20 * 20) for s in scores}}
    rows = client.get(f"{API}/locations", headers=viewer).json()
    [zip_row] = rows
    assert (zip_row["zip"], zip_row["properties"], zip_row["scored"]) == ("98103", N_A, len(scores))
    [month] = client.get(f"{API}/trends", headers=viewer).json()
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
