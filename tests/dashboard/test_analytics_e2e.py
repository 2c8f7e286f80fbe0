"""The Analytics screen and Home's pipeline panel in Debian Chromium against the real API on the
test PostgreSQL: score distribution, deals by ZIP on the map, pipeline throughput with the
bottleneck, emails per month, properties over time, model accuracy over time; a finished run
(a `pipeline_runs` row, as the run-history sensor writes it) reaches the page as a toast over
the WebSocket; axe-core finds no serious violation. Screenshots go to $REOS_DASHBOARD_SCREENSHOTS.

Skips when the app is not built or Chromium is missing (like test_dashboard_e2e.py)."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers_api import make_tenant, owner_cursor, seed_county
from tests.dashboard.server import api_server
from tests.dashboard.test_dashboard_e2e import AXE, CHROMIUM, logged_in, pytestmark, serious_violations  # noqa: F401

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
SHOTS = os.environ.get("REOS_DASHBOARD_SCREENSHOTS")
# (asset, hours ago, seconds, rows): scoring is the slowest stage.
RUNS = [("sales", 3, 4.0, 800), ("prospects", 3, 6.0, 40), ("enrichment", 2.5, 12.0, 40),
        ("features", 2, 5.0, 40), ("scores", 2, 30.0, 30), ("packets", 1, 2.0, 3)]


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, Any]:
    tenant = make_tenant(database_url, "analytics")
    county = f"an_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 30)
        # Two ZIP codes with coordinates for the map.
        cur.execute("UPDATE prospects SET zip = CASE WHEN id %% 2 = 0 THEN '98105' ELSE '98103' END, "
                    "latitude = CASE WHEN id %% 2 = 0 THEN 47.66 ELSE 47.65 END, "
                    "longitude = CASE WHEN id %% 2 = 0 THEN -122.30 ELSE -122.35 END WHERE county = %s", (county,))
        cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s", (tenant.id,))
        cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant.id, county))
        for asset, hours, seconds, n in RUNS:
            cur.execute("INSERT INTO pipeline_runs (run_id, asset, county, job_name, run_status, status, started_at, "
                        "ended_at, duration_s, row_count) VALUES (%s, %s, %s, '__ASSET_JOB', 'success', 'success', "
                        "now() - make_interval(secs => %s * 3600 + %s), now() - make_interval(secs => %s * 3600), "
                        "%s, %s)", (f"{county}-{asset}", asset, county, hours, seconds, hours, seconds, n))
        for months_ago, opened in ((1, True), (0, True), (0, False)):
            cur.execute("INSERT INTO emails (tenant_id, county, campaign, recipient_email, subject, provider, "
                        "send_key, status, sent_at, delivered_at, opened_at) SELECT %(t)s, %(c)s, 'digest', "
                        "'i@example.com', 's', 'outbox', %(key)s, 'sent', at, at, CASE WHEN %(opened)s THEN at END "
                        "FROM (SELECT now() - make_interval(months => %(m)s) AS at) AS moment",
                        {"t": tenant.id, "c": county, "key": f"an:{uuid.uuid4().hex}", "opened": opened,
                         "m": months_ago})
        for i, mdape in enumerate((11.2, 9.6)):
            cur.execute("INSERT INTO ml_models (county, model_name, version, kind, artifact_path, artifact_sha256, "
                        "metrics, created_at) VALUES (%s, 'avm', %s, 'lightgbm', 'x', 's', %s, "
                        "now() - make_interval(days => %s))",
                        (county, f"avm-{i}", json.dumps({"mdape_pct": mdape}), 30 * (1 - i)))
    return {"tenant": tenant, "county": county}


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, world) -> Iterator[str]:
    with api_server(database_url, tmp_path_factory.mktemp("analytics-api")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def test_analytics_screen_shows_every_panel(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "viewer")
    page.goto(f"{base_url}/analytics")
    for heading in ("Score distribution", "Deals by location", "Pipeline throughput and bottlenecks", "Emails",
                    "Properties over time", "Model accuracy over time"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    # Pipeline: every stage of the county, the slowest one marked.
    pipeline = page.get_by_role("table", name=re.compile("bottleneck: scoring"))
    expect(pipeline.locator("tbody tr")).to_have_count(5)
    expect(pipeline.get_by_role("row", name=re.compile(r"^Scoring \(bottleneck\)"))).to_contain_text("35 s")
    expect(pipeline.get_by_role("row", name=re.compile("^Email"))).to_contain_text("never run")
    # The map: a marker per ZIP (or, without WebGL, the page says so; the table lists the same ZIPs).
    map_region = page.get_by_role("region", name=re.compile("^Map of 2 ZIP codes"))
    expect(map_region.or_(page.get_by_text("The map needs WebGL"))).to_be_visible()
    if map_region.is_visible():
        expect(map_region.locator(".reos-marker")).to_have_count(2)
    emails = page.get_by_role("table", name=re.compile("^Emails per month"))
    expect(emails.locator("tbody tr")).to_have_count(2)
    expect(emails.locator("tbody tr").last).to_contain_text("50.0%")  # this month: 1 of 2 delivered opened
    accuracy = page.get_by_role("table", name=re.compile(r"^Valuation \(AVM\) MdAPE"))
    expect(accuracy.locator("tbody tr")).to_have_count(2)
    expect(accuracy.locator("tbody tr").last).to_contain_text("9.60%")
    page.wait_for_load_state("networkidle")
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "analytics.png"), full_page=True)


def test_home_pipeline_shows_last_run_and_a_finished_run_arrives_live(browser, base_url: str, world,
                                                                      database_url: str) -> None:
    page = logged_in(browser, base_url, world["tenant"], "viewer")
    page.goto(f"{base_url}/")
    card = page.get_by_role("article", name=re.compile("^Pipeline of"))
    expect(card).to_contain_text("last run")
    expect(card.locator("li").first).to_contain_text("fresh as of 3 h")
    expect(card.locator("li").last).to_contain_text("no run recorded")
    page.wait_for_load_state("networkidle")
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO pipeline_runs (run_id, asset, county, job_name, run_status, status, started_at, "
                    "ended_at, duration_s, row_count) VALUES (%s, 'emails', %s, '__ASSET_JOB', 'success', 'success', "
                    "now() - interval '2 seconds', now(), 2, 3)", (f"{world['county']}-live", world["county"]))
    expect(page.get_by_test_id("toast")).to_contain_text(f"{world['county']}: emails updated")
    # The refreshed query: the email stage has a run now.
    expect(card.locator("li").last).to_contain_text("fresh as of")
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "home-pipeline.png"), full_page=True)


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed (npm ci in dashboard/)")
def test_no_serious_accessibility_violation_on_analytics_and_home(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    assert serious_violations(page, base_url, ["/analytics", "/"]) == {}
