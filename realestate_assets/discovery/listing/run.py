"""Run one listing source's crawl in this process and write JSON lines; print the stats.

    python -m realestate_assets.discovery.listing.run --county-file config/counties/X.yaml \
        --source NAME --out items.jsonl --rejects rejects.jsonl

(or `--source-file source.json` with one ListingSiteSource as JSON). Twisted's reactor cannot be
restarted, so a crawl needs a process of its own: Dagster Pipes launches this module
(`PipesSubprocessClient` locally, `PipesK8sClient` in production), and `crawl_in_subprocess`
does the same for plain Python callers. Under Pipes the stats are also reported as
materialization metadata; without Pipes only the files and the stats line are written.
The last line on stdout is the stats as JSON. Exit code 0 when the crawl ran (rejects and
download errors are data, not failures), 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from realestate_assets.config_models import ConfigError, ListingSiteSource, load_county
from realestate_assets.discovery.listing.transfer import publish


@dataclass(frozen=True)
class CrawlStats:
    source: str
    records: int
    rejects: int
    pages: int
    errors: int
    duplicates: int
    duration_s: float
    finish_reason: str | None
    items_path: str
    rejects_path: str


def source_from_county(county_file: Path, name: str) -> ListingSiteSource:
    county = load_county(county_file)
    for source in county.sources:
        if source.name == name:
            if not isinstance(source, ListingSiteSource):
                raise ConfigError(f"{county_file}: source {name!r} is {source.type}, not listing_site")
            return source
    raise ConfigError(f"{county_file}: no source named {name!r}")


def run_crawl(source: ListingSiteSource, items_path: Path, rejects_path: Path, *, throttle: bool = True,
              http_cache: bool | None = None, log_level: str = "INFO") -> CrawlStats:
    """Crawl in this process. Call once per process (the reactor cannot restart)."""
    from scrapy.crawler import AsyncCrawlerProcess

    from realestate_assets.discovery.listing.settings import crawl_settings
    from realestate_assets.discovery.listing.spider import ListingSpider

    settings = crawl_settings(source, items_path, rejects_path, throttle=throttle, http_cache=http_cache,
                              log_level=log_level)
    started = time.monotonic()
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(ListingSpider)
    process.crawl(crawler, source_json=source.model_dump_json())
    process.start()
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
    errors = int(stats.get("log_count/ERROR", 0)) + int(stats.get("listing/download_errors", 0))
    return CrawlStats(
        source=source.name,
        records=int(stats.get("listing/items", 0)),
        rejects=int(stats.get("listing/rejects", 0)),
        pages=int(stats.get("listing/pages", 0)),
        errors=errors,
        duplicates=int(stats.get("listing/duplicates", 0)),
        duration_s=round(time.monotonic() - started, 3),
        finish_reason=stats.get("finish_reason"),
        items_path=str(items_path),
        rejects_path=str(rejects_path),
    )


def _pipes_report(stats: CrawlStats) -> None:
    """Thin: report the stats through Dagster Pipes when this process was launched by it."""
    try:
        from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes
    except ImportError:
        return
    if not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        return
    with open_dagster_pipes() as pipes:
        pipes.log.info(f"listing crawl {stats.source}: {stats.records} items, {stats.rejects} rejects")
        pipes.report_asset_materialization(metadata={
            "listing_source": stats.source,
            "listing_records": {"raw_value": stats.records, "type": "int"},
            "listing_rejects": {"raw_value": stats.rejects, "type": "int"},
            "listing_pages": {"raw_value": stats.pages, "type": "int"},
            "listing_errors": {"raw_value": stats.errors, "type": "int"},
            "listing_duration_s": {"raw_value": stats.duration_s, "type": "float"},
        })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realestate_assets.discovery.listing.run")
    parser.add_argument("--county-file", type=Path)
    parser.add_argument("--source", help="the listing_site source's name in the county file")
    parser.add_argument("--source-file", type=Path, help="one ListingSiteSource as JSON instead")
    parser.add_argument("--out", required=True, help="items JSON lines: a local path or s3://bucket/key")
    parser.add_argument("--rejects", required=True, help="rejects JSON lines: a local path or s3://bucket/key")
    parser.add_argument("--no-throttle", action="store_true", help="benchmarks on local servers only")
    parser.add_argument("--http-cache", action="store_true", help="Scrapy HTTP cache (development)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        if args.source_file:
            source = ListingSiteSource.model_validate_json(args.source_file.read_text(encoding="utf-8"))
        elif args.county_file and args.source:
            source = source_from_county(args.county_file, args.source)
        else:
            parser.error("give --county-file and --source, or --source-file")
    except (ConfigError, ValueError, OSError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="crawl_") as scratch:
        # Crawl into local files, then publish them where the asset reads them (the object
        # store when this runs in its own pod; the same path when it runs beside the asset).
        items = Path(args.out) if "://" not in args.out else Path(scratch) / "items.jsonl"
        rejects = Path(args.rejects) if "://" not in args.rejects else Path(scratch) / "rejects.jsonl"
        stats = run_crawl(source, items, rejects, throttle=not args.no_throttle,
                          http_cache=True if args.http_cache else None, log_level=args.log_level)
        publish(items, args.out)
        publish(rejects, args.rejects)
    stats = CrawlStats(**{**asdict(stats), "items_path": args.out, "rejects_path": args.rejects})
    _pipes_report(stats)
    print(json.dumps(asdict(stats)), flush=True)
    return 0


def crawl_in_subprocess(source: ListingSiteSource, work_dir: Path, *, throttle: bool = True,
                        timeout_s: float = 3600, log_level: str = "INFO",
                        env: dict[str, str] | None = None) -> CrawlStats:
    """Run the crawl in a child Python process; returns its stats (files land in `work_dir`)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    items, rejects = work_dir / f"{source.name}.items.jsonl", work_dir / f"{source.name}.rejects.jsonl"
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=work_dir, delete=False) as handle:
        handle.write(source.model_dump_json())
        source_file = Path(handle.name)
    command = [sys.executable, "-m", "realestate_assets.discovery.listing.run", "--source-file",
               str(source_file), "--out", str(items), "--rejects", str(rejects), "--log-level", log_level]
    if not throttle:
        command.append("--no-throttle")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, **(env or {})}, check=False)
    finally:
        source_file.unlink(missing_ok=True)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode != 0 or not last.startswith("{"):
        raise RuntimeError(f"listing crawl {source.name} failed (exit {done.returncode}): "
                           f"{done.stderr[-3000:]}")
    return CrawlStats(**json.loads(last))


if __name__ == "__main__":
    sys.exit(main())
