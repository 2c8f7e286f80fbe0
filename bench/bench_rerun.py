"""Unchanged input, near-zero work: a county's enrichment → features → scores computed once, then
materialized again with nothing changed, in one Dagster instance (issue 17: re-run ≤ 10%).

    python bench/bench_rerun.py               # the bundled King County file (~5.3k sales)
    python bench/bench_rerun.py --scale 10    # replicated 10× (suffixed ids, jittered coordinates)
    python bench/bench_rerun.py --scale 1 --scale 10   # both, one after the other (`make bench SCALE=10x`)
    python bench/bench_rerun.py --storage postgres     # Dagster's storage as production keeps it

`--storage`: where Dagster keeps runs and events — `ephemeral` (in-memory SQLite, the default and
the figures of earlier rounds), `sqlite` (SQLite files in a directory: the local instance `make
demo` makes), `postgres` (deploy/dagster.yaml's storage, `instance_storage.PooledPostgresStorage`,
on a fresh database of the machine's PostgreSQL) or `postgres-nullpool` (dagster-postgres as it
ships: a new connection per statement). A skipped step's cost is mostly Dagster's own event writes
and look-ups (docs/scale.md), so the storage moves the re-run's figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tests.test_unchanged_rerun import FIRST, STAGES, offline_sources  # noqa: E402

SOURCE = ROOT / "data" / "king_wa" / "ex_sales.csv"
STORAGES = ("ephemeral", "sqlite", "postgres", "postgres-nullpool")
DAGSTER_DATABASE = "reos_bench_dagster"  # the name's prefix of the `postgres` storages' database


@contextmanager
def dagster_instance(storage: str, database_url: str) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance whose runs and events are kept in `storage` (see the module's doc); for
    `postgres`, a new empty database beside `database_url`'s, dropped afterwards."""
    from realestate_assets.instance_storage import storage_block
    from tests.databases import empty_database

    if storage == "ephemeral":
        yield dg.DagsterInstance.ephemeral()
    elif storage == "sqlite":
        with dg.instance_for_test() as instance:
            yield instance
    else:
        with empty_database(database_url, prefix=DAGSTER_DATABASE) as url:
            config = {"postgres": {"postgres_url": url}} if storage == "postgres-nullpool" else storage_block(url)
            with dg.instance_for_test(overrides={"storage": config}) as instance:
                yield instance


def replicate(path: Path, scale: int) -> int:
    sales = pd.read_csv(SOURCE, dtype=str)
    if scale > 1:
        rng = np.random.default_rng(17)
        copies = []
        for k in range(scale):
            copy = sales.copy()
            if k:
                copy["pinx"] = copy["pinx"] + f"_{k}"
                copy["sale_id"] = copy["sale_id"] + f"_{k}"
                for col in ("latitude", "longitude"):
                    copy[col] = (copy[col].astype(float) + rng.normal(0, 0.002, len(copy))).map("{:.6f}".format)
            copies.append(copy)
        sales = pd.concat(copies, ignore_index=True)
    sales.to_csv(path, index=False)
    return len(sales)


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    return {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events
            if e.event_type_value == "STEP_SUCCESS"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, action="append", help="repeatable (default: 1)")
    parser.add_argument("--storage", choices=STORAGES, default="ephemeral", help="Dagster's storage")
    args = parser.parse_args()
    for scale in args.scale or [1]:
        rerun(scale, args.storage)
    return 0


def rerun(scale: int, storage: str = "ephemeral") -> None:
    """The first run and the re-run at `scale`× the bundled file, each stage's step seconds, with
    Dagster's runs and events in `storage`."""
    from realestate_assets.definitions import build_definitions, resources_for
    from realestate_assets.settings import LocalSettings
    from tests.databases import create_tenant, scratch_database
    from tests.samples import write_sample_config

    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp) / "pg", prefix="reos_bench_rerun") as url:
        tmp_path = Path(tmp)
        config = tmp_path / "config"
        write_sample_config(config, tmp_path / "data", n_parcels=10)
        rows = replicate(tmp_path / "data" / "king_wa_sample.csv", scale)
        offline_sources(config)
        settings = LocalSettings(config_dir=config, state_dir=tmp_path / "state", tenant_id=create_tenant(url))
        defs = build_definitions(deployment=resources_for("local", settings, database_url=url))
        job = defs.resolve_implicit_global_asset_job_def()
        runs = {}
        with dagster_instance(storage, url) as instance:
            for label, assets in (("first", FIRST), ("re-run", STAGES)):
                started = time.perf_counter()
                result = job.execute_in_process(partition_key="king_wa", instance=instance,
                                                asset_selection=[dg.AssetKey(a) for a in assets])
                assert result.success
                runs[label] = step_seconds(result)
                print(f"{label}: {time.perf_counter() - started:.1f} s wall", flush=True)
        print(f"{rows:,} sales ({scale}×), Dagster's storage: {storage}")
        print(f"{'stage':12s} {'first s':>9s} {'re-run s':>9s} {'ratio':>7s}")
        total_first = total_again = 0.0
        for stage in STAGES:
            first, again = runs["first"][stage], runs["re-run"][stage]
            total_first, total_again = total_first + first, total_again + again
            print(f"{stage:12s} {first:9.2f} {again:9.2f} {again / first:7.1%}")
        print(f"{'together':12s} {total_first:9.2f} {total_again:9.2f} {total_again / total_first:7.1%}")
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().split()[:3]}")


if __name__ == "__main__":
    raise SystemExit(main())
