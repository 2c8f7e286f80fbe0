"""Settings and Models in Debian Chromium against the real API and a Dagster GraphQL endpoint on a
local server (tests/fake_dagster.py): a platform admin who owns the workspace sets its branding
(what its emails then carry), mutes a notification, stops a schedule in Dagster, retrains a
county, activates an older model with a reason and changes a county's run-time setting; a viewer
is offered none of it. Both screens pass axe."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.accounts import store
from realestate_assets.api.dashboard import DIST
from tests.api.helpers_api import PASSWORD, make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.fake_dagster import FakeDagster
from tests.local_http import base_url as local_base_url
from tests.local_http import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = DIST.parent / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def dagster() -> Iterator[FakeDagster]:
    fake = FakeDagster()
    with serve(fake) as server:
        fake.url = local_base_url(server)
        yield fake


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, dagster: FakeDagster) -> Iterator[str]:
    with api_server(database_url, tmp_path_factory.mktemp("settings-ui"), dagster_url=dagster.url) as url:
        yield url


@pytest.fixture(scope="module")
def workspace(database_url: str) -> dict[str, Any]:
    """A tenant whose owner operates the installation, following king_wa and a county with two AVMs."""
    tenant = make_tenant(database_url, "settings-ui")
    county = f"ui_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        operator = store.create_user(cur, f"operator.{tenant.id}@example.com", PASSWORD, platform_admin=True,
                                     verified=True)
        store.set_membership(cur, tenant.id, operator["id"], "owner")
        store.subscribe(cur, tenant.id, county)
        ids = {}
        for version, active in (("avm-older", False), ("avm-newer", True)):
            cur.execute("INSERT INTO ml_models (county, model_name, version, kind, metrics, artifact_path, "
                        "artifact_sha256, is_active, status, promotion, training_rows) VALUES "
                        "(%s, 'avm', %s, 'lightgbm', %s, 'k', 's', %s, %s, %s, 1000) RETURNING id",
                        (county, version, json.dumps({"mdape_pct": 9.0}), active,
                         "active" if active else "retired", json.dumps({"promote": active, "reason": "the rule"})))
            ids[version] = cur.fetchone()[0]
    return {"tenant": tenant, "operator": operator, "county": county, "ids": ids}


def _sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page).not_to_have_url(re.compile(r"/login$"))


def _axe(page: Any) -> list[str]:
    if not AXE.is_file():
        return []
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
    return [f"{v['id']} ({v['impact']})" for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_an_operator_brands_mutes_stops_a_schedule_retrains_and_activates(
        base_url: str, database_url: str, dagster: FakeDagster, workspace: dict[str, Any]) -> None:
    expect = sync_api.expect
    tenant = workspace["tenant"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        _sign_in(page, base_url, workspace["operator"]["email"])
        page.goto(base_url + "/settings")

        branding = page.get_by_role("region", name="Branding")
        branding.get_by_label("Company name").fill("Acme Capital")
        branding.get_by_label("Postal address (in every email)").fill("500 Pine St, Seattle, WA 98101")
        branding.get_by_role("button", name="Save branding").click()
        expect(branding.get_by_role("status")).to_have_text("Saved.")
        expect(branding.get_by_label("Email header preview")).to_contain_text("Acme Capital")

        notifications = page.get_by_role("region", name="Notifications")
        box = notifications.get_by_role("checkbox", name=re.compile(r"^Campaign send"))
        expect(box).to_be_checked()
        box.click()  # controlled: it shows the saved state once the API has answered
        expect(box).not_to_be_checked()

        counties = page.get_by_role("region", name="Counties followed")
        expect(counties).to_contain_text("King County")
        expect(counties.get_by_role("button", name="Stop following king_wa")).to_be_visible()

        schedules = page.get_by_role("region", name="Schedules")
        row = schedules.get_by_role("row").filter(has_text="discover_king_wa")
        expect(row).to_contain_text("Running")
        row.get_by_role("button", name="Stop discover_king_wa").click()
        expect(row).to_contain_text("Stopped")
        page.wait_for_load_state("networkidle")
        settings_violations = _axe(page)

        page.goto(base_url + "/models")
        page.get_by_role("button", name="Retrain King, WA").click()
        expect(page.get_by_role("region", name="Retrain").get_by_role("status")).to_contain_text("Training started")
        older = page.get_by_role("row").filter(has_text="avm-older")
        older.get_by_role("button", name=re.compile(r"^Activate")).click()
        older.get_by_label(re.compile(r"^Why activate")).fill("the newer one overvalues condos")
        models_violations = _axe(page)  # with the reason form open
        older.get_by_role("button", name="Confirm").click()
        expect(older).to_contain_text("Active")
        browser.close()

    assert settings_violations == [] and models_violations == []
    assert ("discover_king_wa", False) in dagster.switches
    assert any(launch["selector"]["assetSelection"] == [{"path": ["ml_model"]}] for launch in dagster.launches)
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT display_name, postal_address FROM tenant_settings WHERE tenant_id = %s", (tenant.id,))
        assert cur.fetchone() == ("Acme Capital", "500 Pine St, Seattle, WA 98101")
        cur.execute("SELECT notification_preferences FROM users WHERE id = %s", (workspace["operator"]["id"],))
        assert cur.fetchone()[0] == {"campaign_send": False}
        cur.execute("SELECT is_active, promotion->>'reason' FROM ml_models WHERE id = %s",
                    (workspace["ids"]["avm-older"],))
        active, reason = cur.fetchone()
    assert active and reason.endswith(": the newer one overvalues condos")


def test_an_operator_changes_a_countys_run_time_setting_with_a_reason(
        base_url: str, database_url: str, dagster: FakeDagster, workspace: dict[str, Any]) -> None:
    expect = sync_api.expect
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            _sign_in(page, base_url, workspace["operator"]["email"])
            page.goto(base_url + "/settings")
            counties = page.get_by_role("region", name="Counties followed").get_by_role(
                "listitem").filter(has_text="(king_wa)")
            counties.get_by_text("Run-time settings").click()
            counties.get_by_role("button", name="Edit settings of king_wa").click()
            ceiling = counties.get_by_label("Reject-rate ceiling (share of source rows, 0–1)")
            ceiling.fill("0.25")
            counties.get_by_label("Why (kept with the change)").fill("the assessor file has a bad week")
            violations = _axe(page)  # with the form open
            counties.get_by_role("button", name="Save settings of king_wa").click()
            expect(counties).to_contain_text("Last change")
            expect(counties).to_contain_text("the assessor file has a bad week")
            expect(counties.get_by_text("changed", exact=True)).to_be_visible()
            # The discovery cron moves the freshness windows: Dagster reloads the code location after
            # the answer (the fake holds the reload until told), and the settings follow it to the end.
            dagster.reload_may_end.clear()
            counties.get_by_role("button", name="Edit settings of king_wa").click()
            counties.get_by_label("Discovery cron (minute hour day month weekday)").fill("0 6 * * *")
            counties.get_by_label("Why (kept with the change)").fill("the county now publishes daily")
            counties.get_by_role("button", name="Save settings of king_wa").click()
            notice = counties.get_by_role("status").filter(has_text="Dagster")
            expect(notice).to_contain_text(re.compile("Dagster (will reload|is reloading) the pipeline"))
            dagster.reload_may_end.set()
            expect(notice).to_contain_text("Dagster reloaded the pipeline", timeout=60_000)
            browser.close()
        assert violations == []
        with owner_cursor(database_url) as cur:
            cur.execute("SELECT patch, reason FROM county_overrides WHERE county = 'king_wa'")
            assert cur.fetchone() == ({"quality.max_reject_rate": 0.25, "schedule.cron": "0 6 * * *"},
                                      "the county now publishes daily")
    finally:  # the installation's own table, shared by every test on this database: left empty
        dagster.reload_may_end.set()
        with owner_cursor(database_url) as cur:
            cur.execute("DELETE FROM county_overrides")


def test_a_viewer_is_offered_none_of_it(base_url: str, workspace: dict[str, Any]) -> None:
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        _sign_in(page, base_url, workspace["tenant"].users["viewer"]["email"])
        page.goto(base_url + "/settings")
        expect(page.get_by_role("region", name="Notifications")).to_be_visible()
        expect(page.get_by_role("region", name="Counties followed")).to_contain_text("King County")
        for hidden in ("Branding", "Schedules"):
            expect(page.get_by_role("region", name=hidden)).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile(r"^(Follow|Stop following)"))).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile(r"^Edit settings"))).to_have_count(0)
        page.goto(base_url + "/models")
        expect(page.get_by_role("row").filter(has_text="avm-older")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"^(Retrain|Activate)"))).to_have_count(0)
        browser.close()
