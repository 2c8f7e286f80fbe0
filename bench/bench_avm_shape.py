"""Issue 17, sixteenth round: what the AVM's tree shape costs in accuracy (time-series CV) and in SHAP.

    python bench/bench_avm_shape.py --scale 1 --space current --space depth8 --seed 7 --seed 1
    python bench/bench_avm_shape.py --scale 2 --space unbounded --sweep   # bounded shapes, same parameters

Each `--space` is a variant of the AVM's Optuna search space (config/scoring.yaml `search_spaces.avm`,
edited in memory only; `VARIANTS` below). Every variant trains the AVM exactly as `ml_model` does
(`ml/pipeline.py::avm_settings` + `train_avm`, the repository's config otherwise) on the King County
file replicated `--scale` times (bench_scale.py's copies), and prints:

* the choice figures, all time-series CV (the older 80%'s expanding folds): the tuner's best
  out-of-fold MdAPE, and the chosen model's blended out-of-fold MdAPE — what decides;
* the hold-out's MdAPE (report only: no choice is made on it, docs/scoring.md);
* the final booster's shape: trees, leaves per tree, leaf depth (mean, max);
* the CPU of `pred_contrib` (TreeSHAP, one thread) for the newest `--shap-rows` rows, best of 3.

`--seed` (repeatable) trains every variant once per seed (config `seed`: Optuna's sampler and
LightGBM's): ten trials are a small search, so one seed's best is partly luck; the mean over
seeds is the fairer comparison. Variants alternate within a seed; the load average is printed
with each figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

    from realestate_assets.config_models import ScoringConfig
    from realestate_assets.ml.avm import TrainedAvm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Search-space variants: parameter → range replacing (or None: removing) the repository's one.
# "current" is config/scoring.yaml as it is (no depth range: the default); "depth8" adds the
# optional `max_depth` 4–8 (docs/scoring.md "The tree depth").
VARIANTS: dict[str, dict[str, dict | None]] = {
    "current": {},
    "unbounded": {"max_depth": None},
    "depth8": {"max_depth": {"low": 4, "high": 8, "integer": True}},
    "leaves31": {"max_depth": None, "num_leaves": {"low": 7, "high": 31, "integer": True}},
    "depth24": {"max_depth": {"low": 6, "high": 24, "integer": True}},  # 24 ≈ no bound here (max seen 23)
    "data20": {"max_depth": None, "min_data_in_leaf": {"low": 20, "high": 60, "integer": True}},
}


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def tree_shape(booster: lgb.Booster) -> dict[str, float]:
    """Trees, mean leaves per tree and the leaves' depth (mean over leaves, max)."""
    import numpy as np

    leaves, depths = [], []

    def walk(node: dict, depth: int) -> None:
        if "split_index" not in node:
            depths.append(depth)
            return
        walk(node["left_child"], depth + 1)
        walk(node["right_child"], depth + 1)

    for tree in booster.dump_model()["tree_info"]:
        before = len(depths)
        walk(tree["tree_structure"], 0)
        leaves.append(len(depths) - before)
    return {"trees": len(leaves), "leaves": float(np.mean(leaves)), "depth_mean": float(np.mean(depths)),
            "depth_max": int(np.max(depths))}


