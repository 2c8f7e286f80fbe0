"""One full materialization of a county in this process: the child the crash harness kills
(the county's public run, then the tenant's packets and emails run on (county, tenant)).

    python -m bench.chaos.materialize --database-url URL --config DIR --state DIR --tenant ID [--county KEY]

While the run goes, a thread prints `STEP_START <step> <time.monotonic()>` (and STEP_SUCCESS) on
stdout as Dagster records them (CLOCK_MONOTONIC is one clock for every process of the machine),
so the parent can aim its SIGKILL at a stage from outside;
no product code knows about chaos. Exit status 0 when every step succeeded.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

import dagster as dg

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
STEP_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE")


def report_steps(instance: dg.DagsterInstance, stop: threading.Event, out: TextIO) -> None:
    """Print each step event once, as soon as the instance has it (polled every 20 ms)."""
    seen: set[tuple[str, str]] = set()
    while not stop.is_set():
        try:
            entries = [entry for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
        except Exception as exc:  # a read racing the run's own writes: try again, never die silently
            print(f"reporter: {type(exc).__name__}: {exc}", file=out, flush=True)
            entries = []
        for entry in entries:
            event = entry.dagster_event
            if event is None or event.event_type_value not in STEP_EVENTS:
                continue
            key = (event.event_type_value, event.step_key or "")
            if key not in seen:
                seen.add(key)
                print(f"{key[0]} {key[1]} {time.monotonic():.4f}", file=out, flush=True)
        stop.wait(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--county", default="king_wa")
    args = parser.parse_args(argv)
    started = time.monotonic()
    # Our own copy of stdout: Dagster may capture fd 1 while a step runs.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")

    from realestate_assets.county_runs import materialize_county
    from realestate_assets.definitions import build_definitions, resources_for
    from realestate_assets.settings import LocalSettings

    settings = LocalSettings(config_dir=args.config, state_dir=args.state, tenant_id=args.tenant)
    deployment = resources_for("local", settings, database_url=args.database_url)
    job = build_definitions(deployment=deployment).resolve_implicit_global_asset_job_def()
    print(f"IMPORTED - {time.monotonic() - started:.3f}", file=out, flush=True)
    with dg.DagsterInstance.ephemeral() as instance:
        stop = threading.Event()
        reporter = threading.Thread(target=report_steps, args=(instance, stop, out), daemon=True)
        reporter.start()
        result = materialize_county(
            job, args.county, [args.tenant], instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
        time.sleep(0.1)
        stop.set()
        reporter.join()
    print(f"DONE {'success' if result.success else 'failure'} {time.monotonic() - started:.3f}", file=out, flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
