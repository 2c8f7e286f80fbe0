"""Benchmark: which sale-propensity inputs help, on time-series CV (yearly snapshots).

    python bench/bench_propensity.py

Builds the propensity snapshots of the bundled county (inputs from sales before each 1 January
only), then for each of the newest snapshots trains on the earlier snapshots and scores it, with
one fixed LightGBM setting (the classifier's defaults: a fair comparison of input sets, not a
tuned figure). Input sets: issue-5 inputs, + issue-16 signals (gain since purchase, last price vs
comps, month of the last sale), + block turnover. Prints AUC, precision at the top 10% and Brier.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import lightgbm as lgb

    from realestate_assets.config_models import load_scoring
    from realestate_assets.market.comps import CompsSettings
    from realestate_assets.market.index import AsOfIndexes
    from realestate_assets.ml.classifier import DEFAULT_PARAMS, _base, classification_metrics, encode, platt
    from realestate_assets.ml.deal import BUILDING, PROPENSITY_NUMERIC, block_turnover, propensity_frame
    from realestate_assets.settings import repo_root
    from tests.scoring.helpers_scoring import king_sales

    sales = king_sales()
    rule = CompsSettings.from_scoring(load_scoring(repo_root() / "config"))
    started = time.perf_counter()
    frame = propensity_frame(sales, AsOfIndexes(sales), rule=rule)
    frame["block_turnover_24m"] = np.nan
    dates = pd.to_datetime(sales["sale_date"])
    for snapshot, rows in frame.groupby("snapshot"):
        frame.loc[rows.index, "block_turnover_24m"] = block_turnover(rows, sales.loc[dates < snapshot], snapshot)
    print(f"{len(frame)} snapshot rows in {time.perf_counter() - started:.1f} s", flush=True)
    old = [*BUILDING, "years_since_last_sale", "prior_sales", "last_price_per_sqft_indexed", "market_trend_12m_pct"]
    sets = {"issue 5 inputs": old, "+ issue 16 signals": PROPENSITY_NUMERIC,
            "+ block turnover": [*PROPENSITY_NUMERIC, "block_turnover_24m"]}
    categories = {"use_type": sorted(frame["use_type"].dropna().astype(str).unique())}
    snapshots = sorted(frame["snapshot"].unique())
    params = _base(7) | DEFAULT_PARAMS
    rounds = int(params.pop("num_boost_round"))
    for name, numeric in sets.items():
        ys, ps = [], []
        per = []
        for test in snapshots[-3:]:
            train = frame.loc[frame["snapshot"] < test]
            valid = frame.loc[frame["snapshot"] == test]
            x_train = encode(train, numeric, categories)
            booster = lgb.train(params, lgb.Dataset(x_train, label=train["sold_next_12m"]), num_boost_round=rounds)
            # Platt on the training rows' own margins: only to make Brier comparable across sets.
            a, b = platt(booster.predict(x_train, raw_score=True), train["sold_next_12m"].to_numpy())
            p = 1 / (1 + np.exp(-(a * booster.predict(encode(valid, numeric, categories), raw_score=True) + b)))
            ys.append(valid["sold_next_12m"].to_numpy())
            ps.append(p)
            per.append(round(classification_metrics(ys[-1], p)["auc"], 3))
        m = classification_metrics(np.concatenate(ys), np.concatenate(ps))
        print(f"{name:22s} AUC per snapshot {per} pooled {m['auc']:.3f}  precision@10% "
              f"{m['precision_at_top10_pct']:.3f} (base {m['base_rate']:.3f})  Brier {m['brier']:.4f}")


if __name__ == "__main__":
    main()
