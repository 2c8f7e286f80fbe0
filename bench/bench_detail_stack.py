"""The property detail's Python a request, in process: the API's ASGI app called directly (its whole
stack: request layer, Starlette, FastAPI, the route), no server, no client library.

    python bench/bench_detail_stack.py --database-url URL [--requests 2000] [--concurrency 8] [--rounds 3]

`URL`: bench/bench_api.py's database (migrated and seeded by it). Prints, per round, the process's
CPU milliseconds a detail (every thread: the event loop and the route threads, psycopg2's client
side included) and PostgreSQL's backends' CPU a detail — for comparing two trees' code on a shared
machine (run it from each tree with PYTHONPATH set to that tree, alternated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import cpu_seconds, database_backends, seed


async def _detail(app: Any, key: str, property_id: int) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": f"/api/v1/properties/{property_id}",
             "raw_path": f"/api/v1/properties/{property_id}".encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", key.encode()), (b"accept", b"*/*")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _round(app: Any, key: str, ids: list[int], concurrency: int) -> dict[int, int]:
    queue = list(ids)
    statuses: dict[int, int] = {}

    async def client() -> None:
        while queue:
            status = await _detail(app, key, queue.pop())
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key, top, _ = seed(args.database_url, 0)
    os.environ.update({"DATABASE_URL": args.database_url, "REOS_ENV": "local", "REOS_STATE_DIR": tempfile.mkdtemp(),
                       "REOS_RATE_LIMIT_IP": "100000000/minute", "REOS_RATE_LIMIT_PRINCIPAL": "100000000/minute",
                       "REOS_API_RESPONSE_CACHE_MB": "0"})  # every detail a miss, as bench_api's random ids
    from realestate_assets.api.app import create_app

    app = create_app()
    rng = random.Random(11)
    async with app.router.lifespan_context(app):
        await _round(app, key, [rng.randint(1, top) for _ in range(200)], args.concurrency)  # warm
        for n in range(args.rounds):
            ids = [rng.randint(1, top) for _ in range(args.requests)]
            backends = database_backends(args.database_url.rsplit("/", 1)[1])
            pg0, cpu0, wall0 = cpu_seconds(backends), time.process_time(), time.perf_counter()
            statuses = await _round(app, key, ids, args.concurrency)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            pg1 = cpu_seconds(backends)
            pg = sum(pg1[pid] - pg0[pid] for pid in pg1 if pid in pg0)
            print(f"round {n + 1}: {args.requests} details {statuses}, process CPU {1000 * cpu / args.requests:.3f} "
                  f"ms, PostgreSQL {1000 * pg / args.requests:.3f} ms a detail, wall {wall:.1f} s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
