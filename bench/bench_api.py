"""The API under load: 100,000 scored properties, concurrent clients on list, detail and search.

    python bench/bench_api.py [--properties 100000] [--clients 50] [--seconds 15] [--workers 2]
                              [--think-ms 500] [--client auto|wrk|threads] [--home-seconds 10]
                              [--runs 1] [--database-url URL]

A scratch database (the machine's PostgreSQL at 127.0.0.1:5432, else the pgserver wheel) gets one
county of generated properties (prospects, enrichment, scores written as the pipeline writes them)
and a tenant following it (unlimited plan); the API is served as production serves it (`--workers`
processes of realestate_assets/api/serve.py on one port, `started_api`); `--clients`
keep-alive connections with the tenant's API key call one route for `--seconds`:

* list   — `/api/v1/properties?min_score=<40..80>&sort=-bird_dog_score&limit=50` (filtered, sorted)
* detail — `/api/v1/properties/{id}` for random ids
* search — `/api/v1/properties?q=<street>&sort=list_price&limit=50` (text on address, other sort)

The load generator is `wrk` (bench/wrk_api.lua draws each request's path; `make system-deps`
installs it): C and an event loop per thread, it leaves the server most of the two cores that 50
Python threads took. Without wrk (or `--client threads`), Python threads with httpx.

Three load profiles per route: one client alone (a request's own latency); `--clients` in closed
loop (each sends its next request as soon as the last answers: the throughput ceiling, latency
dominated by queueing); `--clients` with think time (each waits an exponential pause of mean
`--think-ms` between requests, as people and scripts do). Prints p50/p95/p99 latency, requests/s
and errors per route and profile, the CPU milliseconds per request of the API processes (`api
cpu`) and of the database's backends (`pg cpu`) over the run — on a shared machine the figure that
stays put while latencies move with other work — and the plans of the list and search queries as
the API role runs them (EXPLAIN ANALYZE, row-level security included) as evidence of index use.
Issue #11's target: p95 < 100 ms for list and detail.

Under each run with `--clients`, a `split:` line: per API process, the connections it holds (`ss`,
half a second before the end), the requests it served (the run's, in proportion to the bytes each
process read), its CPU seconds, and in the closed loop its clients' mean latency (Little's law). The
kernel picks a process per connection, so 50 connections split anywhere from 25/25 to 33/17;
measured (docs/api.md, "The split of connections"), each process still serves about half the
requests (both stay busy: the cores are the limit), so a skew moves latency from one process's
clients to the other's and leaves the throughput alone. `--runs N` repeats the closed-loop and
think-time profiles on the same processes (each run connects anew, so splits anew). `yardstick`
(in the header, and on the split line: measured in the middle of the run) is the CPU milliseconds
of a fixed piece of Python work in the bench's own process: the same code's CPU a request moved by
a third between quiet runs minutes apart, and this tells a slower machine from a slower API.

The API's response cache (api/v1/response_cache.py) is on as in production: the list and the search
ask a handful of distinct queries, so after the warm-up they are answered from it (its generation read
and authentication still run); a detail of a random id is a first view, a miss.
`REOS_API_RESPONSE_CACHE_MB=0 python bench/bench_api.py …` measures the routes without it.

Then the routes the dashboard's Home calls (analytics summary, funnel, pipeline, score distribution
and the recent deals list), one client each for `--home-seconds`, and the plans of Home's two
aggregates (the summary's join, the funnel's statuses) as the API role runs them.

`--database-url` reuses a database (migrated; seeded on first use, kept afterwards) instead of a
scratch one: for repeated runs while profiling. `--profile DIR` records the server with py-spy
(`--workers 1`; `--profile-gil`: only the thread holding the GIL, i.e. Python CPU without waits).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realestate_assets.accounts import quotas, store
from realestate_assets.api.v1.analytics import SUMMARY
from realestate_assets.api.v1.property_query import (
    MATCH_CAP,
    SEARCH_TEXT,
    TENANT_STATUS_COUNTS,
    PropertyFilters,
    list_query,
    page_parts,
    text_matches,
)
from realestate_assets.config_models import load_scoring
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.tenancy import act_as_api
from tests.databases import psycopg2_dsn, scratch_database

COUNTY = "bench_wa"
STREETS = ("MAIN", "OAK", "PINE", "CEDAR", "ELM", "LAKE", "HILL", "PARK")

# `%%` is the modulo operator: psycopg2 reads a lone `%` as a parameter. One in five properties has no
# asking price, independently of its street (a price-less street — g %% 4 with 8 streets — made
# `q=main&sort=list_price` scan all 75,000 priced rows before the first match: a real worst case of a
# filtered walk, but not a typical county).
SEED_SQL = f"""
INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, zip, latitude, longitude,
                       use_type, list_price)
