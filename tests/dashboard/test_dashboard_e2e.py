"""The dashboard in Debian Chromium against the real API on the real test PostgreSQL: log in, see
the table, filter and sort it, open a property (reasons, provenance), add a note; a viewer gets no
note form and no key management; an admin creates a key (shown once) and revokes it; an analyst
creates a campaign for a new segment and sends it (through a local Dagster GraphQL endpoint), the
send's progress and its WebSocket toast arrive; recipients are imported with rejected rows listed.

Skips when the app is not built (`make install` builds dashboard/dist) or Chromium is missing."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.api.dashboard import DIST
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.enrich.stored_provenance import ProvenanceIds
from tests.api.helpers_api import PASSWORD, Tenant, make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.fake_dagster import FakeDagster
from tests.local_http import base_url as local_base_url
from tests.local_http import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")

N = 30
ASSESSOR = {"source": "county_assessor", "fetched_at": "2026-12-01T04:00:00+00:00"}
PROVENANCE = {"living_sqft": {**ASSESSOR, "confidence": 1.0}, "year_built": {**ASSESSOR, "confidence": 0.9}}
COMPONENTS = {"equity": 0.91, "tenure": 0.40}  # shares, as the pipeline writes them


def seed(cur: Any, county: str) -> None:
    """`N` properties in one county, written as the pipeline writes them (see tests/api/test_properties.py):
    scores 40..98, prices rising with the number, every property enriched with provenance, reasons on
    the highest score only (reasons are computed when a memo is made)."""
    ensure_county_partitions(cur, county)
    for i in range(1, N + 1):
        key = f"{county}-{i:04d}"
        score = 40.0 + 2 * i
        cur.execute(
            "INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, zip, use_type, "
            "list_price) VALUES (%s, %s, %s, %s, 'SEATTLE', 'WA', %s, %s, %s)",
            (county, key, f"{i:010d}", f"{100 + i} {'OAK' if i % 3 == 0 else 'MAIN'} ST", f"981{i % 10:02d}",
             "condo" if i % 2 == 0 else "single_family", 300000.0 + 10000 * i))
        (provenance_id,) = ProvenanceIds(cur.connection, county).ids([json.dumps(PROVENANCE)])  # 0063
        cur.execute(
            "INSERT INTO enrichment (county, prospect_key, as_of_date, status, use_type, living_sqft, "
            "year_built, last_sale_price, last_sale_date, provenance_id) VALUES (%s, %s, '2026-12-01', "
            "'enriched', 'single_family', %s, 1950, 415000, '2014-06-02', %s)",
            (county, key, 1000.0 + i, int(provenance_id)))
        breakdown = {"reasons": ["last sale 12 years ago, well below today's estimate"], "value_factors": []} \
            if i == N else None
        cur.execute(
            "INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, value_gap_pct, "
            "bird_dog_score, score_rank, equity_percentile, tenure_percentile, score_breakdown, model_version) "
            "VALUES (%s, %s, '2026-12-01', %s, 10.0, %s, %s, %s, %s, %s, 'v1')",
            (county, key, 500000.0 + i, score, N + 1 - i, COMPONENTS["equity"], COMPONENTS["tenure"],
             json.dumps(breakdown) if breakdown else None))
    cur.execute("INSERT INTO score_model_versions (county, components) VALUES (%s, %s) ON CONFLICT (county) "
                "DO NOTHING", (county, list(COMPONENTS)))  # the county's component names (0060)


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, Any]:
    tenant = make_tenant(database_url, "dash")
    county = f"dash_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed(cur, county)
        # Only this county: other tests may write king_wa rows into the shared database.
        cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s", (tenant.id,))
        cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant.id, county))
        cur.execute("SELECT id FROM prospects WHERE county = %s AND prospect_key = %s", (county, f"{county}-{N:04d}"))
        top_id = cur.fetchone()[0]
        metrics = {"mdape_pct": 9.3, "pe10_pct": 54.1, "cod": 11.2, "prd": 1.01,
                   "importance": {"living_sqft": 0.31, "latitude": 0.22, "year_built": 0.1}}
        cur.execute("INSERT INTO ml_models (county, model_name, version, kind, metrics, hyperparameters, "
                    "feature_names, artifact_path, artifact_sha256, is_active, status, promotion, training_rows) "
                    "VALUES (%s, 'avm', '2026-12-01-e2e', 'lightgbm', %s, '{}', '[\"living_sqft\"]', "
                    "'k', 's', true, 'active', '{\"promote\": true, \"reason\": \"better\"}', 1000) RETURNING id",
                    (county, json.dumps(metrics)))
        model_id = cur.fetchone()[0]
    return {"tenant": tenant, "county": county, "top_id": top_id, "model_id": model_id}


@pytest.fixture(scope="module")
def dagster() -> Iterator[FakeDagster]:
    """Dagster's GraphQL endpoint (tests/fake_dagster.py): campaign sends launch runs through it."""
    fake = FakeDagster()
    with serve(fake) as server:
        fake.url = local_base_url(server)
        yield fake


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, world, dagster: FakeDagster
             ) -> Iterator[str]:
    with api_server(database_url, tmp_path_factory.mktemp("dash-api"), dagster_url=dagster.url) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def logged_in(browser: Any, base_url: str, tenant: Tenant, role: str, **context: Any) -> Any:
    page = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context}).new_page()
    page.set_default_timeout(15_000)
    page.goto(base_url + "/properties")
    sync_api.expect(page).to_have_url(re.compile(r"/login$"))  # not logged in: the login screen
    page.get_by_label("Email").fill(tenant.users[role]["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page).to_have_url(re.compile(r"/properties$"))  # back where it was going
    return page


def rows(page: Any) -> Any:
    return page.locator("table tbody tr")


def test_analyst_filters_sorts_opens_a_property_and_adds_a_note(browser, base_url: str, world,
                                                                database_url: str) -> None:
    expect = sync_api.expect
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    expect(rows(page)).to_have_count(N)
    expect(rows(page).first).to_contain_text("130 OAK ST")  # default sort: score, highest first

    page.get_by_label("Score from").fill("80")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"min_score=80"))
    expect(rows(page)).to_have_count(11)  # scores 80, 82, … 100

    page.get_by_role("button", name=re.compile("^Asking")).click()
    expect(page).to_have_url(re.compile(r"sort=-list_price"))
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Asking")
    page.get_by_role("button", name=re.compile("^Asking")).click()
    expect(page).to_have_url(re.compile(r"sort=list_price"))
    expect(rows(page).first).to_contain_text("120 MAIN ST")  # cheapest at score ≥ 80

    # A reload keeps the session (refresh token in sessionStorage) and the filters (URL).
    page.reload()
    expect(rows(page)).to_have_count(11)

    # CSV of the current filter and sort, through the session (the export needs the bearer token).
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 1 + 11 and "120 MAIN ST" in lines[1]

    # Saved as a search, and applied again from the list after clearing.
    page.get_by_label("Save these filters as").fill("Cheap deals")
    page.get_by_role("button", name="Save search").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Clear")).click()
    expect(rows(page)).to_have_count(N)
    page.get_by_label("Saved searches").select_option(label="Cheap deals")
    expect(page).to_have_url(re.compile(r"min_score=80.*sort=list_price"))
    expect(rows(page)).to_have_count(11)

    page.get_by_role("link", name="120 MAIN ST").click()
    expect(page.get_by_role("heading", name="120 MAIN ST")).to_be_visible()
    # No stored reasons: the page asks the reasons route; this world's models have no artifacts, so
    # the route's 503 is shown where the reasons would be (a real model: tests/api/test_property_reasons.py).
    expect(page.get_by_role("alert").filter(has_text="cannot be computed now")).to_be_visible()
    page.goto(f"{base_url}/properties/{world['top_id']}")
    expect(page.get_by_role("heading", name="130 OAK ST")).to_be_visible()
    expect(page.get_by_text("last sale 12 years ago, well below today's estimate")).to_be_visible()
    source = page.get_by_role("button", name="County assessor").first
    source.focus()  # provenance on keyboard focus, as on hover
    expect(page.get_by_role("tooltip").first).to_contain_text("fetched")
    expect(page.get_by_role("tooltip").first).to_be_visible()

    page.get_by_label("Add a note").fill("Roof looks newer than 1950.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("list", name="Notes, oldest first")).to_contain_text("Roof looks newer than 1950.")
    expect(page.get_by_label("Add a note")).to_have_value("")
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT body, author FROM notes WHERE tenant_id = %s AND county = %s",
                    (world["tenant"].id, world["county"]))
        assert cur.fetchall() == [("Roof looks newer than 1950.", world["tenant"].users["analyst"]["email"])]
    # No memo rendered for it yet: asking for one records the request for the pipeline.
    page.get_by_role("button", name="Investor memo (PDF)").click()
    expect(page.get_by_role("status").filter(has_text="not rendered yet")).to_be_visible()
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM packet_requests WHERE tenant_id = %s AND county = %s",
                    (world["tenant"].id, world["county"]))
        assert cur.fetchone()[0] == 1


