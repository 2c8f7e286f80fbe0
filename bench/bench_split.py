"""What an uneven split of keep-alive connections between two API processes does, measured with the
split chosen instead of left to the kernel's hash.

    python bench/bench_split.py --database-url URL [--seconds 15] [--clients 50] 25/25 33/17 30/20 …

bench/bench_api.py serves the API as 2 processes on one `SO_REUSEPORT` port, so the kernel assigns
each of the 50 connections to a process by a hash of their addresses: 25/25 in one run, 33/17 in
the next (its `split:` line shows it). Here the two processes (realestate_assets/api/serve.py, as
`bench_api.started_api` launches them) listen on two ports, and for each split `A/B` given two wrk
run at once for `--seconds`, A connections on the first process and B on the second, on random
property details: the total requests/s, the p50/p95/p99 of the two runs' latencies merged (each
run's distribution weighted by its requests, from the 999 quantiles bench/wrk_api.lua prints) and
each side's p95, with the load average. Give the splits alternated (25/25 33/17 25/25 33/17 …):
the machine's speed drifts between runs. `URL`: bench_api.py's database (migrated; seeded here on
first use).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import Run, hammer, run_wrk, seed, started_api


def merged_percentile(runs: list[Run], p: float) -> float:
    """The `p` percentile of the runs' latencies together: each run's quantiles as equal shares of
    its requests."""
    weighted = sorted((q, run.requests / len(run.quantiles_ms)) for run in runs for q in run.quantiles_ms)
    target, seen = p / 100 * sum(w for _, w in weighted), 0.0
    for value, weight in weighted:
        seen += weight
        if seen >= target:
            return value
    return weighted[-1][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", nargs="+", help="connections on the first/second process, e.g. 33/17")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--properties", type=int, default=100_000)
    args = parser.parse_args()
    splits = [tuple(int(n) for n in split.split("/")) for split in args.splits]
    key, top, _ = seed(args.database_url, args.properties)
    with tempfile.TemporaryDirectory(prefix="reos-bench-split-") as scratch:
        env = {"DATABASE_URL": args.database_url, "REOS_STATE_DIR": scratch}
        servers = [started_api(env) for _ in range(2)]
        try:
            for _, base in servers:  # warm each process's pool and caches
                hammer(base, key, 4, 2, lambda rng: f"/api/v1/properties/{rng.randint(1, top)}")
            print(f"random details, wrk, {args.seconds:g} s a split; latencies in ms")
            for split in splits:
                with ThreadPoolExecutor(2) as pool:  # both wrk at once
                    done = list(pool.map(lambda base, clients: run_wrk(base, key, "detail", top, clients,
                                                                       args.seconds, 0),
                                         [base for _, base in servers], split))
                requests = sum(run.requests for run in done)
                print(f"{split[0]}/{split[1]}: {requests / args.seconds:.0f} req/s "
                      f"({' / '.join(f'{run.requests:,}' for run in done)}), p50 {merged_percentile(done, 50):.1f} "
                      f"p95 {merged_percentile(done, 95):.1f} p99 {merged_percentile(done, 99):.1f}; each side's "
                      f"p95 {' / '.join(f'{run.p95_ms:.1f}' for run in done)}; load {os.getloadavg()[0]:.1f}",
                      flush=True)
        finally:
            for server, _ in servers:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
