"""Campaign template preview and the Properties screen's "Add to campaign", in Debian Chromium
against the real API: an analyst ticks two properties and adds them to a campaign (the API lists
them), then opens the campaign and previews its email — the send's own HTML in a sandboxed frame,
one subject per variant; axe finds nothing serious on either screen."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.api.dashboard import DIST
from realestate_assets.settings import repo_root
from tests.api.helpers_api import make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.dashboard.test_dashboard_e2e import CHROMIUM, N, logged_in, rows, seed

pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")
AXE = DIST.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, Any]:
    tenant = make_tenant(database_url, "preview-ui")
    county = f"pv_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed(cur, county)
        cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s", (tenant.id,))
        cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant.id, county))
        cur.execute("INSERT INTO campaigns (tenant_id, key, type, subjects, intro, status) VALUES "
                    "(%s, 'picked_e2e', 'new_opportunity', ARRAY['{first_name}, parcel {parcel_id}', "
                    "'A {score}/100 deal in {county}'], 'Hand-picked for you in {county}.', 'active') RETURNING id",
                    (tenant.id,))
        campaign_id = cur.fetchone()[0]
    return {"tenant": tenant, "county": county, "campaign_id": campaign_id}


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, world) -> Iterator[str]:
    # The preview renders with the county's configuration: King County's file under the test county's key.
    config = tmp_path_factory.mktemp("preview-config") / "config"
    shutil.copytree(repo_root() / "config", config)
    text = (config / "counties" / "king_wa.yaml").read_text()
    (config / "counties" / f"{world['county']}.yaml").write_text(
        text.replace("key: king_wa", f"key: {world['county']}"))
    with api_server(database_url, tmp_path_factory.mktemp("preview-api"), config_dir=str(config)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def axe_serious(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
    return [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_add_to_campaign_then_preview_its_email(browser, base_url: str, world, database_url: str) -> None:
    expect = sync_api.expect
    page = logged_in(browser, base_url, world["tenant"], "analyst")
    expect(rows(page)).to_have_count(N)
    for n in (0, 1):
        rows(page).nth(n).get_by_role("checkbox").check()
    page.get_by_label("Campaign", exact=True).select_option(label="picked_e2e")
    page.get_by_role("button", name="Add to campaign").click()
    expect(page.get_by_role("status").filter(has_text="Added")).to_contain_text("Added 2 to picked_e2e (2 listed)")
    if AXE.is_file():
        assert axe_serious(page) == []
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM campaign_properties WHERE campaign_id = %s", (world["campaign_id"],))
        assert cur.fetchone()[0] == 2

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("button", name="Edit picked_e2e").click()
    page.get_by_role("button", name="Preview email").click()
    variants = page.get_by_role("list", name="Subject variants")
    expect(variants).to_contain_text(re.compile(r"Variant A: Seed, parcel \d+"))
    expect(variants).to_contain_text("Variant B: A ")
    frame = page.get_by_title("Email preview")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe[title='Email preview']").get_by_text(
        "Hand-picked for you in King County.")).to_be_visible()
    if AXE.is_file():
        assert axe_serious(page) == []
