"""Settings › Usage in Debian Chromium against the real API: a free tenant with its month's
properties used up sees its plan, that quota's bar full and marked, and the others' usage; and its
API calls per day this month, drawn against the daily limit and given as a table."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.api.dashboard import DIST
from tests.api.helpers_api import PASSWORD, make_tenant, owner_cursor
from tests.dashboard.server import api_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with api_server(database_url, tmp_path_factory.mktemp("usage-ui")) as url:
        yield url


def test_a_viewer_sees_the_plan_and_each_quota_against_it(base_url: str, database_url: str) -> None:
    expect = sync_api.expect
    tenant = make_tenant(database_url, "usage-ui")
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "SELECT %s, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 'elsewhere', 'k' || i, 'packet' "
                    "FROM generate_series(1, 99) i", (tenant.id,))  # and make_tenant's one: 100
        first = datetime.now(UTC).date().replace(day=1)  # the API's own calls add to it when it is today
        cur.execute("INSERT INTO api_call_days (tenant_id, day, calls) VALUES (%s, %s, 311)", (tenant.id, first))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        page.goto(base_url + "/login")
        page.get_by_label("Email").fill(tenant.users["viewer"]["email"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).not_to_have_url(re.compile(r"/login$"))
        page.goto(base_url + "/settings")
        section = page.get_by_role("region", name="Plan and usage")
        expect(section).to_contain_text("Plan: Free")
        properties = section.get_by_test_id("quota-properties")
        expect(properties).to_contain_text("100 of 100")
        expect(properties).to_contain_text("limit reached")
        bar = section.get_by_role("progressbar", name="Properties received this month")
        expect(bar).to_have_attribute("aria-valuenow", "100")
        expect(section.get_by_test_id("quota-emails")).to_contain_text("0 of 500")  # make_tenant's email is not sent
        expect(section.get_by_test_id("quota-storage")).to_contain_text("10 B of 1 GB")
        expect(section.get_by_test_id("quota-api_calls")).to_contain_text(re.compile(r"\d+ of 1,000"))
        chart = section.get_by_test_id("api-calls-chart")
        expect(chart).to_contain_text("daily limit 1,000")
        expect(chart.locator(".recharts-reference-line")).to_have_count(1)
        chart.get_by_text("API calls by day as a table").click()
        table = chart.get_by_role("table", name="API calls per UTC day this month")
        expect(table.get_by_role("row")).to_have_count(1 + datetime.now(UTC).day)  # header, the 1st to today
        day_one = table.get_by_role("row", name=f"{first:%b} 1, {first.year}").get_by_role("cell")
        expect(day_one).to_have_text(re.compile(r"^3\d\d$"))
        browser.close()
