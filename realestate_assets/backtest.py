"""`reos backtest`: every model trained only on sales before a cutoff, judged on the sales after.

    reos backtest --sales CSV --county KEY --cutoff YYYY-MM-DD --out DIR

The county's YAML supplies the column mapping (its first sales source's `fields`), so any
file a county maps can be backtested. Writes DIR/predictions.csv (one row per sale on or
after the cutoff), DIR/metrics.json and DIR/calibration.png, and returns the metrics.

* estimated_value: the AVM frozen at the cutoff — the comps known then, moved from the last
  training month to the sale month along the damped-trend projection of the index fitted on the
  training sales (`market/forecast.py`); estimated_value_low/high: its 80% range
  (`ml/intervals.py`).
* estimated_value_reindexed: the frozen value held at the last training month, moved along the
  hedonic market index fitted on the sales before the sale's month only (monthly re-indexing,
  as between retrains in production).
* bird_dog_score: scored at the sale date with the sale price as the asking price, by the
  documented rule for a listed property (docs/scoring.md): the percentile, within the window, of
  the deal model's calibrated probability (comps and trend from sales before that date).
* metrics.json: the ratio study of each valuation and of the baselines over the window and per
  calendar quarter (`per_quarter`), the AVM's (frozen and re-indexed) per use type, assessor area
  and fifth of the estimate (`per_segment`: where the dispersion is), the 80% ranges' measured
  coverage, the forecast's own error.
* deal_probability: that probability. metrics.json's `deal_model` judges it on the window's
  purchases resold in the file beside the bare deal model (log price vs comps) and the score, with
  precision at the top 5% / 10%, Brier and a reliability table, and says what the other score
  components (value gap to the re-indexed AVM, AVM/comps agreement) add or cost.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import BulkFileSource, CountyConfig, ScoringConfig
from realestate_assets.db.warehouse import json_safe
from realestate_assets.market.forecast import forecast_error
from realestate_assets.market.index import AsOfIndexes, HedonicIndex, month_start
from realestate_assets.ml.avm import FrozenMarket, drift_factor, ratio_study
from realestate_assets.ml.classifier import calibration_bins, classification_metrics
from realestate_assets.ml.deal import (
    BareDealModel,
    asof_comps,
    deal_inputs,
    excess_return,
    leak_free,
    propensity_inputs,
    repeat_sale_pairs,
)
from realestate_assets.ml.deal_eval import deal_ranking_report
from realestate_assets.ml.intervals import interval_metrics
from realestate_assets.ml.pipeline import train_all
from realestate_assets.ml.scoring import MODEL_WEIGHTS, model_bird_dog_score, value_gap_pct

PREDICTION_COLUMNS = ["sale_id", "parcel_id", "sale_date", "sale_price", "estimated_value",
                      "estimated_value_low", "estimated_value_high", "estimated_value_reindexed",
                      "bird_dog_score", "deal_probability"]
BASELINES = ("nearest_comps_size_adjusted", "hedonic_ols")  # ml/baselines.py, given the training sales
Progress = Callable[[str, int, int | None], None]  # (step, advance, total)


@dataclass
class BacktestResult:
    predictions: pd.DataFrame
    metrics: dict[str, Any]
    paths: dict[str, Path]
    deal_pairs: pd.DataFrame | None = None  # labelled window purchases with every ranking signal


def read_sales(csv: Path, county: CountyConfig) -> tuple[pd.DataFrame, int]:
    """The file's sales, validated with the county's mapping; returns (rows, rejected count)."""
    from realestate_assets.discovery.collect import collect_sales

    mapped = [s for s in county.sources if s.provides == "sales" and s.fields]
    if not mapped:
        raise ValueError(f"{county.key}: no sales source with a field mapping in the county file")
    template = mapped[0]
    source = BulkFileSource(name=template.name, type="bulk_file", provides="sales", path=str(Path(csv).resolve()),
                            fields=template.fields, verified=False, enabled=True)
    collected = collect_sales(county.model_copy(update={"sources": [source]}))
    return collected.rows, len(collected.rejects)


def run_backtest(sales: pd.DataFrame, cutoff: pd.Timestamp, scoring: ScoringConfig, out: Path,
                 progress: Progress | None = None) -> BacktestResult:
    def tick(step: str, n: int = 1, total: int | None = None) -> None:
        if progress:
            progress(step, n, total)

    cutoff = pd.Timestamp(cutoff)
    dates = pd.to_datetime(sales["sale_date"])
    before = sales.loc[dates < cutoff].sort_values(["sale_date", "sale_id"]).reset_index(drop=True)
    after = sales.loc[dates >= cutoff].sort_values(["sale_date", "sale_id"]).reset_index(drop=True)
    if len(before) < 50 or after.empty:
        raise ValueError(f"need ≥ 50 sales before {cutoff.date()} and some after; got {len(before)} and {len(after)}")
    tick("avm", 0, scoring.avm_trials)
    tick("deal", 0, scoring.deal_trials)
    tick("sale_propensity", 0, scoring.propensity_trials)
    trained = train_all(before, scoring, compare=False, progress=lambda step, n: tick(step, n))

    # AVM frozen at the cutoff: what was known then, moved along the projected index.
    avm = trained.avm
    last_month = month_start(before["sale_date"].max())
    market = FrozenMarket.of(before, cutoff)
    frame = market.inputs(after, scoring.comps if "comps_value" in avm.features or avm.blend_weight < 1 else None)
    valuation = avm.estimate(frame, after["sale_date"])
    estimated = valuation["estimated_value"].to_numpy()
    flat = avm.value(frame)  # the same valuation held at the last training month's market
    tick("score", 0, len(after))
    everything = pd.concat([before, after], ignore_index=True)
    indexes = AsOfIndexes(everything)
    factor = indexes.reindex_factor(last_month, after["sale_date"])
    # The deal model's price-to-AVM input is the re-indexed value as it was trained with
    # (`ml/deal.py::asof_avm_values`): without the residual correction.
    reindexed = flat * np.where(np.isfinite(factor), factor, 1.0)

    # Deal model at each sale date, with the sale price as the asking price.
    targets = after.assign(date=after["sale_date"])
    comps = asof_comps(targets, everything, indexes, scoring.comps)
    x = deal_inputs(after, after["sale_price"], comps, indexes.trend_pct(after["sale_date"]), reindexed)
    deal_p = pd.Series(trained.deal.predict_proba(x) if trained.deal is not None else np.nan, index=after.index)
    comps_value = comps["comps_median_price_per_sqft"] * after["living_sqft"].astype(float)
    value = pd.Series(reindexed, index=after.index)
    components = pd.DataFrame({
        "deal": deal_p, "propensity": np.nan,
        "equity": value_gap_pct(value, after["sale_price"].astype(float)),
        "confidence": -(value / comps_value - 1.0).abs()}, index=after.index).rank(pct=True)
    score = model_bird_dog_score(components)
    tick("score", len(after))

    from realestate_assets.ml.avm import holdout_valuations

    # `everything` is `before` then `after`, each in date order: the hold-out rows are `after`'s.
    rule = scoring.comps if avm.reindex_shrink > 0 else None
    values = holdout_valuations(everything, len(before), estimated, last_month, scoring.baseline_comps,
                                avm_flat_values=flat, indexes=indexes, reindex_shrink=avm.reindex_shrink, rule=rule)
    predictions = pd.DataFrame({
        "sale_id": after["sale_id"], "parcel_id": after["parcel_id"],
        "sale_date": pd.to_datetime(after["sale_date"]).dt.date.astype(str),
        "sale_price": after["sale_price"].astype(float), "estimated_value": np.round(estimated, 0),
        "estimated_value_low": valuation["estimated_value_low"].round(0).to_numpy(),
        "estimated_value_high": valuation["estimated_value_high"].round(0).to_numpy(),
        "estimated_value_reindexed": np.round(values["avm_lightgbm_reindexed_monthly"], 0),
        "bird_dog_score": score.to_numpy(),
        "deal_probability": deal_p.round(4).to_numpy()})[PREDICTION_COLUMNS]

    actual = after["sale_price"].to_numpy(dtype=float)
    comparison = {name: ratio_study(value, actual) for name, value in values.items()}
    signals = _deal_signals(x, deal_p, score, components, trained)
    deal_window, deal_pairs = _deal_window(everything, after, signals, cutoff, trained)
    propensity_window = _propensity_window(before, after, cutoff, trained, scoring.comps)
    metrics = {
        "cutoff": str(cutoff.date()), "train_sales": len(before), "window_sales": len(after),
        "window": f"{after['sale_date'].min()} → {after['sale_date'].max()}",
        "avm": comparison["avm_lightgbm"], "avm_reindexed": comparison["avm_lightgbm_reindexed_monthly"],
        "avm_without_forecast": comparison["avm_lightgbm_flat"],
        **({"avm_reindexed_without_residual_correction": comparison["avm_lightgbm_reindexed_uncorrected"]}
           if "avm_lightgbm_reindexed_uncorrected" in comparison else {}),
        "baselines": {k: comparison[k] for k in BASELINES},
        "interval": {"nominal_coverage_pct": avm.intervals.coverage * 100 if avm.intervals else None,
                     **interval_metrics(valuation["estimated_value_low"], valuation["estimated_value_high"],
                                        estimated, after["sale_price"]),
                     "by_price_band": avm.intervals.by_band(valuation["estimated_value_low"],
                                                            valuation["estimated_value_high"], estimated,
                                                            after["sale_price"]) if avm.intervals else []},
        "per_quarter": per_quarter(after, {"avm": estimated, "avm_reindexed": values["avm_lightgbm_reindexed_monthly"],
                                           **{k: values[k] for k in BASELINES}}),
        "per_segment": per_segment(after, {"avm": estimated,
                                           "avm_reindexed": values["avm_lightgbm_reindexed_monthly"]}),
        "forecast": _forecast_window(market, everything, after, avm.drift_per_month),
        "avm_selection": avm.selection,
        "deal_model": deal_window, "sale_propensity": propensity_window,
        "models_skipped": trained.skipped, "training_seconds": {k: round(v, 2) for k, v in trained.seconds.items()},
        "training_cpu_seconds": {k: round(v, 2) for k, v in trained.cpu_seconds.items()},
        "avm_tuning": avm.tuning, "avm_params": {k: v for k, v in avm.params.items() if k != "verbosity"},
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {"predictions": out / "predictions.csv", "metrics": out / "metrics.json",
             "calibration": out / "calibration.png"}
    predictions.to_csv(paths["predictions"], index=False)
    from realestate_assets.ml.plots import calibration_png

    points = deal_window.get("calibration") or (trained.deal.calibration_points if trained.deal else [])
    paths["calibration"].write_bytes(calibration_png(points, f"deal model calibration ({deal_window.get('on')})"))
    paths["metrics"].write_text(json.dumps(json_safe(metrics), indent=2, default=_plain))
    return BacktestResult(predictions, metrics, paths, deal_pairs)


def per_quarter(after: pd.DataFrame, values: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """MdAPE (and count, median error) of each valuation per calendar quarter of the sale date."""
    quarter = pd.to_datetime(after["sale_date"]).dt.to_period("Q").astype(str).to_numpy()
    actual = after["sale_price"].to_numpy(dtype=float)
    out: dict[str, dict[str, float]] = {}
    for q in sorted(set(quarter)):
        rows = quarter == q
        out[q] = {"n": int(rows.sum())}
        for name, value in values.items():
            study = ratio_study(np.asarray(value)[rows], actual[rows])
            out[q][f"{name}_mdape_pct"] = study["mdape_pct"]
            out[q][f"{name}_median_error_pct"] = study["median_error_pct"]
    return out


def per_segment(after: pd.DataFrame, values: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, float]]]:
    """Where each valuation's dispersion is: its count, MdAPE, median error and COD per use type, per
    assessor area and per fifth of its own estimate (`estimate_fifth` 1 = the lowest; banding by the
    estimate, not the price, so the bands are not regressive by construction)."""
    actual = after["sale_price"].to_numpy(dtype=float)
    out: dict[str, dict[str, dict[str, float]]] = {}
    keys = {"use_type": after["use_type"].astype("string").fillna("?").to_numpy(),
            "area": after["neighborhood"].astype("string").fillna("?").to_numpy()}
    for name, value in values.items():
        value = np.asarray(value, dtype=float)
        fifth = pd.qcut(pd.Series(value).rank(method="first"), 5, labels=False).to_numpy() + 1 \
            if np.isfinite(value).sum() >= 5 else np.ones(len(value), dtype=int)
        for key, groups in (*keys.items(), ("estimate_fifth", fifth.astype(str))):
            table = out.setdefault(key, {})
            for group in sorted(set(groups)):
                rows = groups == group
                with warnings.catch_warnings():  # a one-sale group: PRB's line fit is degenerate, not wrong
                    warnings.simplefilter("ignore")
                    study = ratio_study(value[rows], actual[rows])
                cell = table.setdefault(str(group), {"n": int(rows.sum())})
                cell |= {f"{name}_{m}": study[m] for m in ("mdape_pct", "median_error_pct", "cod")}
    return out


def _forecast_window(market: FrozenMarket, everything: pd.DataFrame, after: pd.DataFrame,
                     drift: float = 0.0) -> dict[str, Any]:
    """The index projection's own error: projected vs realized (the index refitted with the window's
    sales, known only in hindsight) market change from the last training month, per window month."""
    table = forecast_error(market.forecast, HedonicIndex.from_sales(everything), after["sale_date"])
    # The AVM's market factor adds the drift cross-validation chose (`TrainedAvm.drift_per_month`).
    with_drift = (1 + table["projected_change_pct"] / 100) * drift_factor(drift, table["horizon_months"])
    table["projected_with_drift_pct"] = (with_drift - 1) * 100
    table["error_with_drift_pct"] = (with_drift / (1 + table["realized_change_pct"] / 100) - 1) * 100
    return {"model": market.forecast.to_dict(), "drift_per_month": drift,
            "mean_abs_error_pct": float(table["error_pct"].abs().mean()),
            "mean_abs_error_with_drift_pct": float(table["error_with_drift_pct"].abs().mean()),
            "flat_mean_abs_error_pct": float(table["flat_error_pct"].abs().mean()),
            "last_month": table.iloc[-1].to_dict(),
            "by_month": table.to_dict("records")}


def _deal_signals(x: pd.DataFrame, deal_p: pd.Series, score: pd.Series, components: pd.DataFrame,
                  trained: Any) -> pd.DataFrame:
    """Every deal-ranking signal per window sale: the deal model, its bare baseline, the score and
    the score's component percentiles."""
    bare = trained.deal.extra.get("bare_model") if trained.deal is not None else None
    bare_p = BareDealModel(**bare).predict_proba(x) if bare else np.full(len(x), np.nan)
    return pd.DataFrame({"deal_probability": deal_p.to_numpy(), "bare_deal_probability": bare_p,
                         "bird_dog_score": score.to_numpy(),
                         **{f"component_{k}": components[k].to_numpy() for k in components}}, index=x.index)


