"""`make bench`: run every benchmark script in bench/ and let each print its figures."""

from __future__ import annotations

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
]


def main() -> int:
    here = Path(__file__).parent
    failures = 0
    for script, *args in BENCHES:
        if not (here / script).exists():
            continue
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        failures += subprocess.call([sys.executable, str(here / script), *args]) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
