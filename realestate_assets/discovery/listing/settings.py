"""Scrapy settings for one listing source: politeness and output come from here, never from loops.

The county file's `rate_limit` maps onto Scrapy's own knobs: `requests_per_second` sets
DOWNLOAD_DELAY (and AutoThrottle's starting delay), `concurrency` sets
CONCURRENT_REQUESTS_PER_DOMAIN (and AutoThrottle's target). AutoThrottle then only slows down
from there when the site answers slowly. robots.txt is always obeyed; retries, timeouts and the
HTTP cache are Scrapy's middlewares. Output is two JSON-lines FEEDS (listings, rejects) to a
local path or an s3:// URI.

Operator choices (User-Agent, browser path, HTTP cache) arrive as `CrawlOptions`, from the
scraper resource's config through the runner's command line; nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realestate_assets.config_models import ListingSiteSource

DEFAULT_USER_AGENT = "RealEstateOS-discovery/0.1 (+https://github.com/real-estate-os; set the scraper's user_agent)"
DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PACKAGE = "realestate_assets.discovery.listing"


@dataclass(frozen=True)
class CrawlOptions:
    """How to crawl, as opposed to what (the source): the operator's settings."""

    user_agent: str = DEFAULT_USER_AGENT
    chromium_path: str = DEFAULT_CHROMIUM_PATH
    http_cache_dir: str | None = None  # Scrapy's HTTP cache there (development); None: no cache
    throttle: bool = True  # False: benchmarks against a local server only
    log_level: str = "INFO"
    s3_endpoint_url: str | None = None  # MinIO or another S3-compatible store for s3:// feeds


def crawl_settings(source: ListingSiteSource, items_uri: str, rejects_uri: str,
                   options: CrawlOptions = CrawlOptions()) -> dict[str, Any]:
    rps = source.rate_limit.requests_per_second
    concurrency = source.rate_limit.concurrency
    feed = {"format": "jsonlines", "encoding": "utf-8", "overwrite": True, "store_empty": True}
    settings: dict[str, Any] = {
        "BOT_NAME": "realestate_os",
        "SPIDER_MODULES": [f"{PACKAGE}.spiders"],
        "USER_AGENT": options.user_agent,
        "ROBOTSTXT_OBEY": True,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": options.log_level,
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
        "HTTPCACHE_ENABLED": options.http_cache_dir is not None,
        # Absolute: Scrapy would put a relative one under its own `.scrapy/` project directory.
        "HTTPCACHE_DIR": str(Path(options.http_cache_dir or ".scrapy/httpcache").resolve()),
        "HTTPCACHE_EXPIRATION_SECS": 24 * 3600,
        "HTTPCACHE_IGNORE_HTTP_CODES": [429, 500, 502, 503, 504],
        "ITEM_PIPELINES": {
            f"{PACKAGE}.pipelines.ValidateListingPipeline": 300,
            f"{PACKAGE}.pipelines.DeduplicateListingPipeline": 400,
        },
        "FEEDS": {
            items_uri: {**feed, "item_classes": [f"{PACKAGE}.items.ListingRecord"]},
            rejects_uri: {**feed, "item_classes": [f"{PACKAGE}.items.RejectedItem"]},
        },
        "AWS_ENDPOINT_URL": options.s3_endpoint_url,
        "LISTING_SOURCE_NAME": source.name,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    if not options.throttle:
        settings.update({"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RANDOMIZE_DOWNLOAD_DELAY": False,
                         "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "CONCURRENT_REQUESTS": 32})
    if source.render == "playwright":
        settings.update({
            "DOWNLOAD_HANDLERS": {
                "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
                "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            },
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": options.chromium_path, "args": CHROMIUM_ARGS},
            "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 30_000,
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max(1, concurrency),
            # Images, fonts and media are not needed to read listings: skip them.
            "PLAYWRIGHT_ABORT_REQUEST": f"{PACKAGE}.settings.abort_heavy_request",
        })
    return settings


def abort_heavy_request(request) -> bool:
    return request.resource_type in ("image", "media", "font")