def _deal_window(everything: pd.DataFrame, after: pd.DataFrame, signals: pd.DataFrame, cutoff: pd.Timestamp,
                 trained: Any) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Deal metrics on purchases on/after the cutoff whose resale is in the file (the known outcomes):
    the deal model, the bare deal model and the bird-dog score on the same pairs, with calibration
    and what each score component adds or costs."""
    if trained.deal is None:
        return {"skipped": trained.skipped.get("deal")}, None
    pairs = repeat_sale_pairs(everything)
    pairs = pairs.loc[(pd.to_datetime(pairs["sale_date"]) >= cutoff) & leak_free(pairs)]
    pairs = pairs.assign(excess=excess_return(pairs, HedonicIndex.from_sales(everything)))
    threshold = trained.deal.extra["threshold_log"]
    keyed = signals.assign(sale_id=after["sale_id"].to_numpy())
    joined = pairs[["sale_id", "parcel_id", "sale_date", "resale_date", "excess"]].merge(keyed, on="sale_id")
    joined["is_deal"] = (joined["excess"] >= threshold).astype(int)
    y = joined["is_deal"].to_numpy()
    if len(joined) >= 20 and 0 < y.sum() < len(y):
        components = joined[[c for c in joined if c.startswith("component_")]]
        components.columns = [c.removeprefix("component_") for c in components.columns]
        report = deal_ranking_report(y, joined, components, MODEL_WEIGHTS)
        result = {"on": f"{len(joined)} window purchases resold in the file", **report["deal_model"],
                  "bird_dog_score_auc": report["bird_dog_score"]["auc"],
                  "calibration": calibration_bins(y, joined["deal_probability"].to_numpy(), bins=5), **report}
    else:
        result = {"on": "the model's own hold-out (too few labelled window purchases: "
                        f"{len(joined)} pairs, {int(y.sum())} deals)", **trained.deal.metrics,
                  "bare_deal_model": trained.deal.extra.get("bare_model_holdout")}
    result["label_threshold_pct"] = trained.deal.extra["threshold_pct"]
    result["training_holdout"] = trained.deal.metrics
    result["training_holdout_bare_deal_model"] = trained.deal.extra.get("bare_model_holdout")
    return result, joined


def _propensity_window(before: pd.DataFrame, after: pd.DataFrame, cutoff: pd.Timestamp,
                       trained: Any, rule: Any = None) -> dict[str, Any]:
    """A snapshot at the cutoff: parcels known then, labelled with a sale in the next 12 months."""
    if trained.propensity is None:
        return {"skipped": trained.skipped.get("sale_propensity")}
    x = propensity_inputs(before, cutoff, AsOfIndexes(before), rule)
    horizon = pd.to_datetime(after["sale_date"]) < cutoff + pd.DateOffset(months=12)
    y = x["parcel_id"].isin(after.loc[horizon, "parcel_id"]).astype(int).to_numpy()
    return {"on": f"snapshot {cutoff.date()}, {len(x)} parcels", **classification_metrics(
        y, trained.propensity.predict_proba(x))}


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
