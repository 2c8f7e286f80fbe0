"""The account email pages in Debian Chromium against the real API: forgot password → the email
in the outbox → its link → a new password → sign in with it; the pages pass axe.

Skips like the other dashboard tests when the app is not built or Chromium is missing."""

from __future__ import annotations

import email
import re
import shutil
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from realestate_assets.api.dashboard import DIST
from tests.api.helpers_api import make_tenant
from tests.dashboard.server import api_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = DIST.parent / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [
    pytest.mark.skipif(not (DIST / "index.html").is_file(), reason="dashboard/dist not built (make install)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="Debian chromium not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")
NEW_PASSWORD = "a fresh passphrase 42"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("account-pages")


@pytest.fixture(scope="module")
def base_url(database_url: str, state: Path) -> Iterator[str]:
    with api_server(database_url, state) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test: one test's session (a person signed in) never carries over."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def reset_link(state: Path, to: str, page: str = "reset-password") -> str:
    for path in (state / "outbox").glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == to:
            match = re.search(rf"https?://\S+/{page}#token=\S+", message.get_content())
            assert match
            return match.group(0)
    raise AssertionError(f"no email to {to}")


def test_a_person_resets_a_forgotten_password_from_the_sign_in_screen(
        page: Any, base_url: str, database_url: str, state: Path) -> None:
    expect = sync_api.expect
    tenant = make_tenant(database_url, "pages")
    address = tenant.users["analyst"]["email"]
    page.goto(base_url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(address)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text("a link is on its way")

    link = reset_link(state, address)
    assert link.startswith(base_url)  # the API's own address when no public one is configured
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/reset-password$"))  # the token left the address bar
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("The same again").fill(NEW_PASSWORD + "x")
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    page.get_by_label("The same again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is set")

    page.get_by_role("link", name="Back to sign in").click()
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login$"))


def test_an_unverified_person_asks_for_a_new_link_from_the_sign_in_screen(
        page: Any, base_url: str, database_url: str, state: Path) -> None:
    from realestate_assets.accounts import store
    from tests.api.helpers_api import PASSWORD, owner_cursor

    expect = sync_api.expect
    tenant = make_tenant(database_url, "unverified")
    address = f"new.{tenant.id}@example.com"
    with owner_cursor(database_url) as cur:
        user = store.create_user(cur, address, PASSWORD)  # not verified
        store.set_membership(cur, tenant.id, user["id"], "viewer")
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("is not verified yet")).to_be_visible()
    page.get_by_role("button", name="Send a new verification link").click()
    expect(page.get_by_role("status")).to_contain_text("a link is on its way")

    link = reset_link(state, address, "verify-email")
    page.goto(link)
    expect(page.get_by_role("status")).to_contain_text("Your address is confirmed")
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login$"))


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed (npm ci in dashboard/)")
def test_the_account_pages_have_no_serious_accessibility_violation(page: Any, base_url: str) -> None:
    found: dict[str, list[str]] = {}
    for path in ("/forgot-password", "/reset-password#token=x", "/verify-email"):
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})")
        bad = [f"{v['id']} ({v['impact']})" for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    assert found == {}
