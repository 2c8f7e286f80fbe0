"""What one evaluation of a county's discovery sensor costs (sensors/schedules.py), in process.

On a scratch database migrated to head (`discovery_bench_…`, dropped at the end), with a county
file copied from king_wa and an override of its cron in county_overrides: N evaluations that are
not due (the common case: one county read through PlatformResource.county, file + override) and N
that are due (plus the query for a running discovery). The daemon's own cost of a sensor tick
(its gRPC call to the code server, the tick row it stores) is not in these figures.
Run: `python bench/bench_discovery_sensor.py [N]`.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp

import dagster as dg
import yaml

from realestate_assets.config_models import load_counties
from realestate_assets.db.county_overrides import write_override
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.settings import repo_root
from resources import PlatformResource, WarehouseResource
from sensors.schedules import discovery_sensors
from tests.databases import scratch_database


def main(n: int = 200) -> None:
    work = Path(mkdtemp())
    base = yaml.safe_load((repo_root() / "config" / "counties" / "king_wa.yaml").read_text())
    (work / "counties").mkdir()
    (work / "counties" / "bench_wa.yaml").write_text(yaml.safe_dump({**base, "key": "bench_wa"}))
    now = datetime(2026, 12, 8, 6, 0, 20, tzinfo=UTC)
    (sensor,) = discovery_sensors(load_counties(work), clock=lambda: now)
    with scratch_database(work, prefix="discovery_bench") as url:
        wh = Warehouse(url, pool_size=1, max_overflow=0)
        with wh.transaction() as conn, conn.cursor() as cur:
            write_override(cur, "bench_wa", {"schedule.cron": "0 6 * * *", "schedule.timezone": "UTC"},
                           based_on=0, reason="bench", user_id=None)
        wh.engine.dispose()
        resources = {"platform": PlatformResource(config_dir=str(work), state_dir=str(work / "state"),
                                                  warehouse=WarehouseResource(database_url=url))}
        figures = {}
        with dg.instance_for_test() as instance:
            for label, since in (("not due", now - timedelta(seconds=10)), ("due", now - timedelta(seconds=60))):
                with dg.build_sensor_context(instance=instance, cursor=since.isoformat(),
                                             resources=resources) as context:
                    sensor(context)  # warm: the pool's connection, the YAML parser
                    start, cpu = time.perf_counter(), time.process_time()
                    for _ in range(n):
                        result = sensor(context)
                    figures[label] = ((time.perf_counter() - start) / n * 1e3, (time.process_time() - cpu) / n * 1e3,
                                      bool(result.run_requests))
    load = os.getloadavg()
    print(f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    for label, (wall, cpu, ran) in figures.items():
        print(f"{label}: {wall:.2f} ms wall, {cpu:.2f} ms CPU per evaluation ({n} evaluations; run requested: {ran})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
