"""Listing-site discovery: a config-driven Scrapy spider (optionally rendered with Playwright).

* `extract` finds candidates in a page (JSON-LD, embedded `__NEXT_DATA__` JSON, selectors).
* `items` validates them into `ListingItem`s; hostile text is reduced to plain text.
* `spider` + `settings` are the crawl; `run` runs it in its own process (Dagster Pipes friendly)
  and writes JSON lines; `read` turns those files back into Pages and Rejects.

Nothing here imports Scrapy at package import time, so `read` stays cheap for the asset.
"""
