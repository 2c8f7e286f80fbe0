"""Train every scoring model from a county's sales, and score prospects with them.

Shared by the `ml_model`/`scores` assets and `reos backtest`, so the backtest measures
exactly what production runs. No Dagster imports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import ScoringConfig
from realestate_assets.market.index import AsOfIndexes
from realestate_assets.ml.avm import AvmSettings, TrainedAvm, scoring_frame, train_avm
from realestate_assets.ml.classifier import ClassifierSettings, TrainedClassifier
from realestate_assets.ml.deal import (
    LABELS,
    deal_inputs_from_features,
    propensity_inputs_from_features,
    train_deal_model,
    train_propensity_model,
)
from realestate_assets.ml.scoring import (
    MODEL_WEIGHTS,
    SALE_FLAG_COLUMNS,
    WEIGHTS,
    bird_dog_score,
    component_reasons,
    comps_value,
    dedupe_reasons,
    driver_factors,
    factor_reasons,
    model_bird_dog_score,
    model_components,
    owner_reasons,
    score_components,
    suspect_sale,
    top_factors,
    value_gap_pct,
)
from realestate_assets.ml.tuning import search_space

Progress = Callable[[int], None] | None


def avm_settings(scoring: ScoringConfig) -> AvmSettings:
    return AvmSettings(num_boost_round=scoring.num_boost_round, learning_rate=scoring.learning_rate,
                       num_leaves=scoring.num_leaves, min_data_in_leaf=scoring.min_data_in_leaf,
                       holdout_fraction=scoring.holdout_fraction, seed=scoring.seed, trials=scoring.avm_trials,
                       cv_folds=scoring.cv_folds, space=search_space("avm", scoring))


def classifier_settings(scoring: ScoringConfig, trials: int) -> ClassifierSettings:
    return ClassifierSettings(trials=trials, cv_folds=scoring.cv_folds, holdout_fraction=scoring.holdout_fraction,
                              seed=scoring.seed, space=search_space("classifier", scoring))


@dataclass
class Trained:
    avm: TrainedAvm
    deal: TrainedClassifier | None = None
    propensity: TrainedClassifier | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # model → why it was not trained
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU: honest on a busy machine


def train_all(sales: pd.DataFrame, scoring: ScoringConfig, compare: bool = True,
              progress: Callable[[str, int], None] | None = None) -> Trained:
    """AVM (required) and the deal and sale-propensity classifiers (skipped, with the reason,
    when the county's history cannot support them)."""
    def step(name: str) -> Progress:
        return (lambda n: progress(name, n)) if progress else None

    started, cpu = time.perf_counter(), time.process_time()
    indexes = AsOfIndexes(sales)  # one cache of as-of indexes for the AVM's comps and the classifiers
    comps = scoring.comps
    avm = train_avm(sales, avm_settings(scoring), compare=compare, progress=step("avm"),
                    baseline_comps=scoring.baseline_comps, comps=comps, indexes=indexes)
    trained = Trained(avm=avm, seconds={"avm": time.perf_counter() - started},
                      cpu_seconds={"avm": time.process_time() - cpu})
    for name, train in (("deal", lambda: train_deal_model(sales, comps, classifier_settings(
                            scoring, scoring.deal_trials), indexes, step("deal"),
                            avm_settings(scoring))),
                        ("sale_propensity", lambda: train_propensity_model(sales, classifier_settings(
                            scoring, scoring.propensity_trials), indexes, step("sale_propensity"), comps))):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            model = train()
        except ValueError as exc:  # too little history: say so, score without it
            trained.skipped[name] = str(exc)
            continue
        finally:
            trained.seconds[name] = time.perf_counter() - started
            trained.cpu_seconds[name] = time.process_time() - cpu
        if name == "deal":
            trained.deal = model
        else:
            trained.propensity = model
    return trained


@dataclass
class Scored:
    frame: pd.DataFrame
    method: str
    explained: int
    explain_seconds: float
    predict_seconds: float
    suspect_sales: int = 0  # rows whose last sale was kept out of equity and the value gap


# What the county-wide part of scoring reads of each feature row, besides the predictions: the
# percentiles' raw values (`model_components` / `score_components`) and the output's keys. The
# other feature columns are needed only per chunk (predictions) or per explained row (reasons).
COUNTY_WIDE_COLUMNS = ["prospect_key", "as_of_date", "last_sale_price_indexed", "years_since_last_sale",
                       "eff_age_years", "comps_median_price_per_sqft", "living_sqft"]


def score_features(features: pd.DataFrame, avm: TrainedAvm, deal: TrainedClassifier | None,
                   propensity: TrainedClassifier | None, versions: dict[str, str], scoring: ScoringConfig,
                   explain: bool = True, explain_keys: Collection[str] | None = None) -> Scored:
    """Value, probabilities, the 0-100 score, rank and — only for rows that will be read — reasons.

    `explain_keys` explains exactly those prospects instead (reasons on demand). One frame in
    memory: `score_chunks` with a single chunk (the `scores` asset streams the county)."""
    scored = score_chunks([features], avm, deal, propensity, versions, scoring,
                          rows_for=lambda chosen: features.iloc[chosen.index], explain=explain,
                          explain_keys=explain_keys)
    scored.frame.index = features.index
    return scored


def score_chunks(chunks: Iterable[pd.DataFrame], avm: TrainedAvm, deal: TrainedClassifier | None,
                 propensity: TrainedClassifier | None, versions: dict[str, str], scoring: ScoringConfig,
                 rows_for: Callable[[pd.DataFrame], pd.DataFrame], explain: bool = True,
                 explain_keys: Collection[str] | None = None) -> Scored:
    """`score_features` over a county given as consecutive chunks of feature rows, in memory
    bounded by the chunk plus a few columns per row (issue 17).

    Per chunk (per row, so chunking changes nothing): the AVM's value and range, the deal and
    sale probabilities, the suspect-sale rule, and the `COUNTY_WIDE_COLUMNS`. County-wide, from
    those columns only: the components' percentiles, the score, its rank and which rows are
    explained. `rows_for(chosen)` gives the full feature rows of the chosen rows (a frame of
    them, positions in the county as its index), in their order: only they are explained.
    """
    predicted_seconds = 0.0
    parts: list[pd.DataFrame] = []
    for features in chunks:
        chunk_started = time.perf_counter()
        parts.append(_predict_chunk(features, avm, deal, propensity, scoring))
        predicted_seconds += time.perf_counter() - chunk_started
    started = time.perf_counter()
    county = pd.concat(parts, ignore_index=True, copy=False) if len(parts) != 1 else \
        parts[0].reset_index(drop=True)
    del parts
    estimated, deal_p, sale_p = county["estimated_value"], county["deal_probability"], county["sale_probability"]
    price, priced, suspect = county["price"], county["priced"].astype(bool), county["suspect"]
    if propensity is not None:
        method, weights = "models", MODEL_WEIGHTS
        components = model_components(county, estimated, deal_p, sale_p, price.where(priced), suspect)
    else:
        method, weights = "rule (sale-propensity model unavailable)", WEIGHTS
        components = score_components(county, estimated, suspect)
    score = model_bird_dog_score(components) if weights is MODEL_WEIGHTS else bird_dog_score(components, weights)
    reference = county["last_sale_price_indexed"].where(suspect.isna()).where(~priced, price)
    gap = value_gap_pct(estimated, reference)
    rank = score.rank(ascending=False, method="first").astype(int)
    predict_seconds = predicted_seconds + time.perf_counter() - started

    started = time.perf_counter()
    to_explain = ((score >= scoring.packet_threshold) | (rank <= scoring.explain_top_n)) if explain else \
        pd.Series(False, index=county.index)
    if scoring.explain_max_rows:  # an explicit budget: the best-ranked candidates first
        to_explain &= rank <= max(scoring.explain_max_rows, scoring.explain_top_n)
    if explain_keys is not None:
        to_explain = county["prospect_key"].isin(list(explain_keys))
    chosen = county.loc[to_explain, ["prospect_key"]]
    rows = rows_for(chosen).set_axis(chosen.index) if len(chosen) else chosen.iloc[:0]
    estimated_rows = estimated.loc[chosen.index]
    breakdown = explain_rows(rows, scoring_frame(rows) if len(rows) else rows,
                             components.loc[chosen.index], gap.loc[chosen.index], avm, deal, propensity,
                             deal_inputs_from_features(rows, estimated_rows) if len(rows) else rows,
                             propensity_inputs_from_features(rows) if len(rows) else rows,
                             priced.loc[chosen.index], suspect.loc[chosen.index])
    all_breakdown = pd.Series([None] * len(county), index=county.index, dtype=object)
    for key, value in breakdown.items():
        all_breakdown.at[key] = value
    explain_seconds = time.perf_counter() - started
    frame = pd.DataFrame({
        "prospect_key": county["prospect_key"],
        "as_of_date": county["as_of_date"],
        "estimated_value": estimated.round(0),
        "estimated_value_low": county["estimated_value_low"].round(0),
        "estimated_value_high": county["estimated_value_high"].round(0),
        "value_gap_pct": gap.round(2),
        "bird_dog_score": score,
        "score_rank": rank,
        "score_components": _records(components),
        "score_breakdown": all_breakdown,
        "model_version": versions["avm"],
        "deal_probability": deal_p.round(4),
        "sale_probability_12m": sale_p.round(4),
        "model_versions": [versions] * len(county),
    })
    return Scored(frame, method, int(to_explain.sum()), explain_seconds, predict_seconds,
                  int((suspect.notna() & ~priced).sum()))


def _predict_chunk(features: pd.DataFrame, avm: TrainedAvm, deal: TrainedClassifier | None,
                   propensity: TrainedClassifier | None, scoring: ScoringConfig) -> pd.DataFrame:
    """What the county-wide part of `score_chunks` needs of these rows: `COUNTY_WIDE_COLUMNS`,
    the predictions, the asking price and the suspect-sale reason."""
    inputs = scoring_frame(features)
    # The value at the as-of date's market (projected past the training months) and its 80% range.
    valuation = avm.estimate(inputs, features["as_of_date"]).set_axis(features.index)
    estimated = valuation["estimated_value"]
    price = features["list_price"].astype(float) if "list_price" in features else \
        pd.Series(np.nan, index=features.index)
    priced = price.notna() & (price > 0)
    deal_p = pd.Series(np.nan, index=features.index)
    if deal is not None and priced.any():
        deal_x = deal_inputs_from_features(features, estimated)
        deal_p[priced] = deal.predict_proba(deal_x.loc[priced])
    sale_p = pd.Series(propensity.predict_proba(propensity_inputs_from_features(features)),
                       index=features.index) if propensity is not None else pd.Series(np.nan, index=features.index)
    # A last sale likely not at market value says nothing about equity: left out of it and of the gap.
    flags = [c for c in SALE_FLAG_COLUMNS if c in features.columns]
    suspect = suspect_sale(features["last_sale_price_indexed"], comps_value(features), scoring.suspect_sale,
                           features[flags] if flags else None)
    out = features[COUNTY_WIDE_COLUMNS].copy()
    for column in ("estimated_value", "estimated_value_low", "estimated_value_high"):
        out[column] = valuation[column]
    out["deal_probability"], out["sale_probability"] = deal_p, sale_p
    out["price"], out["priced"], out["suspect"] = price, priced, suspect
    return out


def explain_rows(features: pd.DataFrame, inputs: pd.DataFrame, components: pd.DataFrame, gap: pd.Series,
                 avm: TrainedAvm, deal: TrainedClassifier | None, propensity: TrainedClassifier | None,
                 deal_x: pd.DataFrame, prop_x: pd.DataFrame, priced: pd.Series,
                 suspect: pd.Series | None = None) -> dict[Any, dict[str, Any]]:
    """SHAP reasons (LightGBM pred_contrib) for the given rows only: value, deal and sale drivers.

    `reasons` states each fact once (`dedupe_reasons`); `reason_facts` names the fact of each."""
    if features.empty:
        return {}
    contributions = avm.contributions(inputs)
    value_factors = top_factors(contributions, inputs)
    sale_drivers = driver_factors(propensity.contributions(prop_x), prop_x, "the chance of a sale within 12 months",
                                  labels=LABELS) if propensity is not None else [[] for _ in range(len(features))]
    deal_drivers: dict[Any, list[dict]] = {}
    if deal is not None and priced.any():
        rows = deal_x.loc[priced]
        for key, factors in zip(rows.index, driver_factors(deal.contributions(rows), rows, "the deal probability",
                                                           labels=LABELS), strict=True):
            deal_drivers[key] = factors
    out = {}
    feature_rows = features.to_dict("records")
    component_rows = components.to_dict("records")
    for position, key in enumerate(features.index):
        row = feature_rows[position]  # plain dicts: component_reasons/owner_reasons only .get() and []
        why_suspect = None if suspect is None or priced.loc[key] else suspect.loc[key]
        reasons, facts = dedupe_reasons(
            component_reasons(component_rows[position], row, gap.loc[key], why_suspect)
            + factor_reasons(deal_drivers.get(key, [])[:2]) + factor_reasons(sale_drivers[position][:2])
            + owner_reasons(row))
        out[key] = {"value_factors": value_factors[position], "deal_drivers": deal_drivers.get(key, []),
                    "sale_drivers": sale_drivers[position], "reasons": reasons, "reason_facts": facts,
                    "suspect_sale": why_suspect, "base_value": float(np.exp(contributions.at[key, "bias"]))}
    return out


def _records(components: pd.DataFrame) -> list[dict[str, float | None]]:
    """Per-row dicts of rounded percentiles, missing as None (vectorized: 1M rows in seconds)."""
    rounded = components.astype(float).round(4)
    return rounded.astype(object).where(rounded.notna(), None).to_dict("records")
