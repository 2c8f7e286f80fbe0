"""Issue 16: training every scoring model (what `ml_model` runs) at county scale, with what dominates.

    python bench/bench_training.py                 # 6× the King County file ≈ 32,000 sales
    python bench/bench_training.py --scale 1       # the bundled file (5,348 sales)
    python bench/bench_training.py --profile 25    # also the 25 costliest functions (cProfile, cumulative)

The file is replicated as bench/bench_scale.py does (each copy's parcels moved by one random offset,
suffixed ids), read through the county's mapping like `reos backtest`, and handed to
`ml/pipeline.py::train_all` with the repository's config/scoring.yaml — the same call `ml_model`
makes, without the database and the registry (bench_scale.py times the whole asset). Prints each
model's wall and CPU seconds, the process's peak RSS and the load average: the machine is shared,
so CPU seconds are the figure to compare (the models are single-threaded; CPU ≈ wall when idle).
The issue's budget: all models for a county of 30,000 sales under 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=6, help="copies of data/king_wa/ex_sales.csv (6 ≈ 32,000 sales)")
    ap.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile)")
    args = ap.parse_args()

    from bench.bench_scale import replicated_file
    from realestate_assets.backtest import read_sales
    from realestate_assets.config_models import load_county, load_scoring

    with tempfile.TemporaryDirectory(prefix="reos_training_") as tmp:
        csv = Path(tmp) / "king_wa_x.csv"
        replicated_file(args.scale, csv)
        sales, rejected = read_sales(csv, load_county(ROOT / "config" / "counties" / "king_wa.yaml"))
    scoring = load_scoring(ROOT / "config")
    from realestate_assets.ml.pipeline import train_all

    print(f"{len(sales):,} sales ({rejected} rejected), ×{args.scale}; trials avm/deal/propensity "
          f"{scoring.avm_trials}/{scoring.deal_trials}/{scoring.propensity_trials}, {scoring.cv_folds} folds "
          f"({load()})", flush=True)
    profiler = cProfile.Profile() if args.profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    trained = train_all(sales, scoring)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'model':<16}{'wall s':>9}{'CPU s':>9}")
    for name in trained.seconds:
        print(f"{name:<16}{trained.seconds[name]:>9.1f}{trained.cpu_seconds.get(name, float('nan')):>9.1f}")
    print(f"{'all':<16}{wall:>9.1f}{cpu:>9.1f}   peak RSS {peak:,.0f} MB ({load()})")
    if trained.skipped:
        print(f"skipped: {trained.skipped}")
    avm = trained.avm
    print(f"AVM selection: {avm.selection.get('target')} target, {avm.selection.get('loss')} loss, "
          f"{avm.selection.get('features')}, blend weight {avm.blend_weight}; "
          f"hold-out MdAPE {avm.metrics['mdape_pct']:.2f}%, coverage {avm.metrics['interval_coverage_pct']:.1f}%; "
          f"tuning {avm.tuning}")
    for name, model in (("deal", trained.deal), ("sale_propensity", trained.propensity)):
        if model is not None:
            print(f"{name}: hold-out AUC {model.metrics.get('auc', float('nan')):.3f}; tuning {model.tuning}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
