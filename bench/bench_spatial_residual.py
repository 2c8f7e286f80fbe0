"""Issue 16: would a spatial residual correction help the AVM? Measured on time-series CV only.

    python bench/bench_spatial_residual.py [--cutoff 2015-07-01] [--folds 5]

The issue's third way to "let the model use its neighbours": move each estimate by the median
residual of the nearest recent sales, with those residuals fitted out-of-fold. On the sales before
`--cutoff` (nothing after it is read), expanding-window folds value each block with the model
frozen at the block's start exactly as `train_avm` does (`ml/avm.py::_folds`, default settings);
the residuals log(price / estimate) of a block are then known out-of-fold, and every later block's
sale is corrected by the median residual of its `k` nearest earlier out-of-fold sales within
`radius` metres (at least 3, else no correction), times a shrink factor. Prints the out-of-fold
MdAPE and median error of folds 2…K with and without the correction, for the model without and
with the comps features, and for residuals from every earlier block or only the previous one.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def corrections(xy_known: np.ndarray, residual: np.ndarray, xy: np.ndarray, k: int, radius: float) -> np.ndarray:
    """Median residual of the `k` nearest known points within `radius` (NaN with fewer than 3)."""
    from scipy.spatial import cKDTree

    out = np.full(len(xy), np.nan)
    if len(xy_known) < 3:
        return out
    distance, idx = cKDTree(xy_known).query(xy, k=min(k, len(xy_known)))
    near = np.where(distance <= radius, residual[np.minimum(idx, len(residual) - 1)], np.nan)
    enough = np.isfinite(near).sum(axis=1) >= 3
    out[enough] = np.nanmedian(near[enough], axis=1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cutoff", default="2015-07-01")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--radius", type=float, default=1200.0)
    args = ap.parse_args()

    from realestate_assets.config_models import load_scoring
    from realestate_assets.geo import to_xy
    from realestate_assets.market.index import AsOfIndexes
    from realestate_assets.ml.avm import (
        BASE_FEATURES,
        CATEGORICAL,
        MODEL_FEATURES,
        _folds,
        _out_of_fold,
        mdape,
        training_frame,
        with_asof_comps,
    )
    from realestate_assets.ml.pipeline import avm_settings
    from realestate_assets.settings import repo_root
    from tests.scoring.helpers_scoring import king_sales

    started = time.process_time()
    scoring = load_scoring(repo_root() / "config")
    sales = king_sales()
    sales = sales.loc[pd.to_datetime(sales["sale_date"]) < pd.Timestamp(args.cutoff)]
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    frame = with_asof_comps(training_frame(ordered), ordered, scoring.comps, AsOfIndexes(ordered))
    categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
    settings = replace(avm_settings(scoring), cv_folds=args.folds)
    folds = _folds(frame, ordered, settings, scoring.comps)
    ref = float(ordered["latitude"].median())
    print(f"{len(ordered):,} sales before {args.cutoff}; {len(folds)} folds of "
          f"{[len(f.actual) for f in folds]} validation sales; k={args.k}, radius {args.radius:.0f} m")
    for name, features in (("house and location", BASE_FEATURES), ("with comps features", MODEL_FEATURES)):
        oof = _out_of_fold(frame, folds, categories, settings.params(), features)
        estimate = oof.estimate()
        bounds = np.cumsum([0, *[len(f.actual) for f in folds]])
        xy = np.vstack([to_xy(f.valid_inputs["latitude"].to_numpy(float), f.valid_inputs["longitude"].to_numpy(float),
                              ref) for f in folds])
        residual = np.log(oof.actual / estimate)
        later = slice(bounds[1], None)
        base = estimate[later]
        print(f"\n{name}: folds 2…{len(folds)} without correction: MdAPE {mdape(base, oof.actual[later]):.2f}%, "
              f"median error {np.median(base / oof.actual[later] - 1) * 100:+.2f}%")
        for source in ("every earlier block", "previous block only"):
            shift = np.full(len(estimate), np.nan)
            for f in range(1, len(folds)):
                known = slice(bounds[f - 1] if source == "previous block only" else 0, bounds[f])
                rows = slice(bounds[f], bounds[f + 1])
                shift[rows] = corrections(xy[known], residual[known], xy[rows], args.k, args.radius)
            covered = np.isfinite(shift[later]).mean() * 100
            line = []
            for shrink in (0.25, 0.5, 0.75, 1.0):
                corrected = base * np.exp(shrink * np.nan_to_num(shift[later]))
                line.append(f"×{shrink}: {mdape(corrected, oof.actual[later]):.2f}% "
                            f"({np.median(corrected / oof.actual[later] - 1) * 100:+.2f}%)")
            print(f"  corrected from {source} ({covered:.0f}% of sales have ≥ 3 neighbours): " + ", ".join(line))
    print(f"\n{time.process_time() - started:.1f} s of CPU")


if __name__ == "__main__":
    main()
