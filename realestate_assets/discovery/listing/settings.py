"""Scrapy settings for one listing source: politeness comes from here, never from loops.

The county file's `rate_limit` maps onto Scrapy's own knobs: `requests_per_second` sets
DOWNLOAD_DELAY (and AutoThrottle's starting delay), `concurrency` sets
CONCURRENT_REQUESTS_PER_DOMAIN (and AutoThrottle's target). AutoThrottle then only slows down
from there when the site answers slowly. Environment knobs (read at call time):

* `REOS_CRAWLER_USER_AGENT` — the User-Agent (name the operator and a contact).
* `REOS_CRAWLER_HTTPCACHE=1` — Scrapy's HTTP cache under the state dir (development).
* `REOS_CHROMIUM_PATH` — the browser for `render: playwright` (default /usr/bin/chromium).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.settings import state_dir

DEFAULT_USER_AGENT = "RealEstateOS-discovery/0.1 (+https://github.com/real-estate-os; set REOS_CRAWLER_USER_AGENT)"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    return os.environ.get("REOS_CHROMIUM_PATH", "/usr/bin/chromium")


def crawl_settings(source: ListingSiteSource, items_path: Path, rejects_path: Path, *,
                   throttle: bool = True, http_cache: bool | None = None,
                   user_agent: str | None = None, log_level: str = "INFO") -> dict[str, Any]:
    rps = source.rate_limit.requests_per_second
    concurrency = source.rate_limit.concurrency
    if http_cache is None:
        http_cache = os.environ.get("REOS_CRAWLER_HTTPCACHE", "") in ("1", "true", "yes")
    settings: dict[str, Any] = {
        "BOT_NAME": "realestate_os",
        "USER_AGENT": user_agent or os.environ.get("REOS_CRAWLER_USER_AGENT") or DEFAULT_USER_AGENT,
        "ROBOTSTXT_OBEY": True,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": log_level,
        "CONCURRENT_REQUESTS": max(16, concurrency),
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 1.0 / rps,
        "RANDOMIZE_DOWNLOAD_DELAY": True,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": 1.0 / rps,
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(concurrency),
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 3,
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
        "DOWNLOAD_TIMEOUT": 30,
        "DOWNLOAD_MAXSIZE": 20 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 5 * 1024 * 1024,
        "REDIRECT_MAX_TIMES": 5,
        "HTTPCACHE_ENABLED": http_cache,
        "HTTPCACHE_DIR": str(state_dir() / "httpcache"),
        "HTTPCACHE_EXPIRATION_SECS": 24 * 3600,
        "HTTPCACHE_IGNORE_HTTP_CODES": [429, 500, 502, 503, 504],
        "ITEM_PIPELINES": {
            "realestate_assets.discovery.listing.spider.ValidateListingPipeline": 300,
            "realestate_assets.discovery.listing.spider.JsonLinesPipeline": 800,
        },
        "LISTING_ITEMS_PATH": str(items_path),
        "LISTING_REJECTS_PATH": str(rejects_path),
        "LISTING_SOURCE_NAME": source.name,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    if not throttle:  # benchmarks against a local server only
        settings.update({"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RANDOMIZE_DOWNLOAD_DELAY": False,
                         "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "CONCURRENT_REQUESTS": 32})
    if source.render == "playwright":
        settings.update({
            "DOWNLOAD_HANDLERS": {
                "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
                "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            },
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium_path(), "args": CHROMIUM_ARGS},
            "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 30_000,
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max(1, concurrency),
            # Images, fonts and media are not needed to read listings: skip them.
            "PLAYWRIGHT_ABORT_REQUEST": "realestate_assets.discovery.listing.settings.abort_heavy_request",
        })
    return settings


def abort_heavy_request(request) -> bool:
    return request.resource_type in ("image", "media", "font")
