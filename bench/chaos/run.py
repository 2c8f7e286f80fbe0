"""`make chaos`: issue #14's harness — the pipeline under crashes, hostile input, flaky sources and
two tenants. Prints each part's figures and a PASS/FAIL summary; exit 1 on any loss, duplicate,
re-send or crash.

    python bench/chaos/run.py                      # every part (about 15 min on 2 shared cores)
    python bench/chaos/run.py --part crash --quick # one part, fewer points
    python bench/chaos/run.py --keep DIR           # keep the work directory (logs, outbox, objects)

Uses the PostgreSQL at 127.0.0.1:5432 (else the pgserver wheel), in a scratch database dropped
at the end; local protocol servers stand in for ATTOM, Census and the listing sites.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.chaos.common import chaos_database

PARTS = ("crash", "hostile", "sources", "tenants")


def part_runner(name: str) -> Callable[..., bool]:
    """`bench.chaos.<name>.run`, imported when its turn comes."""
    return importlib.import_module(f"bench.chaos.{name}").run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--quick", action="store_true", help="fewer kill points and inputs")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    parts = args.part or list(PARTS)

    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="reos-chaos-") as scratch:
        workspace = args.keep or Path(scratch)
        workspace.mkdir(parents=True, exist_ok=True)
        with chaos_database(workspace) as url:
            for name in parts:
                started = time.monotonic()
                try:
                    passed = part_runner(name)(workspace / name, url, quick=args.quick)
                    results[name] = "PASS" if passed else "FAIL"
                except Exception as exc:  # a harness error is a failure of the part, reported, not a traceback wall
                    import traceback

                    traceback.print_exc()
                    results[name] = f"FAIL (harness error: {type(exc).__name__}: {exc})"
                print(f"--- {name}: {results[name]} ({time.monotonic() - started:.0f} s)", flush=True)

    print("\n=== chaos summary")
    for name, verdict in results.items():
        print(f"  {name:<10}{verdict}")
    failed = [n for n, v in results.items() if v != "PASS"]
    print("FAIL" if failed else "PASS", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
