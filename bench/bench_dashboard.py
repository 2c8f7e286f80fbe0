"""The dashboard's first load over loopback, and a screenshot of every screen.

    python bench/bench_dashboard.py --base-url http://127.0.0.1:8000 --email demo@example.com \
        --password "$(cat .reos/demo-login.txt)" [--screenshots docs/dashboard]

Against a running API that serves the built app (`make install && make dev`, after `make demo`).
Prints, for Home and Properties: the bytes the first load fetched (raw and gzip -9 of each script,
stylesheet and document: the API does not compress, a proxy in front would) and the time from
navigation to the screen's data on screen (Home: the totals; Properties: the first table row),
a fresh browser context each time (empty cache, logged in through the session's refresh token).
Not in `make bench`: it needs a server and a login.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]


def login(page: Any, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()


def first_load(browser: Any, base: str, refresh_token: str, path: str, ready: str) -> dict[str, Any]:
    """A cold load of `path` with the session's refresh token (as after a reload of the tab)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(f"sessionStorage.setItem('reos.refresh', {refresh_token!r})")
    page = context.new_page()
    fetched: list[tuple[str, bytes]] = []

    def keep(response: Any) -> None:
        if response.request.resource_type in ("document", "script", "stylesheet"):
            with contextlib.suppress(Exception):  # a redirect has no body
                fetched.append((response.url, response.body()))

    page.on("response", keep)
    start = time.perf_counter()
    page.goto(base + path)
    page.locator(ready).first.wait_for(state="visible", timeout=60_000)
    elapsed = time.perf_counter() - start
    page.wait_for_load_state("networkidle")
    token = page.evaluate("sessionStorage.getItem('reos.refresh')")
    context.close()
    raw = sum(len(body) for _, body in fetched)
    zipped = sum(len(gzip.compress(body, 9)) for _, body in fetched)
    return {"path": path, "seconds": elapsed, "files": len(fetched), "raw": raw, "gzip": zipped, "token": token}


def screenshots(browser: Any, base: str, email: str, password: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.screenshot(path=out / "login.png")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # chart animation
    page.screenshot(path=out / "home.png", full_page=True)
    page.get_by_role("link", name="Properties").click()
    expect(page.locator("table tbody tr").first).to_be_visible()
    page.screenshot(path=out / "properties.png")
    link = page.locator("table tbody tr a").first
    href = str(link.get_attribute("href"))
    link.click()
    expect(page.get_by_role("heading", name="Notes")).to_be_visible()
    page.wait_for_load_state("networkidle")
    for loading in ("Finding comparable sales", "Loading price history", "Finding similar properties"):
        page.get_by_text(loading).first.wait_for(state="detached", timeout=60_000)
    page.wait_for_timeout(1000)  # the map's tiles-free style and markers
    source = page.locator("button[aria-describedby]")
    if source.count():
        source.first.hover()
    page.screenshot(path=out / "property.png", full_page=True)
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Deals by location")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # chart animation
    page.screenshot(path=out / "analytics.png", full_page=True)
    page.get_by_role("link", name="Models").click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=out / "models.png", full_page=True)
    models = page.locator("table tbody tr a")
    if models.count():
        models.first.click()
        expect(page.get_by_role("heading", name="Feature importance")).to_be_visible()
        page.screenshot(path=out / "model.png", full_page=True)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.get_by_role("status").filter(has_text="Loading").first.wait_for(state="detached")
    page.screenshot(path=out / "settings.png", full_page=True)
    for name, heading in (("campaigns", "Campaigns"), ("recipients", "Recipients")):
        page.get_by_role("link", name=heading, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=out / f"{name}.png", full_page=True)
    # The detail page at phone width, in its own session (a refresh token is single use).
    mobile = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(mobile, base, email, password)
    mobile.goto(base + href)
    expect(mobile.get_by_role("heading", name="Notes")).to_be_visible()
    mobile.wait_for_load_state("networkidle")
    mobile.screenshot(path=out / "property-phone.png", full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        login(page, base, args.email, args.password)
        token = page.evaluate("sessionStorage.getItem('reos.refresh')")
        page.context.close()
        for path, ready in (("/", "dl dd"), ("/properties", "table tbody tr")):
            result = first_load(browser, base, token, path, ready)
            token = result["token"]  # refresh tokens are single use: the next load takes the new one
            print(f"{path:12} {result['seconds']:.2f} s to data on screen · {result['files']} files · "
                  f"{result['raw'] / 1024:.1f} kB raw · {result['gzip'] / 1024:.1f} kB gzip")
        if args.screenshots:
            screenshots(browser, base, args.email, args.password, args.screenshots)
            print(f"screenshots in {args.screenshots}")
        browser.close()


if __name__ == "__main__":
    main()