def test_viewer_sees_no_edit_controls(browser, base_url: str, world) -> None:
    expect = sync_api.expect
    page = logged_in(browser, base_url, world["tenant"], "viewer")
    page.goto(base_url + "/")  # Home's quick actions: reading ones only
    actions = page.get_by_role("navigation", name="Quick actions")
    expect(actions.get_by_role("link", name="Review deals")).to_have_attribute("href", re.compile(r"min_score="))
    expect(actions.get_by_role("link", name="Import recipients")).to_have_count(0)
    page.goto(f"{base_url}/properties/{world['top_id']}")
    expect(page.get_by_role("heading", name="Notes")).to_be_visible()
    expect(page.get_by_label("Add a note")).to_have_count(0)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_text("Only an admin of this workspace manages API keys.")).to_be_visible()
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    expect(page.get_by_role("button", name="Stop following")).to_have_count(0)
    expect(page.get_by_role("heading", name="Users and roles")).to_have_count(0)


def test_admin_creates_a_key_shown_once_and_revokes_it(browser, base_url: str, world) -> None:
    expect = sync_api.expect
    page = logged_in(browser, base_url, world["tenant"], "admin")
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("New key name").fill("CRM sync")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-key")).to_contain_text(re.compile(r"^reos_[0-9a-f]{8}_"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke CRM sync").click()
    expect(page.get_by_role("row", name=re.compile("CRM sync"))).to_contain_text("revoked")
    page.reload()  # shown once: gone after a reload
    expect(page.get_by_test_id("new-key")).to_have_count(0)

    # Users and roles: invite, change the role, remove.
    members = page.get_by_role("table", name="Members of this workspace")
    expect(members).to_contain_text(world["tenant"].users["viewer"]["email"])
    newcomer = f"new.{world['tenant'].id}@example.com"
    page.get_by_label("Invite by email").fill(newcomer)
    page.get_by_role("button", name="Invite").click()
    expect(members).to_contain_text(newcomer)
    page.get_by_label(f"Role of {newcomer}").select_option("analyst")
    expect(page.get_by_label(f"Role of {newcomer}")).to_have_value("analyst")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Remove {newcomer}").click()
    expect(members).not_to_contain_text(newcomer)


