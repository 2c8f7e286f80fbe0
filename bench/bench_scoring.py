"""Benchmark: scoring models on the bundled county, and scoring speed at 1M parcels.

    python bench/bench_scoring.py [--rows 1000000] [--trials-from-config]

Prints: train time per model and peak RSS for king_wa (config/scoring.yaml budgets), the
hold-out figures (AVM vs nearest comps vs hedonic OLS; deal and sale-propensity models),
scoring throughput at --rows parcels (AVM + propensity predict, percentiles, score, plus the
CPU side of the COPY buffer), and SHAP (pred_contrib) rows/s per model. No database needed.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Measure this checkout's code, not whatever the virtualenv's editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def features_from_sales(sales: pd.DataFrame) -> pd.DataFrame:
    """One feature row per parcel from its latest sale, as the features asset computes them."""
    from realestate_assets.market.index import HedonicIndex

    index = HedonicIndex.from_sales(sales)
    as_of = pd.Timestamp(sales["sale_date"].max())
    ordered = sales.sort_values(["parcel_id", "sale_date"])
    last = ordered.groupby("parcel_id").tail(1).reset_index(drop=True)
    count = ordered.groupby("parcel_id").size().reindex(last["parcel_id"]).to_numpy(dtype=float)
    years = (as_of - pd.to_datetime(last["sale_date"])).dt.days / 365.25
    sqft = last["living_sqft"].astype(float)
    ppsf = (last["sale_price"] / sqft).median()
    return pd.DataFrame({
        "prospect_key": last["parcel_id"], "as_of_date": as_of.date(), "use_type": last["use_type"],
        "neighborhood": last["neighborhood"], "latitude": last["latitude"], "longitude": last["longitude"],
        "living_sqft": sqft, "lot_sqft": last["lot_sqft"], "beds": last["beds"], "baths": last["baths"],
        "bldg_grade": last["bldg_grade"], "waterfront": last["waterfront"].astype(float),
        "age_years": last["age_at_sale"] + years, "eff_age_years": last["eff_age_at_sale"] + years,
        "sale_count": count, "years_since_last_sale": years,
        "last_sale_price_indexed": last["sale_price"] * index.level(pd.Series([as_of] * len(last)))
        / index.level(last["sale_date"]),
        "comps_count": 8.0, "comps_median_price_per_sqft": ppsf, "comps_value_spread_pct": 15.0,
        "market_trend_12m_pct": index.trend_pct(as_of), "list_price": np.nan})


def copy_buffer_seconds(frame: pd.DataFrame) -> float:
    """The CPU side of sync_partition's COPY: jsonb columns serialized, CSV written."""
    from realestate_assets.db.warehouse import to_json

    started = time.perf_counter()
    out = frame.copy()
    for column in ("score_breakdown",):  # the components are numbers since migration 0060
        out[column] = [None if v is None else to_json(v) for v in out[column]]
    out.to_csv(io.StringIO(), index=False, header=False, na_rep="")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--county", default="king_wa")
    args = parser.parse_args()

    from realestate_assets.config_models import load_counties, load_scoring
    from realestate_assets.discovery.collect import collect_sales
    from realestate_assets.ml.pipeline import score_features, train_all
    from realestate_assets.ml.plots import metrics_table

    scoring = load_scoring()
    sales = collect_sales(load_counties()[args.county]).rows
    started = time.perf_counter()
    trained = train_all(sales, scoring)
    train_seconds = time.perf_counter() - started
    features = features_from_sales(sales)
    versions = {"avm": "bench", "deal": "bench", "sale_propensity": "bench"}
    started = time.perf_counter()
    scored = score_features(features, trained.avm, trained.deal, trained.propensity, versions, scoring)
    score_seconds = time.perf_counter() - started
    print(f"\n{args.county}: {len(sales):,} sales, {len(features):,} parcels; trials avm={scoring.avm_trials} "
          f"deal={scoring.deal_trials} propensity={scoring.propensity_trials}")
    per_model = ", ".join(f"{k} {v:.1f} s" for k, v in trained.seconds.items())
    print(f"train all models {train_seconds:.1f} s ({per_model}); "
          f"score {score_seconds:.2f} s ({scored.explained} explained); peak RSS {peak_rss_mb():.0f} MB")
    keys = ["n", "mdape_pct", "pe10_pct", "pe20_pct", "median_error_pct", "cod", "prd", "prb"]
    print("\nAVM on the time hold-out (newest 20% of sales)\n" + metrics_table(trained.avm.comparison, keys))
    ckeys = ["n", "positives", "base_rate", "auc", "precision_at_top10_pct", "lift_at_top10", "brier", "log_loss"]
    models = {k: m.metrics for k, m in (("deal", trained.deal), ("sale_propensity", trained.propensity)) if m}
    print("\nClassifiers on their time hold-outs\n" + metrics_table(models, ckeys))
    if trained.deal is not None:
        print(f"deal label: {trained.deal.extra['label']}; pairs {trained.deal.extra['labelled_pairs']} "
              f"(excluded as leaks: {trained.deal.extra['excluded_built_or_renovated_after_purchase']})")

    # Scoring throughput at --rows parcels: the county's parcels tiled, coordinates jittered.
    reps = int(np.ceil(args.rows / len(features)))
    big = pd.concat([features] * reps, ignore_index=True).head(args.rows)
    big["prospect_key"] = [f"p{i}" for i in range(len(big))]
    rng = np.random.default_rng(0)
    big["latitude"] = big["latitude"] + rng.normal(0, 0.002, len(big))
    started = time.perf_counter()
    scored_big = score_features(big, trained.avm, trained.deal, trained.propensity, versions, scoring, explain=False)
    seconds = time.perf_counter() - started
    buffer_seconds = copy_buffer_seconds(scored_big.frame)
    candidates = int((scored_big.frame["bird_dog_score"] >= scoring.packet_threshold).sum())
    print(f"\nscoring {len(big):,} parcels without reasons: {seconds:.1f} s = {len(big) / seconds:,.0f} rows/s; "
          f"COPY buffer (jsonb + CSV) {buffer_seconds:.1f} s; peak RSS {peak_rss_mb():.0f} MB")
    part = big.head(20_000)
    explained = score_features(part, trained.avm, trained.deal, trained.propensity, versions, scoring)
    rate = explained.explained / explained.explain_seconds if explained.explain_seconds else float("nan")
    print(f"reasons (AVM + propensity SHAP, plain-language text): {rate:,.0f} rows/s "
          f"({explained.explained:,} of 20,000 rows)")
    print(f"  → {candidates:,} candidates ≥ {scoring.packet_threshold:g} at {len(big):,} parcels: reasons for all "
          f"≈ {candidates / rate:.0f} s; with explain_max_rows 10,000 ≈ {10_000 / rate:.0f} s")
    print(f"  → prospects → scores ≈ {seconds + buffer_seconds:.0f} s CPU + reasons + COPY (~900k rows/s, DESIGN §8)")

    from realestate_assets.ml.avm import scoring_frame
    from realestate_assets.ml.deal import deal_inputs_from_features, propensity_inputs_from_features

    sample = big.head(20_000)
    for name, fn in (("avm", lambda: trained.avm.contributions(scoring_frame(sample))),
                     ("sale_propensity", lambda: trained.propensity.contributions(
                         propensity_inputs_from_features(sample))),
                     ("deal", lambda: trained.deal.contributions(
                         deal_inputs_from_features(sample.assign(list_price=sample["last_sale_price_indexed"]))))):
        if name != "avm" and getattr(trained, "propensity" if name == "sale_propensity" else name) is None:
            continue
        started = time.perf_counter()
        fn()
        print(f"SHAP (pred_contrib) {name}: {len(sample) / (time.perf_counter() - started):,.0f} rows/s")


if __name__ == "__main__":
    main()