SELECT %(county)s, 'p' || g, lpad(g::text, 10, '0'),
       (100 + g %% 9000) || ' ' || (ARRAY{list(STREETS)})[1 + g %% {len(STREETS)}] || ' ST',
       'SEATTLE', 'WA', (98100 + g %% 90)::text, 47.5 + (g %% 1000) / 5000.0, -122.4 + (g %% 997) / 5000.0,
       CASE WHEN g %% 3 = 0 THEN 'condo' ELSE 'sfr' END,
       CASE WHEN g %% 5 = 0 THEN NULL ELSE 300000 + (g * 7919) %% 900000 END
FROM generate_series(1::bigint, %(n)s) g;
INSERT INTO enrichment_provenances (county, provenance)
VALUES (%(county)s, '{{"living_sqft": {{"source": "county_assessor", "fetched_at": "2026-12-01T04:00:00+00:00"}}}}')
ON CONFLICT (county, md5(provenance::text)) DO NOTHING;
INSERT INTO enrichment (county, prospect_key, as_of_date, status, use_type, living_sqft, year_built,
                        last_sale_price, last_sale_date, provenance_id)
SELECT %(county)s, 'p' || g, '2026-12-01', 'enriched', 'sfr', 900 + g %% 2500, 1900 + g %% 120,
       250000 + (g * 104729) %% 800000, DATE '2000-01-01' + (g %% 9000)::int,
       (SELECT min(id) FROM enrichment_provenances WHERE county = %(county)s)
FROM generate_series(1::bigint, %(n)s) g;
INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, value_gap_pct, bird_dog_score,
                    score_rank, equity_percentile, model_version)
SELECT %(county)s, 'p' || g, '2026-12-01', 350000 + (g * 15485863) %% 900000,
       ((g * 31) %% 600) / 10.0 - 20, ((g * 7) %% 1000) / 10.0, g, 0.5, 'bench'
FROM generate_series(1::bigint, %(n)s) g;
ANALYZE prospects; ANALYZE enrichment; ANALYZE scores;
"""

# The tenant's own progress, so Home's funnel has every stage to count: a memo for each property
# scoring 95 or more (5,000 of 100,000), and 500 sent digests of 5 memos each — half the memos
# (2,500 properties) emailed, each digest listing its packets in `packet_ids` as outreach does
# (emails' trigger lists them in email_packets too, migration 0051).
TENANT_SQL = """
INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, object_path,
                     sha256, size_bytes, bird_dog_score, generated_at)
SELECT %(tenant)s, county, prospect_key, 'investor_memo', '1', 'h', 'tenants/' || %(tenant)s || '/packets/'
       || county || '/' || prospect_key || '.pdf', 's', 1000, bird_dog_score, now()
FROM scores WHERE county = %(county)s AND bird_dog_score >= 95;
INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, provider, send_key,
                    status, sent_at, delivered_at, opened_at)
SELECT %(tenant)s, %(county)s, 'daily_digest', min(id), array_agg(id ORDER BY id), 'r' || (n %% 50) || '@example.com',
       'Deals', 'outbox', 'digest:' || n, 'sent', now(), now(), CASE WHEN n %% 3 = 0 THEN now() END
FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 5 AS n FROM packets
      WHERE tenant_id = %(tenant)s AND county = %(county)s) k