def test_phone_width_detail_page_fits(browser, base_url: str, world) -> None:
    page = logged_in(browser, base_url, world["tenant"], "viewer", viewport={"width": 390, "height": 844})
    page.goto(f"{base_url}/properties/{world['top_id']}")
    sync_api.expect(page.get_by_role("heading", name="130 OAK ST")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling


def test_analyst_creates_a_campaign_for_a_new_segment_and_sends_it(browser, base_url: str, world,
                                                                     dagster: FakeDagster) -> None:
    expect = sync_api.expect
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    page.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    page.get_by_role("button", name="New campaign").click()
    page.get_by_label("Key").fill("e2e_digest")
    page.get_by_label("Type").select_option("daily_digest")
    page.get_by_label("Variant A").fill("{count} new leads in {county}")
    page.get_by_role("button", name="Add variant").click()
    page.get_by_label("Variant B").fill("{first_name}, {cuont} leads")
    expect(page.get_by_role("alert")).to_contain_text("{cuont}")  # the API would refuse it: said before sending
    expect(page.get_by_role("button", name="Create campaign")).to_be_disabled()
    page.get_by_label("Variant B").fill("{first_name}, {count} leads today")
    # The segment builder counts recipients live as the criteria change.
    page.get_by_role("button", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("E2E digest readers")
    page.get_by_label("Email domains").fill("nowhere.example")
    expect(page.get_by_test_id("segment-live-count")).to_have_text("0 recipients match")
    page.get_by_label("Email domains").fill("example.com")  # the tenant's seeded recipient
    expect(page.get_by_test_id("segment-live-count")).to_have_text(re.compile(r"^[1-9]\d* recipients match"))
    if AXE.is_file():  # axe with the campaign form and the segment builder open
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
        assert [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")] == []
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_label("Audience")).to_have_value(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("audience-count")).to_have_text(re.compile(r"^[1-9]\d* recipients$"))
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Create campaign").click()
    row = page.get_by_role("row", name=re.compile("e2e_digest"))
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("E2E digest readers")
    # Send: the API launches the emails step through Dagster's GraphQL API; progress follows the runs.
    page.get_by_role("button", name="Send e2e_digest").click()
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("send-progress")).to_contain_text("Finished")
    # The send's event arrives over the WebSocket (PostgreSQL NOTIFY → /api/v1/ws) as a toast.
    expect(page.get_by_test_id("toast").filter(has_text="e2e_digest")).to_contain_text("sending started")
    page.get_by_role("button", name="Edit e2e_digest").click()  # the A/B results so far: nothing sent yet
    expect(page.get_by_text(re.compile(r"Audience now: [1-9]\d* recipients\. Emails: none yet"))).to_be_visible()
    launched = dagster.launches[-1]
    tags = {t["key"]: t["value"] for t in launched["executionMetadata"]["tags"]}
    partition = f"{world['county']}|{world['tenant'].id}"  # the tenant's (county, tenant) key
    assert (tags["reos/campaign"], tags["dagster/partition"]) == ("e2e_digest", partition)
    assert launched["selector"]["assetSelection"] == [{"path": ["emails"]}]
    if AXE.is_file():  # axe on the screen as it stands: the list, the send progress
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
        assert [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")] == []


def test_recipients_import_shows_rejected_rows_and_viewers_get_no_edit_controls(browser, base_url: str,
                                                                                 world) -> None:
    expect = sync_api.expect
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    page.goto(base_url + "/")
    page.get_by_role("navigation", name="Quick actions").get_by_role("link", name="Import recipients").click()
    expect(page).to_have_url(re.compile(r"/recipients$"))
    page.get_by_label("Or paste it").fill("name,email,min_score\nGale Invest,gale@example.com,70\n"
                                          "Broken,not-an-address,70\n")
    page.get_by_role("button", name="Import").click()
    result = page.get_by_test_id("import-result")
    expect(result).to_contain_text("2 rows: 1 added, 0 updated, 0 unchanged, 1 rejected")
    expect(page.get_by_role("table", name="Rows not imported")).to_contain_text("not-an-address")
    expect(page.get_by_role("table", name="Recipients and their segments")).to_contain_text("gale@example.com")

    viewer = logged_in(browser, base_url, world["tenant"], "viewer")
    viewer.goto(base_url + "/campaigns")
    expect(viewer.get_by_role("heading", name="Campaigns")).to_be_visible()
    expect(viewer.get_by_role("table")).to_be_visible()
    expect(viewer.get_by_role("button", name="New campaign")).to_have_count(0)
    expect(viewer.get_by_role("button", name=re.compile("^(Edit|Send)"))).to_have_count(0)
    viewer.goto(base_url + "/recipients")
    expect(viewer.get_by_role("table", name="Recipients and their segments")).to_contain_text("gale@example.com")
    expect(viewer.get_by_role("heading", name="Import from CSV")).to_have_count(0)
    expect(viewer.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)


AXE = DIST.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed (npm ci in dashboard/)")
def test_no_serious_accessibility_violation_on_any_screen(browser, base_url: str, world) -> None:
    """axe-core (WCAG 2 A/AA rules) on every screen, as an admin sees it (the most controls)."""
    found = serious_violations(browser.new_context().new_page(), base_url, ["/login"])
    page = logged_in(browser, base_url, world["tenant"], "admin")
    screens = ["/", "/properties", f"/properties/{world['top_id']}", "/analytics", "/models",
               f"/models/{world['model_id']}", "/settings", "/campaigns", "/recipients"]
    found.update(serious_violations(page, base_url, screens))
    assert found == {}


def serious_violations(page: Any, base_url: str, screens: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in screens:
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
        bad = [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    return found
