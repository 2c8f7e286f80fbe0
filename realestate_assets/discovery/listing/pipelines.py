"""Item pipelines: validation turns candidates into listings or rejects; the feeds persist them.

`ValidateListingPipeline` checks each `Candidate` (`items.validate_candidate`) and passes on a
`ListingRecord` (the validated `ListingItem`'s values) or a `RejectedItem` with the reason.
`DeduplicateListingPipeline` keeps the first listing per `source_id` (a listing shown on two
index pages is one listing) and counts what reaches the feeds. Writing is Scrapy's FEEDS
(`settings.crawl_settings`): one JSON-lines feed of `ListingRecord`s, one of `RejectedItem`s,
to a local path or s3://.
"""

from __future__ import annotations

from scrapy.exceptions import DropItem

from realestate_assets.discovery.listing.items import Candidate, ListingRecord, RejectedItem, validate_candidate
from realestate_assets.discovery.validate import cap_raw


class ValidateListingPipeline:
    def __init__(self, source_name: str):
        self.source_name = source_name

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings["LISTING_SOURCE_NAME"])

    def process_item(self, item):
        if not isinstance(item, Candidate):
            return item
        listing, reason = validate_candidate(item.raw, item.page_url, item.extracted_by)
        if listing is None:
            return RejectedItem(self.source_name, item.page_url, cap_raw(item.raw), reason or "invalid")
        return ListingRecord(listing.model_dump(mode="json"))


class DeduplicateListingPipeline:
    def __init__(self, stats):
        self.stats = stats
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        if isinstance(item, ListingRecord):
            if item["source_id"] in self.seen:
                self.stats.inc_value("listing/duplicates")
                raise DropItem(f"listing {item['source_id']} already exported", log_level="DEBUG")
            self.seen.add(item["source_id"])
            self.stats.inc_value("listing/items")
        elif isinstance(item, RejectedItem):
            self.stats.inc_value("listing/rejects")
        return item
