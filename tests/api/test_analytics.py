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
