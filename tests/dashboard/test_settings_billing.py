"""Settings › Usage's billing buttons in Debian Chromium against the real API and the Stripe fake
(tests/fake_stripe.py): an owner of a free tenant clicks "Change plan to Professional" and the
browser goes to the Checkout URL the API answered (Stripe's host stubbed by Playwright); then
"Manage billing" is offered and goes to the portal. A viewer sees neither, nor does an owner
when billing is not configured (the API's 503)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.api.dashboard import DIST
from tests.api.helpers_api import PASSWORD, make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.fake_stripe import API_KEY, FakeStripe
from tests.local_http import base_url as local_base_url
from tests.local_http import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")
PRICES = {"professional": "price_pro", "enterprise": "price_ent"}


@pytest.fixture(scope="module")
def urls(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(billing configured, billing not configured) dashboards on the same database."""
    with serve(FakeStripe()) as stripe_api, api_server(
            database_url, tmp_path_factory.mktemp("billing-ui"), stripe_api_key=API_KEY,
            stripe_webhook_secret="whsec_ui", stripe_prices=PRICES,
            stripe_api_base=local_base_url(stripe_api)) as billed, api_server(
            database_url, tmp_path_factory.mktemp("billing-ui-off")) as off:
        yield billed, off


def _page(p: Any, base_url: str, email: str, settings: bool = True) -> Any:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    # Stripe's hosted pages (the fake's URLs) answered here: the test sees where the browser went.
    page.route(re.compile(r"https://(checkout|billing)\.stripe\.test/.*"),
               lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Stripe</h1>"))
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page).not_to_have_url(re.compile(r"/login$"))
    if settings:
        page.goto(base_url + "/settings")
    return page


def test_an_owner_goes_to_checkout_then_to_the_portal(urls: tuple[str, str], database_url: str) -> None:
    expect = sync_api.expect
    billed, off = urls
    tenant = make_tenant(database_url, "billing-ui")
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
    with sync_api.sync_playwright() as p:
        page = _page(p, billed, tenant.users["owner"]["email"])
        section = page.get_by_role("region", name="Plan and usage")
        expect(section).to_contain_text("Plan: Free")
        expect(section.get_by_role("button", name="Change plan to Enterprise")).to_be_visible()
        expect(section.get_by_role("button", name="Manage billing")).to_have_count(0)  # no customer yet
        section.get_by_role("button", name="Change plan to Professional").click()
        expect(page).to_have_url(re.compile(r"^https://checkout\.stripe\.test/c/pay/cs_test_"))

        page.goto(billed + "/settings")
        section = page.get_by_role("region", name="Plan and usage")
        section.get_by_role("button", name="Manage billing").click()
        expect(page).to_have_url(re.compile(r"^https://billing\.stripe\.test/p/session/bps_"))

        page = _page(p, off, tenant.users["owner"]["email"], settings=False)  # not configured: 503, nothing shown
        with page.expect_response(lambda r: r.url.endswith("/api/v1/billing")) as answered:
            page.goto(off + "/settings")
        assert answered.value.status == 503
        section = page.get_by_role("region", name="Plan and usage")
        expect(section).to_contain_text("Plan: Free")
        expect(section.get_by_role("button", name=re.compile("Change plan|Manage billing"))).to_have_count(0)

        page = _page(p, billed, tenant.users["viewer"]["email"])  # not an owner: not asked, nothing shown
        section = page.get_by_role("region", name="Plan and usage")
        expect(section).to_contain_text("Plan: Free")
        expect(section.get_by_role("button", name=re.compile("Change plan|Manage billing"))).to_have_count(0)
