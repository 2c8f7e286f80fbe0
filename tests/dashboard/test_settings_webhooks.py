"""Settings › Webhooks in Debian Chromium against the real API: an admin adds an endpoint (the
secret shown once), sends a test, the sensor's delivery function sends it to a real local receiver,
and the delivery log shows it delivered; the ping verifies with a stock Standard Webhooks verifier."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from standardwebhooks import Webhook

from realestate_assets.api.dashboard import DIST
from realestate_assets.outreach.webhooks import deliver_due
from tests.api.helpers_api import PASSWORD, dsn, make_tenant
from tests.dashboard.server import api_server
from tests.outreach.helpers_outreach import ScriptedServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with api_server(database_url, tmp_path_factory.mktemp("hooks-ui")) as url:
        yield url


def test_an_admin_adds_an_endpoint_sends_a_test_and_reads_the_delivery_log(base_url: str, database_url: str) -> None:
    expect = sync_api.expect
    tenant = make_tenant(database_url, "hooks-ui")
    with sync_api.sync_playwright() as p, ScriptedServer() as receiver:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page: Any = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        page.goto(base_url + "/login")
        page.get_by_label("Email").fill(tenant.users["admin"]["email"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).not_to_have_url(re.compile(r"/login$"))
        page.goto(base_url + "/settings")
        section = page.get_by_role("region", name="Webhooks")
        section.get_by_label("Endpoint URL").fill(receiver.url + "/hook")
        section.get_by_role("button", name="Add endpoint").click()
        secret = section.get_by_test_id("new-webhook-secret").inner_text()
        assert secret.startswith("whsec_")
        # The new endpoint's own button (make_tenant's tenant also has a switched-off endpoint, whose
        # button is disabled): it appears once the list has been fetched again after the create.
        ping = section.get_by_role("button", name=f"Send a test to {receiver.url}/hook")
        expect(ping).to_be_enabled()
        ping.click()
        expect(section.get_by_role("region", name="Deliveries")).to_contain_text("pending")

        conn = psycopg2.connect(dsn(database_url))
        try:
            attempts = deliver_due(conn)  # what the webhooks sensor runs every 30 s
        finally:
            conn.close()
        assert any(a.ok for a in attempts)
        expect(section.get_by_role("region", name="Deliveries")).to_contain_text("delivered", timeout=20_000)
        browser.close()
    ping = next(r for r in receiver.requests if json.loads(r.body)["type"] == "ping")
    assert Webhook(secret).verify(ping.body, ping.headers)["type"] == "ping"
