"""The crawl's entry point: run one listing source's spider in this process (Scrapy's own
`AsyncCrawlerProcess`), its FEEDS writing items and rejects as JSON lines; report the stats.

    python -m realestate_assets.discovery.listing.run --source-json '{...}' \
        --out items.jsonl --rejects rejects.jsonl          # or s3://bucket/key for either
    python -m realestate_assets.discovery.listing.run --county-file config/counties/X.yaml \
        --source NAME --out ... --rejects ...              # an operator trying a county file

Twisted's reactor cannot be restarted, so a crawl needs a process of its own, and there is one
way to start it: Dagster Pipes runs `crawl_command(...)` (`resources/scraper.py`:
`PipesSubprocessClient` locally, `PipesK8sClient` in production). Under Pipes the stats are
reported as materialization metadata; the last line on stdout is the stats as JSON either way.
Exit code 0 when the crawl ran (rejects, download errors and robots.txt skips are data, not
failures), 1 when its output could not be stored, 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from realestate_assets.config_models import ConfigError, ListingSiteSource, load_county
from realestate_assets.discovery.listing.settings import DEFAULT_CHROMIUM_PATH, DEFAULT_USER_AGENT, CrawlOptions

RUN_MODULE = "realestate_assets.discovery.listing.run"


@dataclass(frozen=True)
class CrawlStats:
    source: str
    records: int
    rejects: int
    pages: int
    detail_pages: int
    robots_skipped: int  # links robots.txt forbids: skipped, not rejects
    errors: int
    duplicates: int
    duration_s: float
    finish_reason: str | None
    items_uri: str
    rejects_uri: str
    feed_failures: int = 0


def crawl_command(source: ListingSiteSource, items_uri: str, rejects_uri: str,
                  options: CrawlOptions = CrawlOptions()) -> list[str]:
    """The arguments after `python` that crawl `source` (what every launcher runs)."""
    command = ["-m", RUN_MODULE, "--source-json", source.model_dump_json(), "--out", items_uri,
               "--rejects", rejects_uri, "--user-agent", options.user_agent,
               "--chromium-path", options.chromium_path, "--log-level", options.log_level]
    if options.http_cache_dir:
        command += ["--http-cache-dir", options.http_cache_dir]
    if options.s3_endpoint_url:
        command += ["--s3-endpoint-url", options.s3_endpoint_url]
    if not options.throttle:
        command.append("--no-throttle")
    return command


def source_from_county(county_file: Path, name: str) -> ListingSiteSource:
    county = load_county(county_file)
    for source in county.sources:
        if source.name == name:
            if not isinstance(source, ListingSiteSource):
                raise ConfigError(f"{county_file}: source {name!r} is {source.type}, not listing_site")
            return source
    raise ConfigError(f"{county_file}: no source named {name!r}")


def run_crawl(source: ListingSiteSource, items_uri: str, rejects_uri: str,
              options: CrawlOptions = CrawlOptions()) -> CrawlStats:
    """Crawl in this process. Call once per process (the reactor cannot restart)."""
    from scrapy.crawler import AsyncCrawlerProcess

    from realestate_assets.discovery.listing.settings import crawl_settings
    from realestate_assets.discovery.listing.spiders.listing import ListingSpider

    started = time.monotonic()
    process = AsyncCrawlerProcess(crawl_settings(source, items_uri, rejects_uri, options))
    crawler = process.create_crawler(ListingSpider)
    process.crawl(crawler, source_json=source.model_dump_json())
    process.start()
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}

    def count(key: str) -> int:
        return int(stats.get(key, 0))

    return CrawlStats(
        source=source.name,
        records=count("listing/items"),
        rejects=count("listing/rejects"),
        pages=count("listing/pages"),
        detail_pages=count("listing/detail_pages"),
        robots_skipped=count("listing/robots_skipped"),
        errors=count("log_count/ERROR") + count("listing/download_errors"),
        duplicates=count("listing/duplicates"),
        duration_s=round(time.monotonic() - started, 3),
        finish_reason=stats.get("finish_reason"),
        items_uri=items_uri,
        rejects_uri=rejects_uri,
        feed_failures=sum(int(v) for k, v in stats.items() if k.startswith("feedexport/failed_count/")),
    )


def _pipes_report(stats: CrawlStats) -> None:
    """Thin: report the stats through Dagster Pipes when this process was launched by it."""
    try:
        from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes
    except ImportError:
        return
    if not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        return

    def whole(value: int) -> dict:
        return {"raw_value": value, "type": "int"}

    with open_dagster_pipes() as pipes:
        pipes.log.info(f"listing crawl {stats.source}: {stats.records} items, {stats.rejects} rejects, "
                       f"{stats.robots_skipped} links skipped for robots.txt")
        pipes.report_asset_materialization(metadata={
            "listing_source": stats.source,
            "listing_records": whole(stats.records),
            "listing_rejects": whole(stats.rejects),
            "listing_pages": whole(stats.pages),
            "listing_detail_pages": whole(stats.detail_pages),
            "listing_robots_skipped": whole(stats.robots_skipped),
            "listing_duplicates": whole(stats.duplicates),
            "listing_errors": whole(stats.errors),
            "listing_duration_s": {"raw_value": round(stats.duration_s, 2), "type": "float"},
        })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {RUN_MODULE}")
    parser.add_argument("--source-json", help="one ListingSiteSource as JSON")
    parser.add_argument("--county-file", type=Path)
    parser.add_argument("--source", help="the listing_site source's name in the county file")
    parser.add_argument("--out", required=True, help="items JSON lines: a local path or s3://bucket/key")
    parser.add_argument("--rejects", required=True, help="rejects JSON lines: a local path or s3://bucket/key")
    parser.add_argument("--user-agent", default=DEFAULT_USER_AGENT)
    parser.add_argument("--chromium-path", default=DEFAULT_CHROMIUM_PATH)
    parser.add_argument("--http-cache-dir", help="Scrapy's HTTP cache in this directory (development)")
    parser.add_argument("--s3-endpoint-url", help="an S3-compatible store (MinIO) for s3:// output")
    parser.add_argument("--no-throttle", action="store_true", help="benchmarks on local servers only")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        if args.source_json:
            source = ListingSiteSource.model_validate_json(args.source_json)
        elif args.county_file and args.source:
            source = source_from_county(args.county_file, args.source)
        else:
            parser.error("give --source-json, or --county-file and --source")
    except (ConfigError, ValueError, OSError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    options = CrawlOptions(user_agent=args.user_agent, chromium_path=args.chromium_path,
                           http_cache_dir=args.http_cache_dir, throttle=not args.no_throttle,
                           log_level=args.log_level, s3_endpoint_url=args.s3_endpoint_url)
    stats = run_crawl(source, args.out, args.rejects, options)
    print(json.dumps(asdict(stats)), flush=True)
    if stats.feed_failures:
        print(f"crawl output could not be stored ({stats.feed_failures} feed(s) failed; see the log)",
              file=sys.stderr)
        return 1
    _pipes_report(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
