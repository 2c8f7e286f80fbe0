"""`make bench`: run every benchmark script in bench/ and let each print its figures.

`make bench SCALE=10x` (or `SCALE=25x`) adds the larger county runs of bench_scale.py and
bench_rerun.py (issue 17) to their 1× runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHES = [
    ["bench_pipeline.py", "--fresh"],
    ["bench_pipeline.py"],
    ["bench_discovery.py"],
    ["bench_enrich.py"],
    ["bench_scoring.py"],
    ["bench_outreach.py"],
    ["bench_api.py"],
    ["bench_scale.py", "--per-step", "--in-process"],  # issue 17: a step per process, and one process
    ["bench_rerun.py"],  # issue 17: unchanged re-run vs first run, per stage (1×, about 1 min)
    ["bench_rerun.py", "--storage", "postgres"],  # the same on production's Dagster storage (deploy/dagster.yaml)
    ["bench_warehouse_io.py"],  # issue 17: write, re-sync and read of 400k rows (about 1 min)
]
SCALE_FLAGS = {"": [], "1x": [], "10x": ["--10x"], "25x": ["--25x"]}
# The unchanged re-run at the same sizes (issue 17's target: ≤ 10% of the first run).
RERUN_FLAGS = {"": [], "1x": [], "10x": ["--scale", "1", "--scale", "10"],
               "25x": ["--scale", "1", "--scale", "10", "--scale", "25"]}


def main() -> int:
    here = Path(__file__).parent
    failures = 0
    scale = os.environ.get("BENCH_SCALE", "").strip().lower()
    if scale not in SCALE_FLAGS:
        print(f"BENCH_SCALE={scale!r}: expected one of 1x, 10x, 25x")
        return 2
    for script, *args in BENCHES:
        if script == "bench_scale.py":
            args = [*args, *SCALE_FLAGS[scale]]
        if script == "bench_rerun.py":
            args = [*args, *RERUN_FLAGS[scale]]
        if not (here / script).exists():
            continue
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        failures += subprocess.call([sys.executable, str(here / script), *args]) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
