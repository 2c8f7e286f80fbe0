"""Issue 17: what a prospect's status costs — the old stored move against the derived read.

    python bench/bench_status.py DATABASE_URL [--county king_wa] [--moves] [--repeat 5]

On a database made by bench_scale.py (`--keep`; a copy, it is written to):

* `--moves` (a database before migration 0050, which dropped the column): the statements
  `advance_status` ran before migration 0046 — every prospect of the
  county `new` → `enriched` (enrichment) and → `scored` (scores) — each timed, then rolled back
  (the column is first reset to `new` inside the same transaction, uncounted). What the
  enrichment and scores steps no longer pay.
* The funnel's statuses (api/v1/property_query.TENANT_STATUS_COUNTS) — beside Home's summary, its
  other county-wide join, for scale — as the API role of a tenant
  following the county, and the list's first page by score and with a `status` filter
  (list_query, as the route builds it), each `--repeat` times: best and median wall ms, the
  backend's CPU ms, and with `--plans` the plan of one more run.

Wall and CPU seconds are the database backend's (the server is local: /proc/<backend pid>/stat),
beside the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import make_url

from realestate_assets.api.v1.analytics import SUMMARY
from realestate_assets.api.v1.property_query import TENANT_STATUS_COUNTS, PropertyFilters, list_query
from realestate_assets.db.tenancy import act_as_api

TICK = os.sysconf("SC_CLK_TCK")
LIFECYCLE = ["new", "enriched", "scored", "packeted", "emailed"]
# advance_status as it was (db/warehouse.py before 0046), with the keys' queries its callers passed.
OLD_MOVE = ("UPDATE prospects SET status = %(status)s WHERE county = %(county)s AND prospect_key IN ({keys}) "
            "AND array_position(%(order)s::text[], status) < array_position(%(order)s::text[], %(status)s)")
MOVES = {"enriched": "SELECT prospect_key FROM enrichment WHERE county = %(county)s AND status = 'enriched'",
         "scored": "SELECT prospect_key FROM scores WHERE county = %(county)s"}


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def timed(cur: Any, pid: int, query: str, params: Any) -> tuple[float, float]:
    cpu, start = cpu_ms(pid), time.perf_counter()
    cur.execute(query, params)
    if cur.description:
        cur.fetchall()
    return (time.perf_counter() - start) * 1000, cpu_ms(pid) - cpu


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("database_url")
    ap.add_argument("--county", default="king_wa")
    ap.add_argument("--moves", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--plans", action="store_true", help="print each query's plan (EXPLAIN ANALYZE)")
    args = ap.parse_args()
    u = make_url(args.database_url)
    conn = psycopg2.connect(host=u.host, port=u.port, user=u.username or "postgres", dbname=u.database)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid(), count(*) FROM prospects WHERE county = %s", (args.county,))
        pid, n = cur.fetchone()
    conn.rollback()
    print(f"{u.database}: {n:,} prospects in {args.county} (load {load()})")
    if args.moves:
        with conn.cursor() as cur:
            cur.execute("UPDATE prospects SET status = 'new' WHERE county = %s AND status <> 'new'", (args.county,))
            for status, keys in MOVES.items():
                wall, cpu = timed(cur, pid, OLD_MOVE.format(keys=keys),
                                  {"status": status, "county": args.county, "order": LIFECYCLE})
                print(f"old move → {status:9s} {cur.rowcount:>9,} rows  {wall / 1000:7.1f} s  "
                      f"backend CPU {cpu / 1000:6.1f} s  (load {load()})")
        conn.rollback()
    tenant = f"bench_status_{uuid.uuid4().hex[:6]}"
    with conn.cursor() as cur:  # a tenant following the county, gone with the rollback at the end
        cur.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant, tenant))
        cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant, args.county))
        act_as_api(cur, tenant)
        cases = {"funnel statuses": (TENANT_STATUS_COUNTS, {"counties": [args.county]}),
                 "summary (for scale)": (SUMMARY, {"counties": [args.county], "t": 75.0}),
                 "list by score": list_query(PropertyFilters(county=[args.county], sort="-bird_dog_score"),
                                             limit=51, lead="set"),
                 "list status=enriched": list_query(PropertyFilters(county=[args.county], status=["enriched"],
                                                                    sort="-bird_dog_score"), limit=51),
                 "list status=new by id": list_query(PropertyFilters(county=[args.county], status=["new"],
                                                                     sort="id"), limit=51)}
        for name, (query, params) in cases.items():
            runs = [timed(cur, pid, query, params) for _ in range(args.repeat)]
            walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
            print(f"{name:22s} best {min(walls):8.1f} ms  median {statistics.median(walls):8.1f} ms  "
                  f"CPU median {statistics.median(cpus):8.1f} ms  (load {load()})")
            if args.plans:
                cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + query, params)
                print("    " + "\n    ".join(r[0] for r in cur.fetchall()))
    conn.rollback()
    conn.close()


if __name__ == "__main__":
    main()
