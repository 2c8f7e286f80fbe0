"""Where an unchanged re-run's time goes: `bench/bench_rerun.py`'s first run, then `--reruns`
unchanged re-runs of enrichment → features → scores on the same database and Dagster instance,
each timed alone (issue 17: re-run ≤ 10% of the first run).

    python bench/rerun_steps.py --reruns 12                    # medians of the re-runs
    python bench/rerun_steps.py --reruns 12 --profile out.prof # cProfile around the re-runs only
    python bench/rerun_steps.py --reruns 3 --timeline          # each event's ms within its step
    python bench/rerun_steps.py --reruns 10 --parts --floor    # our calls' ms a re-run; Dagster's floor
    python bench/rerun_steps.py --storage postgres --dagster-via 127.0.0.1:15432  # across bench/latency_proxy.py

Per re-run: process CPU ms, wall ms, each step's seconds (STEP_SUCCESS's duration, what
bench_rerun.py reports) and the SQL statements sent to Dagster's storage (`--storage`: the
in-memory SQLite by default), by table and verb. The first run is timed the same way, once.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import dagster as dg  # noqa: E402
from bench_rerun import (  # noqa: E402
    DAGSTER_DATABASE,
    STORAGES,
    dagster_instance,
    floor_steps,
    replicate,
    stage_checks,
    step_seconds,
)
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from tests.test_unchanged_rerun import FIRST, STAGES, offline_sources  # noqa: E402

STATEMENTS: collections.Counter[str] = collections.Counter()


@event.listens_for(Engine, "before_cursor_execute")
def _count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    # Dagster's storage only: SQLite, or bench_rerun.dagster_instance's PostgreSQL database (the
    # warehouse is PostgreSQL too).
    if conn.engine.dialect.name != "sqlite" and not str(conn.engine.url.database).startswith(DAGSTER_DATABASE):
        return
    verb = statement.split(None, 1)[0].upper()
    table = re.search(r"(?:FROM|INTO|UPDATE)\s+(\w+)", statement, re.I)
    STATEMENTS[f"{verb} {table.group(1) if table else '?'}"] += 1


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--storage", choices=STORAGES, default="ephemeral",
                        help="where Dagster keeps runs and events (bench_rerun.py's doc)")
    parser.add_argument("--reruns", type=int, default=12)
    parser.add_argument("--profile", type=Path, help="cProfile of the re-runs, to this file")
    parser.add_argument("--timeline", action="store_true", help="each re-run's events, ms from its step's start")
    parser.add_argument("--cold", action="store_true",
                        help="before each re-run, forget what our code keeps per process (the code's digest, "
                             "the parsed config files, the warehouse's connection "
                             "pool), as a new run worker would start; Python's imports and Dagster's stay")
    parser.add_argument("--lookups", type=int, default=0,
                        help="then time this many look-ups of each stage's latest materialization of the "
                             "partition (what Dagster does for each check evaluation's target), bare")
    parser.add_argument("--parts", action="store_true",
                        help="time our calls in a skipped step (wall ms, no profiler): the fingerprint, the "
                             "previous materialization's and the check target's look-ups, the county's read")
    parser.add_argument("--floor", action="store_true",
                        help="then time empty asset steps shaped as the stages (their checks, their chain) on "
                             "the same storage: Dagster's own cost of the re-run's steps, nothing of ours")
    parser.add_argument("--dagster-via", metavar="HOST:PORT",
                        help="reach Dagster's PostgreSQL storage through this address (bench/latency_proxy.py)")
    parser.add_argument("--wait-for", type=Path, help="after the first run, print READY and wait until this file "
                                                      "exists (to attach py-spy to the re-runs only)")
    args = parser.parse_args()
    from realestate_assets.definitions import build_definitions, resources_for
    from realestate_assets.settings import LocalSettings
    from tests.databases import create_tenant, scratch_database
    from tests.samples import write_sample_config

    print(f"load before: {load()}")
    parts = timed_parts() if args.parts else None
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp) / "pg", prefix="reos_bench_rerun") as url, \
            contextlib.ExitStack() as stack:
        tmp_path = Path(tmp)
        config = tmp_path / "config"
        write_sample_config(config, tmp_path / "data", n_parcels=10)
        replicate(tmp_path / "data" / "king_wa_sample.csv", args.scale)
        offline_sources(config)
        settings = LocalSettings(config_dir=config, state_dir=tmp_path / "state", tenant_id=create_tenant(url))
        defs = build_definitions(deployment=resources_for("local", settings, database_url=url))
        job = defs.resolve_implicit_global_asset_job_def()
        instance = stack.enter_context(dagster_instance(args.storage, url, via=args.dagster_via))
        profiler = cProfile.Profile() if args.profile else None
        rows = []
        for n in range(args.reruns + 1):
            assets = FIRST if n == 0 else STAGES
            STATEMENTS.clear()
            if args.cold and n:
                forget()
            if profiler is not None and n:
                profiler.enable()
            if parts is not None and n == 1:
                parts.clear()  # the re-runs' calls only
            cpu, wall = time.process_time(), time.perf_counter()
            result = job.execute_in_process(partition_key="king_wa", instance=instance,
                                            asset_selection=[dg.AssetKey(a) for a in assets])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if profiler is not None and n:
                profiler.disable()
            assert result.success
            steps = step_seconds(result)
            rows.append((cpu, wall, {s: steps[s] for s in STAGES}, sum(STATEMENTS.values())))
            label = "first" if n == 0 else f"re-run {n}"
            print(f"{label:10s} cpu {cpu * 1000:7.0f} ms  wall {wall * 1000:7.0f} ms  steps "
                  + " ".join(f"{s} {steps[s] * 1000:6.0f}" for s in STAGES)
                  + f"  together {sum(steps[s] for s in STAGES) * 1000:6.0f} ms"
                  f"  dagster stmts {sum(STATEMENTS.values())}"
                  f"  load {load()}", flush=True)
            if n == 0 and args.wait_for is not None:
                print(f"READY {os.getpid()}", flush=True)
                while not args.wait_for.exists():
                    time.sleep(0.1)
            if n == 1:
                print("  dagster storage statements of re-run 1:", dict(STATEMENTS.most_common()))
            if args.timeline and n:
                timeline(instance, result.run_id)
        again = rows[1:]
        first_together = sum(rows[0][2].values())
        med = statistics.median
        together = med(sum(r[2].values()) for r in again)
        print(f"medians of {len(again)} re-runs: cpu {med(r[0] for r in again) * 1000:.0f} ms, wall "
              f"{med(r[1] for r in again) * 1000:.0f} ms, steps "
              + " ".join(f"{s} {med(r[2][s] for r in again) * 1000:.0f}" for s in STAGES)
              + f", together {together * 1000:.0f} ms = {together / first_together:.1%} of the first's "
              f"{first_together * 1000:.0f} ms")
        if parts is not None:
            for name, ms in sorted(parts.items()):
                print(f"  {name:34s} {len(ms) / len(again):4.1f} calls a re-run, median {med(ms):6.2f} ms, "
                      f"{sum(ms) / len(again):6.2f} ms a re-run")
        if profiler is not None:
            profiler.dump_stats(args.profile)
        if args.lookups:
            lookups(instance, args.lookups)
        if args.floor:
            floor = floor_steps(args.storage, url, stage_checks(defs))
            print(f"floor on {args.storage}: empty asset steps shaped as the stages, medians: "
                  + " ".join(f"{s} {floor[s] * 1000:.0f}" for s in STAGES)
                  + f", together {floor['together'] * 1000:.0f} ms  load {load()}")
    print(f"load after: {load()}")
    return 0


def timed_parts() -> dict[str, list[float]]:
    """Wrap our calls that a skipped step makes, where the assets look them up, with a wall clock:
    {name: [ms per call]}."""
    import functools

    from realestate_assets.assets import common, discovery, enrichment, features, scoring, unchanged

    timed: dict[str, list[float]] = collections.defaultdict(list)

    def wrap(module: Any, name: str) -> None:
        call = getattr(module, name)

        @functools.wraps(call)
        def clocked(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                timed[name].append((time.perf_counter() - started) * 1000)

        setattr(module, name, clocked)

    for module in (discovery, enrichment, features, scoring):
        for name in ("county_of", "partition_params", "input_fingerprint", "unchanged", "load_sources_config"):
            if hasattr(module, name):
                wrap(module, name)
    wrap(unchanged, "_latest_metadata")
    wrap(common, "_target")
    return timed


def forget() -> None:
    """What a new run worker process would not have: see `--cold`."""
    import gc

    from realestate_assets import config_models
    from realestate_assets.db.input_fingerprints import code_version
    from realestate_assets.db.warehouse import Warehouse
    from resources import warehouse

    code_version.cache_clear()
    config_models._PARSED.clear()
    warehouse._warehouse.cache_clear()  # the next step makes a new engine, new connections
    for made in [o for o in gc.get_objects() if isinstance(o, Warehouse)]:
        made.dispose()  # the old pools' connections closed, as the old process's would be


def lookups(instance: dg.DagsterInstance, n: int) -> None:
    """A check evaluation's target look-up (`fetch_materializations`, limit 1: the SQLite query
    and the whole event deserialized) per stage, process CPU and wall µs a call, `n` calls."""
    for stage in STAGES:
        records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(stage), asset_partitions=["king_wa"])
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            instance.fetch_materializations(records_filter, limit=1)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"look-up {stage:10s} {cpu / n * 1e6:7.0f} µs cpu {wall / n * 1e6:7.0f} µs wall a call ({n} calls)"
              f"  load {load()}")


def timeline(instance: dg.DagsterInstance, run_id: str) -> None:
    """Each event of the re-run's fingerprinted steps, in ms from its step's STEP_START."""
    start: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        step = entry.step_key
        if step not in STAGES:
            continue
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "log"
        start.setdefault(step, entry.timestamp)
        print(f"  {step:10s} {(entry.timestamp - start[step]) * 1000:6.1f} ms {kind}")


if __name__ == "__main__":
    raise SystemExit(main())
