"""Issue 11: the `emailed` status for the API role, `k.id = ANY (m.packet_ids)` against the
`email_packets` junction (migration 0051), on the API bench's data plus 20,000 more sent emails.

    python bench/bench_emailed.py [--database-url URL] [--extra 20000] [--repeat 20] [--index packet|tenant]

Without `--database-url` a scratch database is made (and dropped): bench_api's 100,000 properties
and its tenant (5,000 memos, 500 sent digests of five), then `--extra` sent digests of five memos
each, drawn from the memos already emailed (so the other half stays unemailed). As the API role
of that tenant (row-level security applied) it times, `--repeat` times each, best and median wall
ms and the backend's CPU ms (/proc of the local server's backend):

* one property's TENANT_STATUS (what the detail and each list row run), for a property with a memo
  and no sent email (the whole check runs and finds nothing) and for an emailed one, with the
  emailed test as it was before 0051 (`ANY (m.packet_ids)`) and as it is;
* a property's emails (`GET /properties/{id}/emails`, api/v1/property_activity.EMAILS_SQL), before
  and after;

and prints the plans (EXPLAIN ANALYZE) of the status check.
`--index tenant` replaces 0051's (packet_id) index with (tenant_id, packet_id) first, to compare
which the planner uses under RLS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2

from bench.bench_api import COUNTY, seed
from realestate_assets.api.v1.property_activity import EMAILS_SQL
from realestate_assets.api.v1.property_query import TENANT_STATUS
from realestate_assets.db.lifecycle import PUBLIC_STATUS_JOINS
from realestate_assets.db.tenancy import act_as_api
from tests.databases import psycopg2_dsn, scratch_database

TICK = os.sysconf("SC_CLK_TCK")


def _before(sql: str, now: str, then: str) -> str:
    assert now in sql, now
    return sql.replace(now, then)


# The reads as they were before migration 0051, made from today's text (so nothing else differs).
STATUS = {"after": TENANT_STATUS,
          "before": _before(TENANT_STATUS, "JOIN email_packets x ON x.packet_id = k.id "
                            "JOIN emails m ON m.id = x.email_id AND m.status = 'sent' ",
                            "JOIN emails m ON k.id = ANY (m.packet_ids) AND m.status = 'sent' ")}
EMAILS = {"after": EMAILS_SQL,
          "before": _before(EMAILS_SQL, "WHERE m.id IN (SELECT x.email_id FROM packets k JOIN email_packets x ON "
                            "x.packet_id = k.id\n               WHERE k.county = %s AND k.prospect_key = %s)",
                            "WHERE EXISTS (SELECT 1 FROM packets k WHERE k.id = ANY (m.packet_ids) AND k.county = %s "
                            "AND k.prospect_key = %s)")}

# Digests of five memos each, drawn from the memos the bench's 500 digests already list.
EXTRA_SQL = """
WITH emailed AS (SELECT DISTINCT unnest(packet_ids) AS id FROM emails WHERE tenant_id = 'bench'),
     numbered AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM emailed),
     total AS (SELECT count(*) AS n FROM emailed)
INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, provider,
                    send_key, status, sent_at)
SELECT 'bench', %(county)s, 'daily_digest', min(k.id), array_agg(k.id ORDER BY k.id),
       'x' || (g %% 50) || '@example.com', 'Deals', 'outbox', 'extra:' || g, 'sent', now()
FROM generate_series(1, %(extra)s) g CROSS JOIN generate_series(0, 4) j CROSS JOIN total t
JOIN numbered k ON k.i = (g * 7 + j * 613) %% t.n
GROUP BY g
"""


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def timed(cur: Any, pid: int, sql: str, params: Any, repeat: int) -> tuple[float, float, float]:
    """(best wall ms, median wall ms, mean backend CPU ms) over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = cpu_ms(pid), time.perf_counter()
        cur.execute(sql, params)
        cur.fetchall()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append(cpu_ms(pid) - cpu)
    return min(walls), statistics.median(walls), statistics.mean(cpus)


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, bool]]:
    if url:
        yield url, False
    else:
        with scratch_database(Path("/tmp/reos_bench_emailed_pg"), prefix="reos_bench_emailed") as made:
            yield made, True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--properties", type=int, default=100_000)
    parser.add_argument("--extra", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--index", choices=("packet", "tenant"), default="packet")
    args = parser.parse_args()
    with database(args.database_url) as (url, fresh):
        start = time.perf_counter()
        seed(url, args.properties)
        conn = psycopg2.connect(psycopg2_dsn(url))
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM emails WHERE tenant_id = 'bench' AND send_key LIKE 'extra:%%'")
            if cur.fetchone()[0] == 0:
                cur.execute(EXTRA_SQL, {"county": COUNTY, "extra": args.extra})
            if args.index == "tenant":
                cur.execute("DROP INDEX IF EXISTS ix_email_packets_packet")
                cur.execute("CREATE INDEX IF NOT EXISTS ix_email_packets_tenant_packet "
                            "ON email_packets (tenant_id, packet_id)")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) packets, emails, email_packets")
            cur.execute("SELECT (SELECT count(*) FROM emails WHERE status = 'sent'), "
                        "(SELECT count(*) FROM email_packets)")
            sent, rows = cur.fetchone()
        conn.autocommit = False
        print(f"seeded in {time.perf_counter() - start:.0f} s: {sent} sent emails, {rows} email_packets rows, "
              f"index {args.index}; load {load()}")
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            act_as_api(cur, "bench")
            cur.execute("SELECT k.prospect_key, bool_or(x.email_id IS NOT NULL) FROM packets k "
                        "LEFT JOIN email_packets x ON x.packet_id = k.id GROUP BY 1 ORDER BY 1")
            keys = cur.fetchall()
            unsent = next(k for k, emailed in keys if not emailed)
            emailed = next(k for k, was in keys if was)
            for label, key in (("memo, no sent email", unsent), ("emailed", emailed)):
                for when in ("before", "after"):
                    sql = (f"SELECT {STATUS[when]} FROM prospects p {PUBLIC_STATUS_JOINS} "
                           "WHERE p.county = %s AND p.prospect_key = %s")
                    best, median, cpu = timed(cur, pid, sql, (COUNTY, key), args.repeat)
                    cur.execute(sql, (COUNTY, key))
                    status = cur.fetchone()[0]
                    print(f"status, {label:20} {when:6}: {status:8} best {best:7.2f} ms, median {median:7.2f} ms, "
                          f"CPU {cpu:6.2f} ms")
                for when in ("before", "after"):
                    best, median, cpu = timed(cur, pid, EMAILS[when], (COUNTY, key, 100), args.repeat)
                    print(f"emails, {label:20} {when:6}: best {best:7.2f} ms, median {median:7.2f} ms, "
                          f"CPU {cpu:6.2f} ms")
            explain = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON) "
            for label, key in (("memo, no sent email", unsent), ("emailed", emailed)):
                for when in ("before", "after"):
                    cur.execute(f"{explain}SELECT {STATUS[when]} FROM prospects p {PUBLIC_STATUS_JOINS} "
                                "WHERE p.county = %s AND p.prospect_key = %s", (COUNTY, key))
                    print(f"\n-- status plan {when} ({label}):")
                    print("\n".join(r[0] for r in cur.fetchall()))
        conn.rollback()
        conn.close()
        print(f"load {load()}" + (" (scratch database dropped)" if fresh else ""))


if __name__ == "__main__":
    main()