def shap_cpu(avm: TrainedAvm, frame: pd.DataFrame, rows: int) -> float:
    """Best of 3 CPU seconds of one-thread TreeSHAP over the frame's newest `rows` rows."""
    x = avm.encode(frame.tail(rows))
    best = float("inf")
    for _ in range(3):
        cpu = time.process_time()
        avm.booster.predict(x, pred_contrib=True, num_threads=1)
        best = min(best, time.process_time() - cpu)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=1, help="copies of data/king_wa/ex_sales.csv")
    ap.add_argument("--space", action="append", choices=sorted(VARIANTS), help="variants (repeatable)")
    ap.add_argument("--seed", type=int, action="append", help="tuning seeds (repeatable; default config's)")
    ap.add_argument("--shap-rows", type=int, default=4000, help="rows for the SHAP CPU figure (0: skip)")
    ap.add_argument("--sweep", action="store_true",
                    help="after training the first variant, its tuned parameters with bounded shapes "
                         "(SWEEP) on the same folds: out-of-fold MdAPE and SHAP CPU of each")
    args = ap.parse_args()
    spaces = args.space or ["current", "depth8"]

    from bench.bench_scale import replicated_file
    from realestate_assets.backtest import read_sales
    from realestate_assets.config_models import SearchRange, load_county, load_scoring
    from realestate_assets.ml.avm import AsOfIndexes, train_avm, training_frame, with_asof_comps
    from realestate_assets.ml.pipeline import avm_settings

    with tempfile.TemporaryDirectory(prefix="reos_shape_") as tmp:
        csv = Path(tmp) / "king_wa_x.csv"
        replicated_file(args.scale, csv)
        sales, _ = read_sales(csv, load_county(ROOT / "config" / "counties" / "king_wa.yaml"))
    base = load_scoring(ROOT / "config")
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    frame = with_asof_comps(training_frame(ordered), ordered, base.comps, AsOfIndexes(ordered))
    print(f"{len(sales):,} sales ×{args.scale}, {base.avm_trials} trials, {base.cv_folds} folds (load {load()})")
    print("| variant | tuned CV MdAPE | chosen CV MdAPE (blend w) | hold-out MdAPE | trees × leaves | depth mean / max "
          "| SHAP CPU s / rows | train CPU s | load |")
    for seed in args.seed or [base.seed]:
        for name in spaces:
            space = dict(base.search_spaces.avm)
            for param, spec in VARIANTS[name].items():
                if spec is None:
                    space.pop(param, None)
                else:
                    space[param] = SearchRange(**spec)
            scoring = base.model_copy(update={"seed": seed, "search_spaces": base.search_spaces.model_copy(
                update={"avm": space})})
            cpu = time.process_time()
            avm = train_avm(sales, avm_settings(scoring), compare=False, baseline_comps=scoring.baseline_comps,
                            comps=scoring.comps, indexes=AsOfIndexes(sales))
            train_cpu = time.process_time() - cpu
            shape = tree_shape(avm.booster)
            sel = avm.selection
            chosen = sel["cv_mdape_pct_by_blend_weight"][str(sel["blend_weight"])]
            rows = min(args.shap_rows, len(frame))
            shap = shap_cpu(avm, frame, rows) if rows else float("nan")
            print(f"| {name} (seed {seed}) | {avm.tuning.get('best_cv_mdape_pct', float('nan')):.3f} | {chosen:.3f} "
                  f"(w {sel['blend_weight']}) | {avm.metrics['mdape_pct']:.3f} | {shape['trees']} × "
                  f"{shape['leaves']:.1f} | {shape['depth_mean']:.1f} / {shape['depth_max']} | "
                  f"{shap:.2f} / {rows} | {train_cpu:.0f} | {load()} |", flush=True)
            print(f"    params {({k: v for k, v in avm.params.items() if k not in ('seed', 'verbosity')})}",
                  flush=True)

            if args.sweep:
                sweep(avm, frame, ordered, scoring, rows)
                return


# Shapes tried by --sweep on the tuned parameters (None: the tuned value).
SWEEP = [{}, {"max_depth": 12}, {"max_depth": 10}, {"max_depth": 8}, {"max_depth": 6},
         {"num_leaves": 31}, {"num_leaves": 31, "max_depth": 8}, {"num_leaves": 15}]


def sweep(avm: TrainedAvm, frame: pd.DataFrame, ordered: pd.DataFrame, scoring: ScoringConfig, rows: int) -> None:
    """The tuned parameters with each SWEEP shape: blended out-of-fold MdAPE on the same
    time-series folds as the choice (hold-out untouched), shape and SHAP CPU of a fit on them."""
    from realestate_assets.ml.avm import AsOfIndexes, _fit, _folds, _out_of_fold, holdout_split
    from realestate_assets.ml.pipeline import avm_settings

    train, _ = holdout_split(frame, scoring.holdout_fraction)
    folds = _folds(train, ordered.iloc[:len(train)], avm_settings(scoring), scoring.comps, AsOfIndexes(ordered))
    deflate = avm.selection["target"] == "deflated"
    print("| shape on the tuned parameters | CV MdAPE (w) | trees × leaves | depth mean / max | SHAP CPU s | load |")
    for change in SWEEP:
        params = avm.params | change
        oof = _out_of_fold(train, folds, avm.categories, params, avm.features, deflate)
        booster = _fit(train, avm.categories, params, avm.features, avm.eval_deflator)
        shape = tree_shape(booster)
        probe = type(avm)(booster, avm.categories, avm.settings, features=avm.features)
        print(f"| {change or 'tuned'} | {oof.mdape(avm.blend_weight):.3f} ({avm.blend_weight}) | {shape['trees']} × "
              f"{shape['leaves']:.1f} | {shape['depth_mean']:.1f} / {shape['depth_max']} | "
              f"{shap_cpu(probe, frame, rows):.2f} | {load()} |", flush=True)


if __name__ == "__main__":
    main()
