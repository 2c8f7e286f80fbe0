"""A property's market panel (`/properties/{id}/comps` and `/price-history`) on a big county.

    python bench/bench_market.py --database-url URL --county king_wa [--config-dir DIR]
                                 [--properties 5] [--repeats 5] [--store-index]

Serves the API of the code on PYTHONPATH (`uvicorn`, one worker) against a migrated, filled
database (e.g. the 1M-sale copy of bench/bench_scale.py's county: `bash /work/bench/copy_1m.sh`),
with a tenant following the county (created once: `mkbench`). For a few properties spread over
the county: the first request of each route (for the first property: the process's first market
request), then `--repeats` more of each; the server's resident set (RSS) after start-up and after
the requests, and the CPU seconds of the server and of the database's backends over the requests.

`--store-index`: first fit the county's index and store it as the pipeline does
(market/stored.py; timed) — for a database filled before migration 0047.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg2

from realestate_assets.accounts import quotas, store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import cpu_seconds, database_backends, server_processes, started_api

from tests.databases import psycopg2_dsn

TENANT = "mkbench"


def tenant_key(url: str, county: str) -> str:
    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tenants WHERE id = %s", (TENANT,))
        if cur.fetchone()[0] == 0:
            store.create_tenant(cur, TENANT, "market bench")
            store.subscribe(cur, TENANT, county)
        quotas.set_plan(cur, TENANT, "enterprise")
        _, key = store.create_api_key(cur, TENANT, None, "bench", ["read"])
    conn.close()
    return key


def store_county_index(url: str, county: str) -> None:
    from realestate_assets.assets.common import county_sales
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.market.index import INDEX_SALE_COLUMNS, HedonicIndex
    from realestate_assets.market.stored import store_index

    started, cpu = time.perf_counter(), time.process_time()
    wh = Warehouse(url)
    index = HedonicIndex.from_sales(county_sales(wh, {"county": county}, INDEX_SALE_COLUMNS))
    with wh.transaction() as conn, conn.cursor() as cur:
        store_index(cur, county, index)
    print(f"index fitted and stored: {len(index.by_month)} months ({index.method}) in "
          f"{time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")


def rss_mb(processes: list[psutil.Process]) -> float:
    return sum(p.memory_info().rss for p in processes) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--county", default="king_wa")
    parser.add_argument("--config-dir")
    parser.add_argument("--properties", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--store-index", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    if args.store_index:
        store_county_index(url, args.county)
    key = tenant_key(url, args.county)
    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:  # properties spread over the county, with what the comps need
        cur.execute("SELECT max(id) FROM prospects WHERE county = %s", (args.county,))
        top = cur.fetchone()[0]
        ids = []
        for i in range(args.properties):
            cur.execute("SELECT p.id FROM prospects p JOIN enrichment e USING (county, prospect_key) "
                        "WHERE p.county = %s AND p.id >= %s AND p.latitude IS NOT NULL AND e.living_sqft > 0 "
                        "ORDER BY p.id LIMIT 1", (args.county, 1 + i * top // args.properties))
            ids.append(cur.fetchone()[0])
        database = conn.info.dbname
    conn.close()
    config = {"REOS_CONFIG_DIR": args.config_dir} if args.config_dir else {}
    server, base = started_api({"DATABASE_URL": url, **config})
    headers = {"X-API-Key": key}
    try:
        api, pg = server_processes(server.pid), database_backends(database)
        print(f"load average {os.getloadavg()[0]:.1f}; server RSS after start-up {rss_mb(api):.0f} MB")
        api_before, pg_before = cpu_seconds(api), cpu_seconds(pg)
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            for route in ("comps", "price-history"):
                firsts, repeats = [], []
                for pid in ids:
                    for n in range(1 + args.repeats):
                        started = time.perf_counter()
                        response = client.get(f"/api/v1/properties/{pid}/{route}")
                        elapsed = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, response.text
                        (firsts if n == 0 else repeats).append(elapsed)
                body = response.json()
                shown = (f"{body['summary']['comps_count']} comps" if route == "comps"
                         else f"{len(body['index'])} index months")
                print(f"{route}: process's first {firsts[0]:.0f} ms; other properties' first "
                      f"{statistics.median(firsts[1:] or firsts):.0f} ms (median); repeated "
                      f"{statistics.median(repeats):.0f} ms (median of {len(repeats)}, max {max(repeats):.0f}); "
                      f"last body: {shown}")
        api_cpu = sum(cpu_seconds(api).values()) - sum(api_before.values())
        pg_cpu = sum(cpu_seconds(database_backends(database)).values()) - sum(pg_before.values())
        requests = 2 * len(ids) * (1 + args.repeats)
        print(f"server RSS after {requests} requests {rss_mb(api):.0f} MB; CPU over them: server {api_cpu:.1f} s, "
              f"database backends {pg_cpu:.1f} s; load average {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
