"""Benchmark: deal ranking and sale propensity on rolling origins (time-series backtests).

    python bench/bench_deal.py [--first 2012-01-01] [--last 2016-01-01] [--step-months 6] [--out DIR]

One `reos backtest` per cutoff (every model trained only on sales before it, config budgets);
each cutoff contributes the purchases in the `--step-months` after it that were resold in the
file, so the pooled pairs are disjoint and every one was scored by models that never saw it.
Prints, on the pooled pairs: the deal model, the bare deal model (log price vs comps) and the
bird-dog score (AUC, precision at the top 5% / 10%, Brier, reliability), the score components
alone and the blend without each; and the sale-propensity snapshot at each cutoff.
A single bundled-file window holds ~20 resold purchases: pooling is what makes the figures readable.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from realestate_assets.backtest import run_backtest
    from realestate_assets.config_models import load_scoring
    from realestate_assets.db.warehouse import json_safe
    from realestate_assets.ml.deal_eval import deal_ranking_report
    from realestate_assets.ml.scoring import MODEL_WEIGHTS
    from realestate_assets.settings import repo_root
    from tests.scoring.helpers_scoring import king_sales

    parser = argparse.ArgumentParser()
    parser.add_argument("--first", default="2012-01-01")
    parser.add_argument("--last", default="2016-01-01")
    parser.add_argument("--step-months", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sales = king_sales()
    scoring = load_scoring(repo_root() / "config")
    cutoffs = pd.date_range(args.first, args.last, freq=f"{args.step_months}MS")
    pooled, propensity, seconds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for cutoff in cutoffs:
            started = time.perf_counter()
            result = run_backtest(sales, cutoff, scoring, Path(tmp) / str(cutoff.date()))
            seconds.append(time.perf_counter() - started)
            propensity.append({"cutoff": str(cutoff.date()), **{k: result.metrics["sale_propensity"].get(k)
                                                                 for k in ("n", "base_rate", "auc",
                                                                           "precision_at_top10_pct")}})
            pairs = result.deal_pairs
            if pairs is None:
                continue
            until = cutoff + pd.DateOffset(months=args.step_months)
            pairs = pairs.loc[pd.to_datetime(pairs["sale_date"]) < until].assign(cutoff=str(cutoff.date()))
            pooled.append(pairs)
            print(f"{cutoff.date()}: {len(pairs)} pairs, {int(pairs['is_deal'].sum())} deals, "
                  f"{seconds[-1]:.1f} s", flush=True)
    pairs = pd.concat(pooled, ignore_index=True)
    components = pairs[[c for c in pairs if c.startswith("component_")]]
    components.columns = [c.removeprefix("component_") for c in components.columns]
    report = deal_ranking_report(pairs["is_deal"].to_numpy(), pairs, components, MODEL_WEIGHTS)
    summary = {"cutoffs": [str(c.date()) for c in cutoffs], "pairs": len(pairs),
               "deals": int(pairs["is_deal"].sum()), "deal_ranking": report, "sale_propensity": propensity,
               "seconds_per_backtest": round(float(np.mean(seconds)), 1)}
    text = json.dumps(json_safe(summary), indent=1, default=str)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "deal_rolling.json").write_text(text)
        pairs.to_csv(args.out / "deal_rolling_pairs.csv", index=False)


if __name__ == "__main__":
    main()
