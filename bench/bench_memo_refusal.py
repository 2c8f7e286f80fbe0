"""The memo request's storage check (`quotas.memo_refusal`, docs/api.md "Memo requests that cannot
fit") at a tenant's sizes: stored documents × open requests. A scratch database (dropped after);
one tenant on the free plan; each call in its own transaction, as the route's. Prints the median
and p95 wall and the CPU (user+sys) per call of this process and of its PostgreSQL backend (read
from /proc: the server on this machine); `--old REV` times that revision's function
too (its signature: the memo's documents), alternated call by call with the current one.

    PYTHONPATH=$PWD python bench/bench_memo_refusal.py --stored 1000,10000 --open 0,10,100 --calls 200
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

from realestate_assets.accounts import quotas
from realestate_assets.config_models import PacketSettings
from realestate_assets.db.county_partitions import ensure_county_partitions
from tests.databases import create_tenant, psycopg2_dsn, scratch_database


def old_quotas(rev: str) -> Any:
    source = subprocess.run(["git", "show", f"{rev}:realestate_assets/accounts/quotas.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_quotas.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_quotas", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_quotas"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def seed(conn: Any, tenant: str, stored: int, open_requests: int) -> None:
    """`stored` documents (two templates a property) of 'bench_c', and `open_requests`
    requests of scored properties still open; the tenant's storage half used."""
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
        cur.execute("DELETE FROM packets WHERE tenant_id = %s", (tenant,))
        cur.execute("DELETE FROM packet_requests WHERE tenant_id = %s", (tenant,))
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) "
                    "SELECT %s, 'bench_c', 'k' || (i / 2), CASE WHEN i %% 2 = 0 THEN 'investor_memo' ELSE "
                    "'executive_summary' END, '1', 'h', "
                    "'tenants/' || %s || '/' || i || '.pdf', 's', 30000 + i %% 9000, 80, "
                    "now() - i * interval '1 minute' FROM generate_series(0, %s - 1) i", (tenant, tenant, stored))
        cur.execute("UPDATE packets SET size_bytes = size_bytes + %s WHERE id = (SELECT min(id) FROM packets "
                    "WHERE tenant_id = %s)", (1024 ** 3 // 2, tenant))
        cur.execute("INSERT INTO packet_requests (tenant_id, county, prospect_key, requested_by, templates, "
                    "requested_at) SELECT %s, 'bench_c', 'k' || i, 'bench', '{}', now() - i * interval '1 second' "
                    "FROM generate_series(1, %s) i", (tenant, open_requests))


def backend_cpu(pid: int) -> float:
    """CPU seconds (user+sys) of the PostgreSQL backend serving the connection (same machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(call: Any, conn: Any, pid: int) -> tuple[float, float, float]:
    cpu, server, wall = time.process_time(), backend_cpu(pid), time.perf_counter()
    call()
    conn.rollback()
    return time.perf_counter() - wall, time.process_time() - cpu, backend_cpu(pid) - server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", default="1000,10000")
    parser.add_argument("--open", default="0,10,100")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--old", default="")
    args = parser.parse_args()
    old = old_quotas(args.old) if args.old else None
    settings = PacketSettings()
    with tempfile.TemporaryDirectory() as pg, scratch_database(Path(pg), prefix="reos_misc_bench") as url:
        tenant = create_tenant(url)
        conn = psycopg2.connect(psycopg2_dsn(url))
        with conn, conn.cursor() as cur:  # 2,000 scored properties for the open requests
            ensure_county_partitions(cur, "bench_c")
            cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id, status) "
                        "SELECT 'bench_c', 'k' || i, lpad(i::text, 10, '0'), 'scored' FROM generate_series(1, 2000) i")
            cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
                        "model_version) SELECT 'bench_c', 'k' || i, '2026-12-01', 50, i, 'v1' "
                        "FROM generate_series(1, 2000) i")
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        conn.rollback()
        print(f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        for stored in (int(s) for s in args.stored.split(",")):
            for open_requests in (int(n) for n in args.open.split(",")):
                seed(conn, tenant, stored, open_requests)
                new_call = lambda: quotas.memo_refusal(conn, tenant, "bench_c", "k1999", [],  # noqa: E731
                                                       settings.for_property)
                calls = {"new": new_call}
                if old is not None:
                    calls["old"] = lambda: old.memo_refusal(conn, tenant, "bench_c", "k1999",
                                                            settings.for_request())
                for call in calls.values():  # warm
                    timed(call, conn, pid)
                found: dict[str, list[tuple[float, float, float]]] = {name: [] for name in calls}
                for _ in range(args.calls):
                    for name, call in calls.items():
                        found[name].append(timed(call, conn, pid))
                for name, rows in found.items():
                    walls = sorted(w * 1000 for w, _, _ in rows)
                    cpu = sum(c for _, c, _ in rows) / len(rows) * 1000
                    server = sum(c for _, _, c in rows) / len(rows) * 1000
                    print(f"stored {stored:>6,} open {open_requests:>4} {name}: wall median "
                          f"{statistics.median(walls):.2f} ms p95 {walls[int(len(walls) * 0.95)]:.2f} ms, "
                          f"CPU a call: client {cpu:.2f} ms, "
                          f"PostgreSQL {server:.2f} ms (load {os.getloadavg()[0]:.1f})")
        conn.close()


if __name__ == "__main__":
    main()
