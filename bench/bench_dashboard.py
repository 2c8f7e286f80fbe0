"""The dashboard's first load over loopback, and a screenshot of every screen.

    python bench/bench_dashboard.py --properties 100000 [--database-url URL] [--workers 2]
    python bench/bench_dashboard.py --base-url http://127.0.0.1:8000 --email demo@example.com \
        --password "$(cat .reos/demo-login.txt)" [--screenshots docs/dashboard]

Issue #12's bench. With `--properties`, it serves itself: bench_api.py's generated county (a
scratch database, or `--database-url` reused) with a user following it, and `uvicorn` serving the
built app (`dashboard/dist`: `cd dashboard && npm run build` first). Otherwise against a running
API that serves the built app (`make install && make dev`, after `make demo`).
Prints, for Home and Properties: the bytes the first load fetched (raw and gzip -9 of each script,
stylesheet and document, as a compressing proxy or the API's own gzip of static files would send
them) and the time from navigation to the screen's data on screen (Home: the totals; Properties:
the first table row, i.e. a filled table), a fresh browser context each time (empty cache, logged
in through the session's refresh token), `--runs` times each (median and worst). Issue #12's
targets: < 300 kB gzip for the initial route, < 1.5 s to a filled table of 100,000 properties.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
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


BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = "bench-password-1"


@contextlib.contextmanager
def served(properties: int, database_url: str | None, workers: int) -> Iterator[str]:
    """bench_api's county and a user of its tenant, the API serving the built app; the base URL."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import psycopg2
    from bench_api import bench_database, seed, started_api

    from realestate_assets.accounts import store
    from realestate_assets.api.dashboard import DIST
    from tests.databases import psycopg2_dsn

    if not (DIST / "index.html").exists():
        raise SystemExit(f"no build in {DIST}: cd dashboard && npm run build")
    with bench_database(database_url) as url, tempfile.TemporaryDirectory(prefix="reos-bench-dash-") as scratch:
        started = time.perf_counter()
        _, _, fresh = seed(url, properties)
        if fresh:
            print(f"seeded {properties:,} properties in {time.perf_counter() - started:.1f} s")
        conn = psycopg2.connect(psycopg2_dsn(url))
        with conn, conn.cursor() as cur:
            if store.find_user(cur, BENCH_EMAIL) is None:
                user = store.create_user(cur, BENCH_EMAIL, BENCH_PASSWORD, verified=True)
                store.set_membership(cur, "bench", user["id"], "owner")
        conn.close()
        # Served as bench_api serves it (realestate_assets/api/serve.py, `workers` processes on one
        # SO_REUSEPORT port); the principal's rate limit left at its default ("").
        server, base = started_api({"DATABASE_URL": url, "REOS_STATE_DIR": scratch,
                                    "REOS_RATE_LIMIT_IP": "100000/minute", "REOS_RATE_LIMIT_LOGIN": "1000/minute",
                                    "REOS_RATE_LIMIT_PRINCIPAL": ""}, workers)
        try:
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--email")
    parser.add_argument("--password")
    parser.add_argument("--properties", type=int, help="serve bench_api's generated county of this many properties")
    parser.add_argument("--database-url", help="with --properties: reuse this migrated database")
    parser.add_argument("--workers", type=int, default=2, 
                        help="with --properties: API processes (bench_api.started_api)")
    parser.add_argument("--runs", type=int, default=5, help="cold loads per screen")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    if args.properties:
        print(f"{args.properties:,} properties, {args.workers} uvicorn worker(s), load average "
              f"{os.getloadavg()[0]:.1f} at start")
        with served(args.properties, args.database_url, args.workers) as base:
            measure(base, BENCH_EMAIL, BENCH_PASSWORD, args.chromium, args.runs, args.screenshots)
    else:
        if not (args.email and args.password):
            parser.error("--email and --password (or --properties)")
        measure(args.base_url.rstrip("/"), args.email, args.password, args.chromium, args.runs, args.screenshots)


def measure(base: str, email: str, password: str, chromium: str, runs: int, shots: Path | None) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        login(page, base, email, password)
        token = page.evaluate("sessionStorage.getItem('reos.refresh')")
        page.context.close()
        for path, ready in (("/", "dl dd"), ("/properties", "table tbody tr")):
            results = []
            for _ in range(runs):
                result = first_load(browser, base, token, path, ready)
                token = result["token"]  # refresh tokens are single use: the next load takes the new one
                results.append(result)
            seconds = [r["seconds"] for r in results]
            last = results[-1]
            print(f"{path:12} {statistics.median(seconds):.2f} s median, {max(seconds):.2f} s worst of {runs} "
                  f"to data on screen · {last['files']} files · {last['raw'] / 1024:.1f} kB raw · "
                  f"{last['gzip'] / 1024:.1f} kB gzip", flush=True)
        if shots:
            screenshots(browser, base, email, password, shots)
            print(f"screenshots in {shots}")
        browser.close()


if __name__ == "__main__":
    main()
