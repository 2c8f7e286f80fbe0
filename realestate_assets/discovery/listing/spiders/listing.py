"""The config-driven listing spider: it only reads pages and yields what it found.

Index pages (`start_urls`, then `next_page_selector` up to `max_pages`) give listings directly,
or, when the source names a `detail_link_selector`, links to each property's own page, where
the listing is read. Politeness (robots.txt, AutoThrottle, delays, retries, cache) is all in
`settings.crawl_settings`, and applies to detail pages as to index pages. Validation and
output are the pipelines' and feeds' job.

A link robots.txt forbids is skipped and counted (`listing/robots_skipped`): the site asked us
not to fetch it, which says nothing about the data's quality, so it is not a reject.
"""

from __future__ import annotations

from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.discovery.listing.extract import detail_links, extract, next_page_url
from realestate_assets.discovery.listing.items import Candidate, RejectedItem

ROBOTS_FORBIDDEN = "Forbidden by robots.txt"  # RobotsTxtMiddleware's IgnoreRequest message


class ListingSpider(scrapy.Spider):
    name = "listing"

    def __init__(self, source_json: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.source = ListingSiteSource.model_validate_json(source_json)
        self.name = f"listing_{self.source.name}"
        self.index_pages_requested = 0

    def _request(self, url: str, callback, *, wait_for: str | None) -> scrapy.Request:
        meta: dict[str, Any] = {}
        if self.source.render == "playwright":
            from scrapy_playwright.page import PageMethod

            wait = (PageMethod("wait_for_selector", wait_for, state="attached", timeout=15_000)
                    if wait_for else PageMethod("wait_for_load_state", "networkidle"))
            meta = {"playwright": True, "playwright_page_methods": [wait]}
        return scrapy.Request(url, callback=callback, errback=self.failed, meta=meta)

    def _index(self, url: str) -> scrapy.Request:
        self.index_pages_requested += 1
        wait_for = self.source.detail_link_selector or self.source.item_selector
        return self._request(url, self.parse, wait_for=wait_for)

    async def start(self):
        # Scrapy 2.13+ calls start(), never start_requests().
        for url in self.source.start_urls:
            yield self._index(url)

    def parse(self, response):
        """An index page: listings, or links to their detail pages; then the next page."""
        yield from self._read(response, whole_page=False)
        if isinstance(response, TextResponse):
            following = next_page_url(response.selector, self.source)
            if following and self.index_pages_requested < self.source.max_pages:
                yield self._index(response.urljoin(following))

    def parse_detail(self, response):
        """A property's own page: one listing (or more, if its structured data says so)."""
        self.crawler.stats.inc_value("listing/detail_pages")
        yield from self._read(response, whole_page=True)

    def _read(self, response, *, whole_page: bool):
        self.crawler.stats.inc_value("listing/pages")
        if not isinstance(response, TextResponse):
            kind = response.headers.get("Content-Type", b"").decode(errors="replace")
            yield self._reject(response.url, None, f"not a text page ({kind})")
            return
        if self.source.detail_link_selector and not whole_page:
            links = detail_links(response.selector, self.source)
            if not links:
                self.logger.warning("%s: detail_link_selector matched no link", response.url)
            for link in links:
                yield self._request(response.urljoin(link), self.parse_detail, wait_for=None)
            return
        try:
            for kind, payload, how in extract(response.selector, self.source, response.url,
                                              whole_page=whole_page):
                if kind == "candidate":
                    yield Candidate(payload, response.url, how)
                elif kind == "covered":
                    self.crawler.stats.inc_value("listing/cards_in_structured_data")
                else:
                    yield self._reject(response.url, payload, how)
        except Exception as exc:  # a page nobody anticipated: reject it, keep crawling
            yield self._reject(response.url, response.text[:10_000],
                               f"could not extract: {type(exc).__name__}: {exc}")

    def _reject(self, ref: str, raw: Any, reason: str) -> RejectedItem:
        return RejectedItem(self.source.name, ref, raw, reason)

    def failed(self, failure):
        request = failure.request
        if failure.check(IgnoreRequest) and str(failure.value) == ROBOTS_FORBIDDEN:
            self.crawler.stats.inc_value("listing/robots_skipped")
            self.logger.info("skipped (robots.txt forbids it): %s", request.url)
            return
        if failure.check(HttpError):
            reason = f"HTTP {failure.value.response.status}"
        else:
            reason = f"download failed: {failure.type.__name__}: {failure.getErrorMessage()}"
        self.crawler.stats.inc_value("listing/download_errors")
        yield self._reject(request.url, None, reason)
