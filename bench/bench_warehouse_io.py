"""Warehouse I/O at scale: a partition written into a FRESH database, re-synced, and read back.

    python bench/bench_warehouse_io.py              # 400k rows (about 1 min on 2 shared cores)
    python bench/bench_warehouse_io.py --rows 1000000

Each phase runs in its own process so its peak RSS is its own: the figure printed is the peak
RSS during the operation minus the RSS just before it (the input frame already built).
 1. write:   sync_partition of the whole partition into an empty, never-analyzed `prospects`.
 2. resync:  the same partition a day later (10% moved, 5% gone): upsert + "no longer produced".
 3. read:    the partition back into a frame through `Warehouse.frame`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

READ_SQL = ("SELECT prospect_key, parcel_id, address, city, state, zip, latitude, longitude, use_type, beds, "
            "living_sqft, year_built, list_date, description, sources FROM prospects "
            "WHERE county = :county")


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def _phase(name: str, url: str, tenant: str, rows: int, out: mp.Queue) -> None:
    from realestate_assets.db.warehouse import Warehouse, sync_partition
    from tests.scale_rows import changed_rows, prospect_rows

    wh = Warehouse(url)
    frame = None
    if name in ("write", "resync"):
        frame = prospect_rows(rows)
        if name == "resync":
            frame = changed_rows(frame)
    before = _rss_kb()
    started = time.perf_counter()
    if frame is not None:
        with wh.transaction() as conn:
            stats = sync_partition(conn, "prospects", frame, county="bench_io",
                                   keys=["prospect_key"], preserve=["status"])
        detail = f"inserted {stats.inserted}, updated {stats.updated}, deleted {stats.deleted}"
    else:
        read = wh.frame(READ_SQL, {"county": "bench_io"})
        detail = f"{len(read)} rows, {read.shape[1]} columns, dtypes {dict(read.dtypes.astype(str).value_counts())}"
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wh.dispose()
    out.put((name, seconds, (peak - before) / 1024, detail))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400_000)
    args = parser.parse_args()
    from tests.databases import create_tenant, scratch_database

    ctx = mp.get_context("spawn")
    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp), prefix="reos_bench_io") as url:
        tenant = create_tenant(url)
        for name in ("write", "resync", "read"):
            queue: mp.Queue = ctx.Queue()
            proc = ctx.Process(target=_phase, args=(name, url, tenant, args.rows, queue))
            proc.start()
            result = queue.get()
            proc.join()
            phase, seconds, peak_mb, detail = result
            print(f"{phase:7s} {args.rows:>9,} rows  {seconds:7.2f} s  {args.rows / seconds:>10,.0f} rows/s  "
                  f"peak +{peak_mb:7.1f} MB  ({detail})", flush=True)
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
