"""Reasons on demand (issue #11): one property explained alone vs. by scoring its county.

    python bench/bench_reasons.py [--prospects 4000] [--repeat 20] [--trials 0]

Trains the three models on the bundled King County sales with config/scoring.yaml (`--trials`
Optuna trials each: 0 keeps the configured hyperparameters, so the models have their real size),
then measures, in this process, with no database:

* load   — each model read back from its artifact bytes (what `on_demand.Explainer` does once per
           process and version, besides reading the object store)
* alone  — `pipeline.explain_prospects` for one prospect (the API route's and `reos explain`'s work
           once its rows are read), median of `--repeat`
* county — `score_features(..., explain_keys=[key])` over `--prospects` feature rows: what
           `reos explain` did before (score the county to explain one), median of 3

Prints the figures with the load average before and after (the machine is shared: compare runs at
similar load).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def _median_ms(run: Any, repeat: int) -> str:
    """Median wall and CPU milliseconds of `run` (CPU: this process's, the stable figure on a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return f"{statistics.median(wall):.1f} ms wall, {statistics.median(cpu):.1f} ms CPU"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prospects", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--trials", type=int, default=0)
    args = parser.parse_args(argv)

    import pandas as pd

    from realestate_assets.config_models import load_scoring
    from realestate_assets.ml.avm import TrainedAvm
    from realestate_assets.ml.classifier import TrainedClassifier
    from realestate_assets.ml.pipeline import explain_prospects, score_features, train_all
    from realestate_assets.ml.scoring import MODEL_WEIGHTS, score_components_of
    from realestate_assets.settings import repo_root
    from tests.scoring.helpers_scoring import king_sales, prospect_features

    print(f"load average before: {_load()}")
    scoring = load_scoring(repo_root() / "config").model_copy(update={
        "avm_trials": args.trials, "deal_trials": args.trials, "propensity_trials": args.trials})
    started = time.perf_counter()
    trained = train_all(king_sales(), scoring, compare=False)
    print(f"trained on {len(king_sales()):,} sales in {time.perf_counter() - started:.1f} s "
          f"({scoring.num_boost_round} rounds, {args.trials} trials)")
    models = {"avm": (trained.avm, TrainedAvm), "deal": (trained.deal, TrainedClassifier),
              "sale_propensity": (trained.propensity, TrainedClassifier)}
    for name, (model, kind) in models.items():
        if model is None:
            continue
        data = model.to_bytes()
        ms = _median_ms(lambda d=data, k=kind: k.from_bytes(d), 5)
        print(f"load {name}: {len(data) / 1e6:.2f} MB artifact, {ms} from bytes (median of 5)")
    versions = {"avm": "a", "deal": "d", "sale_propensity": "s"}
    features = prospect_features(args.prospects)
    print(f"county: {len(features):,} prospects")
    whole = score_features(features, trained.avm, trained.deal, trained.propensity, versions, scoring,
                           explain=False).frame
    for position, label in ((0, "listed"), (len(features) - 1, "unlisted")):
        row = features.iloc[[position]]
        components = pd.DataFrame([score_components_of(whole.iloc[position], MODEL_WEIGHTS)])
        alone = _median_ms(lambda r=row, c=components: explain_prospects(
            r, c, trained.avm, trained.deal, trained.propensity, scoring), args.repeat)
        key = row["prospect_key"].iloc[0]
        county = _median_ms(lambda k=key: score_features(
            features, trained.avm, trained.deal, trained.propensity, versions, scoring, explain_keys=[k]), 3)
        print(f"{label} prospect: alone {alone} (median of {args.repeat}); "
              f"by scoring the county {county} (median of 3)")
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
