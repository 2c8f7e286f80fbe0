"""The config-driven listing spider and its pipelines.

The spider only parses: it yields candidates and rejects as items. `ValidateListingPipeline`
turns candidates into validated `ListingItem`s (or rejects with the reason), and
`JsonLinesPipeline` persists both to JSON lines. Politeness (robots.txt, AutoThrottle, delays,
retries, cache) is all in `settings.crawl_settings`, not here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.discovery.listing.extract import extract, next_page_url
from realestate_assets.discovery.listing.items import validate_candidate

CANDIDATE, REJECT, ITEM = "candidate", "reject", "item"


class ListingSpider(scrapy.Spider):
    name = "listing"

    def __init__(self, source_json: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.source = ListingSiteSource.model_validate_json(source_json)
        self.name = f"listing_{self.source.name}"
        self.pages_requested = 0

    def _request(self, url: str) -> scrapy.Request:
        self.pages_requested += 1
        meta: dict[str, Any] = {}
        if self.source.render == "playwright":
            from scrapy_playwright.page import PageMethod

            wait = (PageMethod("wait_for_selector", self.source.item_selector, state="attached",
                               timeout=15_000)
                    if self.source.item_selector else PageMethod("wait_for_load_state", "networkidle"))
            meta = {"playwright": True, "playwright_page_methods": [wait]}
        return scrapy.Request(url, callback=self.parse, errback=self.failed, meta=meta)

    async def start(self):
        # Scrapy 2.13+ calls start(), never start_requests().
        for url in self.source.start_urls:
            yield self._request(url)

    def parse(self, response):
        self.crawler.stats.inc_value("listing/pages")
        if not isinstance(response, TextResponse):
            yield {"_kind": REJECT, "ref": response.url, "raw": None,
                   "reason": f"not a text page ({response.headers.get('Content-Type', b'').decode(errors='replace')})"}
            return
        try:
            for kind, payload, how in extract(response.selector, self.source, response.url):
                if kind == CANDIDATE:
                    yield {"_kind": CANDIDATE, "ref": response.url, "raw": payload, "extracted_by": how}
                else:
                    yield {"_kind": REJECT, "ref": response.url, "raw": payload, "reason": how}
        except Exception as exc:  # a page nobody anticipated: reject it, keep crawling
            yield {"_kind": REJECT, "ref": response.url, "raw": response.text[:10_000],
                   "reason": f"could not extract: {type(exc).__name__}: {exc}"}
        following = next_page_url(response.selector, self.source)
        if following and self.pages_requested < self.source.max_pages:
            yield self._request(response.urljoin(following))

    def failed(self, failure):
        request = failure.request
        if failure.check(HttpError):
            reason = f"HTTP {failure.value.response.status}"
        else:
            reason = f"download failed: {failure.type.__name__}: {failure.getErrorMessage()}"
        self.crawler.stats.inc_value("listing/download_errors")
        yield {"_kind": REJECT, "ref": request.url, "raw": None, "reason": reason}


class ValidateListingPipeline:
    def process_item(self, item: dict) -> dict:
        if item.get("_kind") != CANDIDATE:
            return item
        listing, reason = validate_candidate(item["raw"], item["ref"], item["extracted_by"])
        if listing is None:
            return {"_kind": REJECT, "ref": item["ref"], "raw": item["raw"], "reason": reason}
        return {"_kind": ITEM, **listing.model_dump(mode="json")}


class JsonLinesPipeline:
    """Writes items and rejects as JSON lines; listings seen twice (same source_id) are kept once."""

    def __init__(self, items_path: str, rejects_path: str, source_name: str, stats):
        self.items_path, self.rejects_path, self.source_name, self.stats = (
            Path(items_path), Path(rejects_path), source_name, stats)
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls(settings["LISTING_ITEMS_PATH"], settings["LISTING_REJECTS_PATH"],
                   settings["LISTING_SOURCE_NAME"], crawler.stats)

    def open_spider(self) -> None:
        for path in (self.items_path, self.rejects_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.items = self.items_path.open("w", encoding="utf-8")
        self.rejects = self.rejects_path.open("w", encoding="utf-8")

    def close_spider(self) -> None:
        self.items.close()
        self.rejects.close()

    def process_item(self, item: dict) -> dict:
        kind = item.pop("_kind", None)
        if kind == ITEM:
            if item["source_id"] in self.seen:
                self.stats.inc_value("listing/duplicates")
                return item
            self.seen.add(item["source_id"])
            self.items.write(json.dumps(item, ensure_ascii=False) + "\n")
            self.stats.inc_value("listing/items")
        else:
            record = {"source": self.source_name, "ref": item.get("ref"), "raw": item.get("raw"),
                      "reason": item.get("reason")}
            self.rejects.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self.stats.inc_value("listing/rejects")
        return item