WHERE n < 500 GROUP BY n;
ANALYZE packets; ANALYZE emails;
"""


def seed(url: str, n: int) -> tuple[str, int, bool]:
    """The county's properties (unless already there) and a tenant following it; (a new API key,
    max property id, whether it seeded)."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tenants WHERE id = 'bench'")
        fresh = cur.fetchone()[0] == 0
        if fresh:
            ensure_county_partitions(cur, COUNTY)
            cur.execute(SEED_SQL, {"county": COUNTY, "n": n})
            store.create_tenant(cur, "bench", "API bench")
            store.subscribe(cur, "bench", COUNTY)
            cur.execute(TENANT_SQL, {"tenant": "bench", "county": COUNTY})
        # Unlimited: a plan's monthly properties (402 past them) would turn most detail views into
        # refusals; the views are still recorded (property_receipts), as for any plan.
        quotas.set_plan(cur, "bench", "enterprise")
        _, key = store.create_api_key(cur, "bench", None, "bench", ["read"])
        cur.execute("SELECT max(id) FROM prospects")
        top = cur.fetchone()[0]
    conn.close()
    return key, top, fresh


def explain(url: str, filters: PropertyFilters) -> list[str]:
    """A list query's plan as the API role runs it (row-level security applied), first page of 50."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:
        act_as_api(cur, "bench")
        matches = text_matches(cur, filters)  # as the route does: a selective `q` read by id
        sql, params = list_query(filters, None, 51, matches, page_parts(filters)[0])
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
        plan = [r[0] for r in cur.fetchall()]
        if matches is not None:
            plan.insert(0, f"(q narrowed to {len(matches)} ids by reos_search_prospects)")
    conn.close()
    return plan


def explain_home(url: str, threshold: float) -> list[tuple[str, list[str]]]:
    """The plans of Home's two aggregates (the summary, the funnel's statuses) as the API role runs
    them, after a VACUUM so that the index-only scans they are built for can skip the heap (as
    autovacuum leaves the tables after the pipeline's writes)."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) prospects, enrichment, scores, packets, emails, email_packets")
    conn.autocommit = False
    plans = []
    with conn, conn.cursor() as cur:
        act_as_api(cur, "bench")
        for title, sql in (("analytics/summary", SUMMARY), ("analytics/funnel's statuses", TENANT_STATUS_COUNTS)):
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql,
                        {"t": threshold, "counties": [COUNTY]})
            plans.append((title, [r[0] for r in cur.fetchall()]))
    conn.close()
    return plans


def explain_trigram(url: str, word: str) -> list[str]:
    """The plan of reos_search_prospects' query (run as the tables' owner, as the function runs)."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM prospects p "
                    f"WHERE county = %s AND {SEARCH_TEXT} ILIKE %s LIMIT %s", (COUNTY, f"%{word}%", MATCH_CAP + 1))
        plan = [r[0] for r in cur.fetchall()]
    conn.close()
    return plan


@contextmanager
def bench_database(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="reos-bench-api-") as scratch, \
            scratch_database(Path(scratch) / "pg", prefix="reos_bench_api") as url:
        yield url


class ApiServers:
    """The API's processes serving one port (`started_api`)."""

    def __init__(self, processes: list[subprocess.Popen]) -> None:
        self.processes = processes
        self.pids = [p.pid for p in processes]
        self.pid = self.pids[0]  # the one `--profile` records

    def terminate(self) -> None:
        for process in self.processes:
            process.terminate()

    def wait(self, timeout: float | None = None) -> None:
        for process in self.processes:
            process.wait(timeout=timeout)


