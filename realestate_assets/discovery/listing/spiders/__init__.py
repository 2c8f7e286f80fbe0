"""The project's spiders (Scrapy's `spiders/` package): one config-driven `ListingSpider`."""
