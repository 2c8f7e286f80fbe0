"""Benchmark: materialize a county end to end, in one process, and print per-stage figures.

    python bench/bench_pipeline.py [--county king_wa] [--fresh]

Uses DATABASE_URL when set, else the embedded PostgreSQL under REOS_STATE_DIR. --fresh
starts from an empty tenant (a new tenant id), so every PDF and email is produced again;
without it, a second run measures the idempotent re-run.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import uuid

import dagster as dg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--county", default="king_wa")
    parser.add_argument("--fresh", action="store_true", help="a new empty tenant: full cost, not a re-run")
    args = parser.parse_args()

    from realestate_assets.county_runs import materialize_county
    from realestate_assets.db.migrate import upgrade
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.definitions import build_definitions, current_environment, resources_for
    from realestate_assets.settings import LocalSettings

    with dg.build_resources({"warehouse": resources_for(current_environment()).resources["warehouse"]}) as built:
        url = built.warehouse.url()
    upgrade(url)
    if args.fresh:
        tenant = f"bench_{uuid.uuid4().hex[:6]}"
        wh = Warehouse(url)
        with wh.transaction() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO tenants (id, name) VALUES (%s, 'benchmark')", (tenant,))
        os.environ["REOS_TENANT"] = tenant

    job = build_definitions().resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    # The county's public run, then the tenant's packets and emails run on (county, tenant).
    result = materialize_county(
        job, args.county, [LocalSettings.from_env().tenant_id], instance=instance, raise_on_error=True,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    total = time.perf_counter() - started

    starts, ends = {}, {}
    for entry in (entry for run_id in result.run_ids for entry in instance.all_logs(run_id)):
        event = entry.dagster_event
        if event is not None and event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event is not None and event.event_type_value == "STEP_SUCCESS":
            ends[event.step_key] = entry.timestamp
    print(f"\nEnd-to-end materialization of {args.county} ({'fresh tenant' if args.fresh else 're-run'})")
    print(f"{'stage':<12}{'seconds':>10}{'rows':>10}{'rows/s':>12}")
    for stage in sorted(ends, key=starts.get):  # every step, in the order it ran
        seconds = ends[stage] - starts[stage]
        materialized = result.asset_materializations_for_node(stage)  # none for a check-only step
        count = materialized[0].metadata.get("dagster/row_count") if materialized else None
        rows = count.value if count is not None else 0
        print(f"{stage:<12}{seconds:>10.2f}{rows:>10,}{rows / seconds if seconds else 0:>12,.0f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'total':<12}{total:>10.2f}\npeak RSS: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