def started_api(env: dict[str, str], workers: int = 1) -> tuple[ApiServers, str]:
    """The API on a free port (`env` over this process's, local settings, no rate limits: the bench
    measures the routes), once /healthz answers; (its processes, base URL).

    Served as production serves it (realestate_assets/api/serve.py: one process, the heap settled
    first), `workers` processes as `workers` pods: each listens on its own `SO_REUSEPORT` socket
    bound to the same port, so the kernel spreads the connections among them as a Service spreads
    them among pods (uvicorn's `--workers` share one socket, and the first to wake accepted all
    50 of the bench's connections)."""
    unlimited = "100000000/minute"
    sockets = []
    for _ in range(workers):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", sockets[0].getsockname()[1] if sockets else 0))
        sock.listen(2048)  # in the kernel's group now: connections queue for a process still starting
        sockets.append(sock)
    port = sockets[0].getsockname()[1]
    processes = [subprocess.Popen(
        [sys.executable, "-m", "realestate_assets.api.serve", "--fd", str(sock.fileno()), "--log-level", "warning"],
        pass_fds=(sock.fileno(),),
        env={**os.environ, "REOS_ENV": "local", "REOS_RATE_LIMIT_IP": unlimited,
             "REOS_RATE_LIMIT_PRINCIPAL": unlimited, **env}) for sock in sockets]
    for sock in sockets:
        sock.close()  # each process has its own copy
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):  # ready when new connections, whichever process they reach, are answered
        try:
            if all(httpx.get(base + "/healthz", timeout=1).status_code == 200 for _ in range(4 * workers)):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise RuntimeError(f"the API did not answer /healthz at {base}")
    # A process that died at start-up leaves its socket's share to the others: the figures would be
    # of fewer processes than asked.
    dead = [p.args for p in processes if p.poll() is not None]
    if dead:
        servers = ApiServers(processes)
        servers.terminate()
        servers.wait(timeout=10)
        raise RuntimeError(f"{len(dead)} of {workers} API processes exited at start-up (see their output above)")
    return ApiServers(processes), base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(base: str, key: str, clients: int, seconds: float, path_for,
           think_s: float = 0.0) -> tuple[list[float], int]:
    """`clients` threads calling `path_for(rng)` for `seconds`, each pausing an exponential time of
    mean `think_s` between requests (0: closed loop); (latencies in s, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        mine: list[float] = []
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as http:
            if think_s:
                time.sleep(rng.uniform(0, think_s))  # spread the first requests
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                answer = http.get(path_for(rng))
                mine.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    with lock:
                        errors[0] += 1
                if think_s:
                    time.sleep(rng.expovariate(1 / think_s))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


WRK_SCRIPT = Path(__file__).with_name("wrk_api.lua")
WRK_QUANTILES = re.compile(r"^QUANTILES ([\d ]+)$", re.M)
WRK_LINE = re.compile(r"^WRK requests=(\d+) seconds=([\d.]+) errors=(\d+) p50=(\d+) p95=(\d+) p99=(\d+)$", re.M)


@dataclass
class Run:
    """One route and profile: what the clients saw."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    quantiles_ms: tuple[float, ...] = ()  # wrk: the latency at 0.1, 0.2 … 99.9 %


def run_threads(base: str, key: str, clients: int, seconds: float, path_for, think_s: float) -> Run:
    latencies, errors = hammer(base, key, clients, seconds, path_for, think_s)
    return Run(len(latencies), seconds, errors, 1000 * statistics.median(latencies), 1000 * percentile(latencies, 95),
               1000 * percentile(latencies, 99))


def run_wrk(base: str, key: str, route: str, top: int, clients: int, seconds: float, think_s: float) -> Run:
    """wrk (C, an event loop per thread: a fraction of the CPU 50 Python threads take from the
    server's two cores), with bench/wrk_api.lua choosing each request's path."""
    env = {k: v for k, v in os.environ.items() if k != "WRK_THINK_MS"}
    if think_s:
        env["WRK_THINK_MS"] = str(int(think_s * 1000))
    threads = min(2, clients)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "30s",
                          "-s", str(WRK_SCRIPT), base, "--", key, route, str(top)],
                         env=env, capture_output=True, text=True, check=True).stdout
    found = WRK_LINE.search(out)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    requests, duration, errors, p50, p95, p99 = found.groups()
    quantiles = WRK_QUANTILES.search(out)
    return Run(int(requests), float(duration), int(errors), int(p50) / 1000, int(p95) / 1000, int(p99) / 1000,
               tuple(int(q) / 1000 for q in quantiles.group(1).split()) if quantiles else ())


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """user + system CPU seconds of each process still alive, by pid."""
    found = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        found[process.pid] = times.user + times.system
    return found


def server_processes(*pids: int) -> list[psutil.Process]:
    """The API's processes and their children."""
    found = []
    for pid in pids:
        parent = psutil.Process(pid)
        found += [parent, *parent.children(recursive=True)]
    return found


