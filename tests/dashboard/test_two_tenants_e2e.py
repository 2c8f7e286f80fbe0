"""Two customer organisations follow the same county in Debian Chromium against the real API: tenant A
downloads a rendered memo (the bytes are a PDF) and keeps a note and a campaign; tenant B, on the same
public property, sees none of A's notes, campaigns or memos — not on its screens, and not by typing A's
ids into the address bar or the API.

Skips when the app is not built (`make install` builds dashboard/dist) or Chromium is missing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.helpers_api import PASSWORD, make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.dashboard.test_dashboard_e2e import N, browser, logged_in, pytestmark, seed  # noqa: F401

sync_api = pytest.importorskip("playwright.sync_api")


def real_pdf() -> bytes:
    """A PDF made by the memo's own renderer (WeasyPrint), not a byte string that looks like one."""
    from weasyprint import HTML

    return HTML(string="<h1>Investor memo</h1><p>130 OAK ST</p>").write_pdf()


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, Any]:
    a, b = make_tenant(database_url, "two-a"), make_tenant(database_url, "two-b")
    county = f"two_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        seed(cur, county)
        for tenant in (a, b):  # both follow only this county: the public rows are shared
            cur.execute("DELETE FROM subscriptions WHERE tenant_id = %s", (tenant.id,))
            cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant.id, county))
        key = f"{county}-{N:04d}"
        cur.execute("SELECT id FROM prospects WHERE county = %s AND prospect_key = %s", (county, key))
        top_id = cur.fetchone()[0]
        memo_path = f"tenants/{a.id}/packets/{county}/{key}/investor_memo.pdf"
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES (%s, %s, %s, "
                    "'investor_memo', '5', 'h', %s, 's', 9, 98, now())", (a.id, county, key, memo_path))
        cur.execute("INSERT INTO notes (tenant_id, county, prospect_key, user_id, author, body) "
                    "VALUES (%s, %s, %s, %s, 'A analyst', 'A: seller is motivated, call Tuesday')",
                    (a.id, county, key, a.users["analyst"]["id"]))
        cur.execute("SELECT id FROM segments WHERE tenant_id = %s", (a.id,))
        cur.execute("INSERT INTO campaigns (tenant_id, key, type, subjects, segment_id) "
                    "VALUES (%s, 'a_private_digest', 'daily_digest', ARRAY['A only'], %s) RETURNING id",
                    (a.id, cur.fetchone()[0]))
        campaign_id = cur.fetchone()[0]
    return {"a": a, "b": b, "county": county, "top_id": top_id, "memo_path": memo_path,
            "campaign_id": campaign_id}


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory, world: dict[str, Any]) -> Iterator[str]:
    state = tmp_path_factory.mktemp("two-api")
    stored = state / "objects" / world["memo_path"]
    stored.parent.mkdir(parents=True)
    stored.write_bytes(real_pdf())
    with api_server(database_url, state) as url:
        yield url


def test_a_memo_downloads_as_pdf_bytes(browser, base_url: str, world: dict[str, Any]) -> None:  # noqa: F811
    page = logged_in(browser, base_url, world["a"], "viewer")
    page.goto(f"{base_url}/properties/{world['top_id']}")
    sync_api.expect(page.get_by_role("heading", name="130 OAK ST")).to_be_visible()
    # The button follows the API's short-lived link (303 → /objects/…?signature=…) and opens the bytes
    # in a new tab; the tab's address is kept here to read back what the person would get.
    page.evaluate("() => { window.opened = []; window.open = (url) => { window.opened.push(url); return null; }; }")
    with page.expect_response(re.compile(r"/objects/tenants/")) as answer:
        page.get_by_role("button", name="Investor memo (PDF)").click()
    assert answer.value.status == 200 and answer.value.headers["content-type"] == "application/pdf"
    page.wait_for_function("() => window.opened.length === 1")
    head = page.evaluate("""async () => {
        const bytes = new Uint8Array(await (await fetch(window.opened[0])).arrayBuffer());
        return [bytes.length, String.fromCharCode(...bytes.slice(0, 5))];
    }""")
    assert head[0] > 1000 and head[1] == "%PDF-"

def test_tenant_b_never_sees_tenant_a_notes_campaigns_or_memos(browser, base_url: str,  # noqa: F811
                                                               world: dict[str, Any]) -> None:
    expect = sync_api.expect
    a_page = logged_in(browser, base_url, world["a"], "analyst")
    a_page.goto(f"{base_url}/properties/{world['top_id']}")
    expect(a_page.get_by_role("list", name="Notes, oldest first")).to_contain_text("seller is motivated")
    a_page.goto(f"{base_url}/campaigns")
    expect(a_page.get_by_role("row", name=re.compile("a_private_digest"))).to_be_visible()

    b_page = logged_in(browser, base_url, world["b"], "admin")
    b_page.goto(f"{base_url}/properties/{world['top_id']}")  # the same public property
    expect(b_page.get_by_role("heading", name="130 OAK ST")).to_be_visible()
    expect(b_page.get_by_role("heading", name="Notes")).to_be_visible()
    expect(b_page.get_by_text("No notes yet.")).to_be_visible()
    expect(b_page.get_by_text("seller is motivated")).to_have_count(0)
    # B has no memo of its own for it: asking records B's request, never hands out A's PDF.
    b_page.get_by_role("button", name="Investor memo (PDF)").click()
    expect(b_page.get_by_role("status").filter(has_text="not rendered yet")).to_be_visible()
    b_page.goto(f"{base_url}/campaigns")
    expect(b_page.get_by_role("heading", name="Campaigns")).to_be_visible()
    expect(b_page.get_by_role("table")).to_be_visible()
    expect(b_page.get_by_text("a_private_digest")).to_have_count(0)
    # Guessing A's ids through the API, with B's session: not found, not forbidden (no existence leak).
    token = b_page.request.post(f"{base_url}/api/v1/auth/login", data={
        "email": world["b"].users["admin"]["email"], "password": PASSWORD}).json()["access_token"]
    guessed = b_page.request.get(f"{base_url}/api/v1/campaigns/{world['campaign_id']}",
                                 headers={"Authorization": f"Bearer {token}"})
    assert guessed.status == 404
    # A's memo object, without A's link or with a made-up signature, is refused.
    memo = f"{base_url}/objects/{world['memo_path']}"
    assert b_page.request.get(memo).status == 422
    assert b_page.request.get(f"{memo}?expires=4102444800&signature=forged").status == 403

