"""What keeping API calls for billing history costs (api/v1/call_ledger.py, migration 0038).

On a scratch database migrated to head (named `quotas_bench_…`, dropped at the end): the request
path's cost (`CallLedger.add`, in memory) per call, and one flush's cost for T tenants, against the
alternative the ledger avoids (one upsert per request). Run: `python bench/bench_call_ledger.py`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp

from realestate_assets.api.v1.call_ledger import UPSERT_SQL, CallLedger
from realestate_assets.db.warehouse import Warehouse
from tests.databases import scratch_database


def main(tenants: int = 1000, calls: int = 100_000, singles: int = 2000) -> None:
    with scratch_database(Path(mkdtemp()), prefix="quotas_bench") as url:
        wh = Warehouse(url, pool_size=1, max_overflow=0)
        ids = [f"t{i:05d}" for i in range(tenants)]
        with wh.transaction() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO tenants (id, name) SELECT unnest(%s::text[]), 'bench'", (ids,))
        ledger = CallLedger(wh.transaction, flush_s=3600)
        now = datetime.now(UTC)
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            ledger.add(ids[i % tenants], now)
        add_us = (time.perf_counter() - start) / calls * 1e6
        add_cpu_us = (time.process_time() - cpu) / calls * 1e6
        ledger.flush()  # the add loop's tally: not timed below
        flushes = []
        for _ in range(5):
            for i in range(tenants):
                ledger.add(ids[i], now)
            start = time.perf_counter()
            ledger.flush()
            flushes.append(time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(singles):  # what the ledger avoids: a write transaction per request
            with wh.transaction() as conn, conn.cursor() as cur:
                cur.execute(UPSERT_SQL, ([ids[i % tenants]], [now.date()], [1]))
        single_ms = (time.perf_counter() - start) / singles * 1e3
        ledger.close()
        wh.engine.dispose()
    load = os.getloadavg()
    print(f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"add: {add_us:.2f} µs wall, {add_cpu_us:.2f} µs CPU per call ({calls:,} calls)")
    print(f"flush of {tenants:,} tenants' tallies: median {sorted(flushes)[2] * 1e3:.1f} ms "
          f"(min {min(flushes) * 1e3:.1f}, max {max(flushes) * 1e3:.1f})")
    print(f"one upsert transaction per request instead: {single_ms:.2f} ms each ({singles:,})")


if __name__ == "__main__":
    main()