def database_backends(database: str) -> list[psutil.Process]:
    """PostgreSQL's backends serving the bench database (their title names it); empty when the
    server runs elsewhere or as a user whose processes this one cannot read."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or ())
        if line.startswith("postgres:") and f" {database} " in line:
            found.append(process)
    return found


def peak_rss_mb(processes: list[psutil.Process]) -> float:
    """The largest peak resident set (VmHWM) among the server's processes, in MB."""
    peak = 0
    for process in processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        peak = max(peak, int(hwm.group(1)) if hwm else 0)
    return peak / 1024



SS_OWNER = re.compile(r"pid=(\d+),")
SS_RECEIVED = re.compile(r"bytes_received:(\d+)")


def connections_by_process(port: int) -> dict[int, tuple[int, int]]:
    """The established connections to `port`, by the pid of the process holding them: (connections,
    bytes received on them since they opened), from `ss -tinp` (iproute2). With keep-alive clients
    that connected at the start of a run, the bytes are the requests each process has read so far
    (a GET of the bench is ~the same size on either process). Empty without `ss`."""
    try:
        out = subprocess.run(["ss", "-tinpH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    found: dict[int, tuple[int, int]] = {}
    owner = None
    for line in out.splitlines():  # a socket's line (with its owner), then its TCP info line
        if (match := SS_OWNER.search(line)) is not None:
            owner = int(match.group(1))
            count, received = found.get(owner, (0, 0))
            found[owner] = (count + 1, received)
        elif owner is not None and (match := SS_RECEIVED.search(line)) is not None:
            count, received = found[owner]
            found[owner] = (count, received + int(match.group(1)))
            owner = None
    return found


class SplitWatch:
    """How a run's connections and requests split among the API's processes: `ss` read once, half a
    second before the run ends (the clients' connections still open, nearly all their requests
    read). The kernel picks each new connection's process (one listening socket each: a hash of
    the addresses; one shared socket: whichever accepts), so a closed-loop run can put 33 of its 50
    clients on one process while the other idles part of the time."""

    def __init__(self, port: int, pids: list[int], seconds: float) -> None:
        self.pids, self.found, self.yardstick = pids, {}, 0.0
        self.timer = threading.Timer(max(0.5, seconds - 0.5), self.read, (port,))
        self.timer.start()
        self.middle = threading.Timer(seconds / 2, self.measure)  # the cores' speed under the run's load
        self.middle.start()

    def read(self, port: int) -> None:
        self.found = connections_by_process(port)

    def measure(self) -> None:
        self.yardstick = yardstick_ms()

    def describe(self, run: Run, cpu: dict[int, float], closed: bool) -> str:
        """Per process: connections, requests (the run's, in proportion to the bytes each read), CPU
        seconds, and in a closed loop its clients' mean latency by Little's law (connections ×
        seconds / requests: each connection always has one request in flight)."""
        self.timer.join()
        self.middle.join()
        total = sum(received for _, received in self.found.values()) or 1
        parts = []
        for pid in self.pids:
            count, received = self.found.get(pid, (0, 0))
            served = run.requests * received / total
            part = f"{count} conn, {round(served):,} req, {cpu.get(pid, 0):.1f} s cpu"
            if closed and served:
                part += f", mean {1000 * count * run.seconds / served:.0f} ms"
            parts.append(part)
        return "split: " + " | ".join(parts) + f"; yardstick {self.yardstick:.0f} ms"


YARDSTICK_DOC = {"id": 12345, "county": COUNTY, "address": "1234 OAK ST",
                 "scores": [{"k": i, "v": i * 0.5} for i in range(20)],
                 "provenance": {f"field{i}": {"source": "county_assessor", "fetched_at": "2026-12-01"}
                                for i in range(10)}}


def yardstick_ms() -> float:
    """CPU milliseconds (this thread's, so waiting for a core does not count) of a fixed piece of
    Python work, the kind a request does: JSON both ways and dicts built in Python. The same code
    cost 1.1 or 1.5 ms of API CPU a detail in runs minutes apart on a quiet machine (docs/api.md,
    "The split of connections"): read beside a run, this says whether the machine's cores were
    slower then, whatever the API's code."""
    started = time.thread_time()
    for n in range(2000):
        text = json.dumps(YARDSTICK_DOC)
        json.loads(text)
        {f"{key}_{n}": len(value) for key, value in YARDSTICK_DOC.items() if isinstance(value, (list, dict))}
    return 1000 * (time.thread_time() - started)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def home(base: str, key: str, url: str, seconds: float) -> None:
    """Issue #11's Home at 100,000 properties: each route the screen calls (Home.tsx), one client
    alone for `seconds` (a request's own latency, as a reader opening Home sees it), then the plans
    of its two aggregates."""
    threshold = load_scoring(Path(__file__).resolve().parents[1] / "config").packet_threshold
    recent = f"/api/v1/properties?min_score={threshold:g}&sort=-first_seen_at,-bird_dog_score&limit=8"
    routes = {"summary": "/api/v1/analytics/summary", "funnel": "/api/v1/analytics/funnel",
              "pipeline": "/api/v1/analytics/pipeline", "distribution": "/api/v1/analytics/score-distribution?width=10",
              "recent": recent}
    print(f"Home's routes, one client, {seconds:g} s each, load average {os.getloadavg()[0]:.1f} at start "
          f"(recent: {recent})")
    print(f"{'route':<14}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
    for name, path in routes.items():
        hammer(base, key, 1, min(2.0, seconds), lambda rng, path=path: path)  # warm the pool and the caches
        latencies, errors = hammer(base, key, 1, seconds, lambda rng, path=path: path)
        print(f"{name:<14}{len(latencies):>10,}{1000 * statistics.median(latencies):>9.1f}"
              f"{1000 * percentile(latencies, 95):>9.1f}{errors:>8}", flush=True)
    for title, plan in explain_home(url, threshold):
        print(f"{title}: plan as the API role (EXPLAIN ANALYZE, BUFFERS):")
        for row in plan:
            print("   ", row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--properties", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2,
                        help="API processes on one SO_REUSEPORT port (2: one per core; production scales "
                             "one-process pods)")
    parser.add_argument("--think-ms", type=float, default=500,
                        help="mean pause between a client's requests in the think-time profile (0: skip it)")
    parser.add_argument("--runs", type=int, default=1,
                        help="run the closed-loop and think-time profiles this many times each on the same "
                             "server processes (each run connects anew: a new split of the connections)")
    parser.add_argument("--routes", default="list,detail,search")
    parser.add_argument("--home-seconds", type=float, default=10,
                        help="one client on each route the dashboard's Home calls, this long (0: skip)")
    parser.add_argument("--database-url", help="reuse this migrated database (seeded on first use)")
    parser.add_argument("--profile", type=Path, help="py-spy each closed-loop run of the server (one worker) "
                                                     "into DIR/<route>.txt (bench/profile_top.py reads them)")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL (where the server's Python "
                             "CPU goes, without the waits for the database), without pausing the server")
    parser.add_argument("--client", choices=("auto", "wrk", "threads"), default="auto",
                        help="load generator: wrk (auto: when installed, `make system-deps`) or Python threads")
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    with bench_database(args.database_url) as url, \
            tempfile.TemporaryDirectory(prefix="reos-bench-api-state-") as scratch:
        started = time.perf_counter()
        key, top, fresh = seed(url, args.properties)
        if fresh:
            print(f"seeded {args.properties:,} properties in {time.perf_counter() - started:.1f} s")
        server, base = started_api({"DATABASE_URL": url, "REOS_STATE_DIR": scratch}, args.workers)
        database = psycopg2.connect(psycopg2_dsn(url)).info.dbname
        port = int(base.rsplit(":", 1)[1])
        try:
            routes = {
                "list": lambda rng: f"/api/v1/properties?min_score={rng.choice((40, 50, 60, 70, 80))}"
                                    "&sort=-bird_dog_score&limit=50",
                "detail": lambda rng: f"/api/v1/properties/{rng.randint(1, top)}",
                "search": lambda rng: f"/api/v1/properties?q={rng.choice(STREETS).lower()}&sort=list_price&limit=50",
            }
            chosen = [r.strip() for r in args.routes.split(",") if r.strip()]
            # (name, clients, mean think time): one client alone is the request's own latency.
            profiles = [("one", 1, 0.0), *[("closed", args.clients, 0.0)] * args.runs]
            if args.think_ms:
                profiles += [("think", args.clients, args.think_ms / 1000)] * args.runs
            load = os.getloadavg()[0]
            print(f"{args.clients} clients ({'wrk' if use_wrk else 'Python threads'}), {args.seconds:g} s per route "
                  f"and profile, {args.workers} API process(es), think time mean {args.think_ms:g} ms, "
                  f"load average {load:.1f} at start, yardstick {yardstick_ms():.0f} ms")
            # CPU ms per request: user + system seconds of the API processes (api) and of the
            # database's backends (pg) over the run, divided by its requests — the figure that stays
            # put when other work on the machine moves the latencies.
            print(f"{'route':<8}{'profile':<8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
                  f"{'p99 ms':>9}{'errors':>8}{'api cpu':>9}{'pg cpu':>8}{'load':>6}")
            for name in chosen:
                path_for = routes[name]
                hammer(base, key, 4, 2, path_for)  # warm the pools and the caches
                for profile, clients, think_s in profiles:
                    spy = None
                    if args.profile and profile == "closed":
                        args.profile.mkdir(parents=True, exist_ok=True)
                        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--format",
                                                "raw", "--rate", "100", "--pid", str(server.pid), "--duration",
                                                str(int(args.seconds)), "-o", str(args.profile / f"{name}.txt"),
                                                *(["--gil", "--nonblocking"] if args.profile_gil else [])],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    api, pg = server_processes(*server.pids), database_backends(database)
                    api_before, pg_before = cpu_seconds(api), cpu_seconds(pg)
                    watch = SplitWatch(port, server.pids, args.seconds) if clients > 1 else None
                    if use_wrk:
                        run = run_wrk(base, key, name, top, clients, args.seconds, think_s)
                    else:
                        run = run_threads(base, key, clients, args.seconds, path_for, think_s)
                    api_after = cpu_seconds(api)
                    pg_after = cpu_seconds(pg + [p for p in database_backends(database) if p.pid not in pg_before])
                    api_ms = 1000 * sum(v - api_before.get(pid, 0) for pid, v in api_after.items()) / run.requests
                    pg_ms = 1000 * sum(v - pg_before.get(pid, 0) for pid, v in pg_after.items()) / run.requests
                    if spy is not None:
                        spy.wait(timeout=60)
                    print(f"{name:<8}{profile:<8}{run.requests:>10,}{run.requests / run.seconds:>9.0f}"
                          f"{run.p50_ms:>9.1f}{run.p95_ms:>9.1f}{run.p99_ms:>9.1f}{run.errors:>8}"
                          f"{api_ms:>9.2f}{pg_ms:>8.2f}{os.getloadavg()[0]:>6.1f}", flush=True)
                    if watch is not None:
                        used = {pid: api_after[pid] - api_before.get(pid, 0) for pid in server.pids if pid in api_after}
                        print("   ", watch.describe(run, used, closed=not think_s), flush=True)
            print(f"server peak RSS (largest process): {peak_rss_mb(server_processes(*server.pids)):.0f} MB")
            if args.home_seconds:
                home(base, key, url, args.home_seconds)
            for title, filters in (
                    ("list (min_score=60, sort=-bird_dog_score)",
                     PropertyFilters(county=[COUNTY], min_score=60, sort="-bird_dog_score")),
                    ("dashboard's first page (sort=-bird_dog_score)", PropertyFilters(county=[COUNTY])),
                    ("search (q=oak, sort=list_price)", PropertyFilters(county=[COUNTY], q="oak", sort="list_price")),
                    ("selective search (q=1234 oak)", PropertyFilters(county=[COUNTY], q="1234 oak"))):
                print(f"{title}: plan as the API role (EXPLAIN ANALYZE, BUFFERS):")
                for row in explain(url, filters):
                    print("   ", row)
            print("reos_search_prospects' query for '1234' (as the owner):")
            for row in explain_trigram(url, "1234"):
                print("   ", row)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
