"""Listing-site discovery: a config-driven Scrapy project (optionally rendered with Playwright).

Laid out as Scrapy expects:

* `extract` finds candidates in a page (JSON-LD, embedded `__NEXT_DATA__` JSON, selectors) and
  detail-page links; pure functions over a selector.
* `items` — `Candidate`, the validated `ListingItem` (hostile text reduced to plain text) and its
  `ListingRecord`, `RejectedItem`.
* `pipelines` — validation (candidate → listing or reject) and de-duplication.
* `settings` — politeness, retries, cache and the two JSON-lines FEEDS, from the source and
  `CrawlOptions` (no environment variables).
* `spiders/` — `ListingSpider` (index pages, pagination, detail pages, robots.txt skips).
* `run` — the crawl's entry point (`python -m ...listing.run`), which Dagster Pipes launches
  (`resources/scraper.py`); `read` turns its feeds back into Pages and Rejects.

Nothing here imports Scrapy at package import time, so `read` stays cheap for the asset.
"""
