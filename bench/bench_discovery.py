"""Discovery benchmarks (standalone; not part of the test suite). Prints figures.

1. Listing crawl: pages/s and items/s against a local listing site (127.0.0.1, JSON-LD pages,
   10 paginated chains), throttling off, launched as in production: ScraperResource.crawl
   (Dagster Pipes, the crawl in its own process) inside a materialization.
2. Bulk file: rows/s and peak RSS streaming a 1,000,000-row CSV generated from the real King
   County sample's distribution (data/king_wa/ex_sales.csv) through read_bulk_file +
   canonicalize, measured in a child process ("python": read_bulk_file, the standard csv module,
   which names every row's and every broken line's own line). Also the pandas C engine on the same
   file, for comparison (it cannot say where a malformed line was, so read_bulk_file does not use it).

    .venv/bin/python bench/bench_discovery.py [--rows 1000000] [--pages 200] [--skip-crawl] [--skip-bulk]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"


# ----------------------------------------------------------------------------- listing crawl


def _listing_page(chain: int, page: int, pages_per_chain: int, items: int) -> bytes:
    listings = []
    for i in range(items):
        n = (chain * pages_per_chain + page) * items + i
        listings.append({"@type": "ListItem", "item": {
            "@type": "RealEstateListing", "url": f"/homes/{n}", "datePosted": "2024-05-01",
            "offers": {"@type": "Offer", "price": 300_000 + n},
            "mainEntity": {"@type": "SingleFamilyResidence", "numberOfBedrooms": 1 + n % 5,
                           "numberOfBathroomsTotal": 1 + n % 3, "floorSize": {"value": 900 + n % 2000},
                           "address": {"streetAddress": f"{100 + n} Main St", "addressLocality": "Seattle",
                                       "addressRegion": "WA", "postalCode": "98101"}}}})
    ld = json.dumps({"@context": "https://schema.org", "@type": "ItemList", "itemListElement": listings})
    following = (f"<a class='next' href='/c{chain}?page={page + 1}'>next</a>"
                 if page + 1 < pages_per_chain else "")
    body = "".join(f"<div class='card'><p>{100 + i} Main St</p></div>" for i in range(items))
    return (f"<html><head><script type='application/ld+json'>{ld}</script></head>"
            f"<body>{body}{following}</body></html>").encode()


def bench_crawl(pages: int, items_per_page: int = 20, chains: int = 10) -> dict:
    from realestate_assets.config_models import ListingSiteSource

    per_chain = max(1, pages // chains)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/robots.txt":
                body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
            else:
                chain = int(parts.path.lstrip("/c") or 0)
                page = int(parse_qs(parts.query).get("page", ["0"])[0])
                body, kind = _listing_page(chain, page, per_chain, items_per_page), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    source = ListingSiteSource(type="listing_site", name="bench_site", max_pages=10_000,
                               start_urls=[f"{base}/c{c}?page=0" for c in range(chains)],
                               next_page_selector="a.next")
    crawl = _crawl_with_launcher(source)
    server.shutdown()
    meta = {k: getattr(v, "value", v) for k, v in crawl["metadata"].items()}
    crawl_s = meta["listing_duration_s"]
    return {"pages": meta["listing_pages"], "items": meta["listing_records"], "rejects": meta["listing_rejects"],
            "crawl_s": crawl_s, "wall_s_with_launch_and_read": round(crawl["wall_s"], 2),
            "pages_per_s": round(meta["listing_pages"] / crawl_s, 1),
            "items_per_s": round(meta["listing_records"] / crawl_s, 1)}


def _crawl_with_launcher(source) -> dict:
    """The one launcher, as the listings asset uses it (throttling off for a local server)."""
    from dataclasses import replace

    import dagster as dg

    from resources.scraper import ScraperResource

    scraper = ScraperResource()
    options = replace(scraper.options(), throttle=False, log_level="WARNING")
    out: dict = {}

    @dg.asset(name="bench_crawl")
    def bench_crawl(context):
        started = time.monotonic()
        crawl = scraper.crawl(context, "bench", source, options)
        out.update(metadata=crawl.metadata, wall_s=time.monotonic() - started)
        return dg.MaterializeResult(metadata=crawl.metadata)

    dg.materialize([bench_crawl])
    return out


# ----------------------------------------------------------------------------- bulk file


def generate_bulk(path: Path, rows: int, seed: int = 7) -> None:
    """Resample the real sample's rows, jitter the numbers, make ids unique; write in chunks."""
    sample = pd.read_csv(ROOT / "data" / "king_wa" / "ex_sales.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    chunk = 100_000
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(sample.columns) + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            part = sample.iloc[rng.integers(0, len(sample), n)].reset_index(drop=True)
            ids = np.arange(start, start + n)
            part["pinx"] = [f"..{i:010d}" for i in ids]
            part["sale_id"] = [f"{2010 + i % 7}..{i}" for i in ids]
            price = pd.to_numeric(part["sale_price"]) * rng.lognormal(0, 0.1, n)
            part["sale_price"] = price.round().astype("int64").astype(str)
            for col, scale in (("latitude", 0.002), ("longitude", 0.002)):
                part[col] = (pd.to_numeric(part[col]) + rng.normal(0, scale, n)).round(6).astype(str)
            part.to_csv(handle, header=False, index=False)
            if start == 0:  # one malformed line, as real files have
                handle.write("..broken,line,with,too,many,fields,a,b,c,d,e,f,g,h,i,j,k,l\n")


def bulk_child(path: str, engine: str) -> None:
    """Run in a fresh process so ru_maxrss is this work's peak alone."""
    from realestate_assets.config_models import BulkFileSource, load_county
    from realestate_assets.discovery.bulk_file import read_bulk_file
    from realestate_assets.discovery.records import Page, Reject
    from realestate_assets.discovery.validate import canonicalize
    from realestate_assets.settings import default_config_dir

    king = load_county(default_config_dir() / "counties" / "king_wa.yaml")
    template = king.sources[0]
    fields = template.field_map()
    source = BulkFileSource(type="bulk_file", name="bench", path=path, chunk_rows=50_000,
                            fields=template.fields)
    started = time.monotonic()
    rows = rejects = read_s = 0
    valid = 0
    if engine == "python":
        iterator = read_bulk_file(source)
    else:  # the C engine, for comparison: malformed lines are skipped (warned), not captured
        def pages():
            line = 2
            for frame in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=50_000,
                                     on_bad_lines="skip", engine="c"):
                yield Page("bench", frame.reset_index(drop=True), [f"{path}:{line + i}" for i in range(len(frame))])
                line += len(frame)
        iterator = pages()
    t = time.monotonic()
    for item in iterator:
        read_s += time.monotonic() - t
        if isinstance(item, Reject):
            rejects += 1
        else:
            rows += len(item.frame)
            result = canonicalize(item, fields, bounding_box=king.bounding_box)
            valid += len(result.rows)
            rejects += len(result.rejects)
        t = time.monotonic()
    elapsed = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "rows": rows, "valid": valid, "rejects": rejects,
                      "seconds": round(elapsed, 2), "read_seconds": round(read_s, 2),
                      "rows_per_s": round(rows / elapsed), "read_rows_per_s": round(rows / max(read_s, 1e-9)),
                      "peak_rss_mb": round(peak_mb)}))


def bench_bulk(rows: int) -> list[dict]:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bulk_{rows}.csv"
    if not path.exists():
        started = time.monotonic()
        generate_bulk(path, rows)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - started:.1f}s",
              flush=True)
    results = []
    for engine in ("python", "c"):
        done = subprocess.run([sys.executable, __file__, "--bulk-child", str(path), "--engine", engine],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--skip-crawl", action="store_true")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--bulk-child")
    parser.add_argument("--engine", default="python")
    args = parser.parse_args()
    if args.bulk_child:
        bulk_child(args.bulk_child, args.engine)
        return
    if not args.skip_crawl:
        print("listing crawl (throttle off):", json.dumps(bench_crawl(args.pages)), flush=True)
    if not args.skip_bulk:
        for result in bench_bulk(args.rows):
            print("bulk file + canonicalize:", json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
