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
import statistics
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
from sqlalchemy import make_url  # noqa: E402

from tests.test_unchanged_rerun import FIRST, STAGES, offline_sources  # noqa: E402

SOURCE = ROOT / "data" / "king_wa" / "ex_sales.csv"
STORAGES = ("ephemeral", "sqlite", "postgres", "postgres-nullpool")
DAGSTER_DATABASE = "reos_bench_dagster"  # the name's prefix of the `postgres` storages' database


@contextmanager
def dagster_instance(storage: str, database_url: str, via: str | None = None) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance whose runs and events are kept in `storage` (see the module's doc); for
    `postgres`, a new empty database beside `database_url`'s, dropped afterwards, reached through
    `via` ("host:port", e.g. bench/latency_proxy.py) when given."""
    from realestate_assets.instance_storage import storage_block
    from tests.databases import empty_database

    if storage == "ephemeral":
        yield dg.DagsterInstance.ephemeral()
    elif storage == "sqlite":
        with dg.instance_for_test() as instance:
            yield instance
    else:
        with empty_database(database_url, prefix=DAGSTER_DATABASE) as url:
            if via is not None:
                parts = make_url(url)
                host, port = via.rsplit(":", 1)
                url = parts.set(host=host, port=int(port)).render_as_string(hide_password=False)
            config = {"postgres": {"postgres_url": url}} if storage == "postgres-nullpool" else storage_block(url)
            with dg.instance_for_test(overrides={"storage": config}) as instance:
                yield instance


def floor_steps(storage: str, database_url: str, checks: dict[str, int], runs: int = 15) -> dict[str, float]:
    """Dagster's own cost of the re-run's steps: an empty partitioned asset per stage, named as it
    and with as many checks (`checks`), chained as the stages are and the first with an upstream
    asset outside the run, materialized `runs` times, a run each, on a fresh instance of `storage`:
    each step's STEP_SUCCESS seconds and the steps' together, medians. Nothing of ours runs in
    them (the checks are reported Dagster's own way): what the orchestrator alone costs a re-run."""
    partitions = dg.StaticPartitionsDefinition(["king_wa"])

    @dg.asset(partitions_def=partitions)
    def upstream() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    def empty(name: str, parent: str, n_checks: int) -> dg.AssetsDefinition:
        names = [f"check_{i}" for i in range(n_checks)]

        @dg.asset(name=name, partitions_def=partitions, deps=[parent], code_version="1",
                  check_specs=[dg.AssetCheckSpec(c, asset=name) for c in names])
        def step() -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"rows": 0},
                                        check_results=[dg.AssetCheckResult(check_name=c, passed=True) for c in names])
        return step

    parents = ["upstream", *checks][:-1]
    assets = [upstream, *(empty(name, parent, n) for (name, n), parent in zip(checks.items(), parents, strict=True))]
    job = dg.Definitions(assets=assets).resolve_implicit_global_asset_job_def()
    ms: dict[str, list[float]] = {name: [] for name in checks}
    with dagster_instance(storage, database_url) as instance:
        job.execute_in_process(partition_key="king_wa", instance=instance, asset_selection=[dg.AssetKey("upstream")])
        for _ in range(runs):
            result = job.execute_in_process(partition_key="king_wa", instance=instance,
                                            asset_selection=[dg.AssetKey(name) for name in checks])
            for e in result.all_events:
                if e.event_type_value == "STEP_SUCCESS" and e.step_key in checks:
                    ms[e.step_key].append(e.event_specific_data.duration_ms)
    medians = {name: statistics.median(ms[name]) / 1000 for name in checks}
    return {**medians, "together": statistics.median(map(sum, zip(*ms.values(), strict=True))) / 1000}


def stage_checks(defs: dg.Definitions) -> dict[str, int]:
    """Each re-run stage's number of asset checks, as the definitions declare them."""
    return {stage: len(defs.get_assets_def(stage).check_specs) for stage in STAGES}


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
        # What Dagster alone costs the same steps on this storage (docs/scale.md "Thirty-seventh round").
        floor = floor_steps(storage, url, stage_checks(defs))["together"]
        print(f"{rows:,} sales ({scale}×), Dagster's storage: {storage}")
        print(f"{'stage':12s} {'first s':>9s} {'re-run s':>9s} {'ratio':>7s}")
        total_first = total_again = 0.0
        for stage in STAGES:
            first, again = runs["first"][stage], runs["re-run"][stage]
            total_first, total_again = total_first + first, total_again + again
            print(f"{stage:12s} {first:9.2f} {again:9.2f} {again / first:7.1%}")
        print(f"{'together':12s} {total_first:9.2f} {total_again:9.2f} {total_again / total_first:7.1%}")
        print(f"{'floor':12s} {'':9s} {floor:9.2f} {floor / total_first:7.1%}   (Dagster alone: empty steps "
              f"with the stages' checks, on this storage)")
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().split()[:3]}")


if __name__ == "__main__":
    raise SystemExit(main())
