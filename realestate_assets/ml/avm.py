"""Automated valuation model (AVM): LightGBM on log sale price, evaluated on a time hold-out.

Stages follow the Cook County Assessor's open model (ccao-data/model-res-avm):

* train: sales sorted by date; the newest `holdout_fraction` are the hold-out. Hyperparameters
  are tuned with Optuna on the older part only, by time-series cross-validation (each fold
  validates on sales newer than the ones it trained on); the configured settings are always
  the first trial, so tuning never loses to them on the folds. The trial budget and the
  search space are config (`ml/tuning.py`, shared with the classifiers).
* evaluate: the IAAO ratio study (MdAPE, PE10/PE20, median error, COD, PRD, PRB) on the
  hold-out, next to a size-adjusted nearest-comps valuation and a hedonic OLS fitted on the
  same training sales (`baselines.py`), and the AVM re-indexed monthly along the hedonic
  market index (each hold-out sale re-indexed with sales before its month only).
* register: the artifact keeps the evaluation booster (trained before the hold-out) for
  promotion contests, and a final booster refit on every sale with the tuned settings, so
  current values use recent sales; the metrics describe that procedure on sales it had not seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from realestate_assets.config_models import CompsSettings
from realestate_assets.market.index import month_start
from realestate_assets.ml.tuning import TuningSettings, optuna_search, search_space, time_series_folds

NUMERIC = ["living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "age_years", "eff_age_years",
           "waterfront", "latitude", "longitude", "sale_months"]
CATEGORICAL = ["use_type", "neighborhood"]
MODEL_FEATURES = NUMERIC + CATEGORICAL
EPOCH = pd.Timestamp("2000-01-01")
ARTIFACT_FORMAT = "reos-avm-2"

FEATURE_LABELS = {
    "living_sqft": "living area", "lot_sqft": "lot size", "beds": "bedrooms", "baths": "bathrooms",
    "bldg_grade": "building grade", "age_years": "age", "eff_age_years": "effective age",
    "waterfront": "waterfront", "latitude": "location (north-south)",
    "longitude": "location (east-west)", "sale_months": "market date", "use_type": "property type",
    "neighborhood": "assessor area",
}


@dataclass(frozen=True)
class AvmSettings(TuningSettings):
    """The AVM's starting LightGBM settings (Optuna's first trial) and how it is tuned."""

    trials: int = 0  # Optuna trials; 0 = use the settings below as they are
    space: dict[str, dict] = field(default_factory=lambda: search_space("avm"))
    num_boost_round: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 20

    def params(self) -> dict[str, Any]:
        return base_params(self.seed) | {"learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                                         "min_data_in_leaf": self.min_data_in_leaf,
                                         "num_boost_round": self.num_boost_round}


def base_params(seed: int) -> dict[str, Any]:
    return {"objective": "regression", "seed": seed, "deterministic": True, "force_row_wise": True,
            "num_threads": 1, "verbosity": -1}  # small data: 1 thread is fastest here


def months_since_epoch(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(pd.Series(dates))
    return ((stamps.dt.year - EPOCH.year) * 12 + (stamps.dt.month - 1)
            + (stamps.dt.day - 1) / 31.0).to_numpy(dtype=float)


def training_frame(sales: pd.DataFrame) -> pd.DataFrame:
    """Model inputs describing each sold house at its sale date, plus price and date."""
    return pd.DataFrame({
        "living_sqft": sales["living_sqft"], "lot_sqft": sales["lot_sqft"], "beds": sales["beds"],
        "baths": sales["baths"], "bldg_grade": sales["bldg_grade"],
        "age_years": sales["age_at_sale"], "eff_age_years": sales["eff_age_at_sale"],
        "waterfront": sales["waterfront"].astype(float), "latitude": sales["latitude"],
        "longitude": sales["longitude"], "sale_months": months_since_epoch(sales["sale_date"]),
        "use_type": sales["use_type"], "neighborhood": sales["neighborhood"],
        "sale_price": sales["sale_price"].astype(float),
        "sale_date": pd.to_datetime(sales["sale_date"]),
    }).reset_index(drop=True)


def scoring_frame(features: pd.DataFrame) -> pd.DataFrame:
    """Model inputs for prospects today: the house as known, priced at the as-of date."""
    frame = features[[c for c in MODEL_FEATURES if c != "sale_months"]].copy()
    frame["sale_months"] = months_since_epoch(features["as_of_date"])
    return frame[MODEL_FEATURES]


def ratio_study(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """IAAO ratio statistics plus the AVM error rates, on predicted vs actual prices."""
    predicted = np.asarray(predicted, dtype=float)
    actual = np.asarray(actual, dtype=float)
    ok = np.isfinite(predicted) & np.isfinite(actual) & (actual > 0) & (predicted > 0)
    predicted, actual = predicted[ok], actual[ok]
    ratio = predicted / actual
    median_ratio = float(np.median(ratio))
    ape = np.abs(predicted - actual) / actual
    value_proxy = 0.5 * predicted / median_ratio + 0.5 * actual
    prb_slope = np.polyfit(np.log2(value_proxy), (ratio - median_ratio) / median_ratio, 1)[0]
    return {
        "n": len(actual),
        "mdape_pct": float(np.median(ape) * 100),
        "pe10_pct": float(np.mean(ape <= 0.10) * 100),
        "pe20_pct": float(np.mean(ape <= 0.20) * 100),
        "median_error_pct": float(np.median((predicted - actual) / actual) * 100),
        "median_ratio": median_ratio,
        "cod": float(np.mean(np.abs(ratio - median_ratio)) / median_ratio * 100),
        "prd": float(np.mean(ratio) / (predicted.sum() / actual.sum())),
        "prb": float(prb_slope),
    }


def encode(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    out = frame[MODEL_FEATURES].copy()
    for column in CATEGORICAL:
        out[column] = pd.Categorical(out[column].astype("string"), categories=categories[column])
    for column in NUMERIC:
        out[column] = out[column].astype(float)
    return out


@dataclass
class TrainedAvm:
    booster: lgb.Booster
    categories: dict[str, list[str]]
    settings: AvmSettings
    metrics: dict[str, float] = field(default_factory=dict)
    training_start: str = ""
    training_end: str = ""
    holdout_start: str = ""
    eval_booster: lgb.Booster | None = None  # trained before the hold-out: promotion contests
    params: dict[str, Any] = field(default_factory=dict)  # the tuned LightGBM parameters used
    comparison: dict[str, dict[str, float]] = field(default_factory=dict)  # AVM vs baselines
    tuning: dict[str, Any] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)  # gain share per feature

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return encode(frame, self.categories)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.exp(self.booster.predict(self.encode(frame)))

    def predict_holdout(self, frame: pd.DataFrame) -> np.ndarray:
        """Values from the booster that never saw the hold-out (falls back to the final one)."""
        return np.exp((self.eval_booster or self.booster).predict(self.encode(frame)))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP contributions in log-price space; columns add up to log(prediction)."""
        raw = self.booster.predict(self.encode(frame), pred_contrib=True, num_threads=2)
        return pd.DataFrame(raw, columns=[*MODEL_FEATURES, "bias"], index=frame.index)

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": ARTIFACT_FORMAT, "model": self.booster.model_to_string(),
            "eval_model": self.eval_booster.model_to_string() if self.eval_booster else None,
            "categories": self.categories, "settings": asdict(self.settings), "params": self.params,
            "metrics": self.metrics, "comparison": self.comparison, "tuning": self.tuning,
            "importance": self.importance, "training_start": self.training_start,
            "training_end": self.training_end, "holdout_start": self.holdout_start,
        }).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> TrainedAvm:
        data = json.loads(payload)
        if data.get("format") not in ("reos-avm-1", ARTIFACT_FORMAT):
            raise ValueError("not a Real Estate OS AVM artifact")
        eval_model = data.get("eval_model")
        return cls(booster=lgb.Booster(model_str=data["model"]), categories=data["categories"],
                   settings=AvmSettings(**data["settings"]), metrics=data["metrics"],
                   training_start=data["training_start"], training_end=data["training_end"],
                   holdout_start=data["holdout_start"],
                   eval_booster=lgb.Booster(model_str=eval_model) if eval_model else None,
                   params=data.get("params", {}), comparison=data.get("comparison", {}),
                   tuning=data.get("tuning", {}), importance=data.get("importance", {}))


def _fit(frame: pd.DataFrame, categories: dict[str, list[str]], params: dict[str, Any]) -> lgb.Booster:
    params = dict(params)
    rounds = int(params.pop("num_boost_round"))
    dataset = lgb.Dataset(encode(frame, categories), label=np.log(frame["sale_price"].to_numpy()),
                          categorical_feature=CATEGORICAL, free_raw_data=True)
    return lgb.train(params, dataset, num_boost_round=rounds)


def tune(frame: pd.DataFrame, categories: dict[str, list[str]], settings: AvmSettings,
         progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Optuna over `settings.space`, scored by mean MdAPE over time-series folds."""
    defaults = settings.params()
    if settings.trials <= 0:
        return defaults, {"trials": 0}
    folds = time_series_folds(len(frame), settings.cv_folds)

    def objective(drawn: dict[str, Any]) -> float:
        params = defaults | drawn
        errors = []
        for train_idx, valid_idx in folds:
            booster = _fit(frame.iloc[train_idx], categories, params)
            valid = frame.iloc[valid_idx]
            predicted = np.exp(booster.predict(encode(valid, categories)))
            errors.append(float(np.median(np.abs(predicted / valid["sale_price"].to_numpy() - 1))))
        return float(np.mean(errors) * 100)

    # LightGBM's own defaults for what the configured settings leave open (moved onto the ranges).
    first = defaults | {"feature_fraction": 1.0, "lambda_l2": 0.0}
    best, summary = optuna_search(objective, settings.space, first, settings.trials, settings.seed, "minimize",
                                  progress)
    return defaults | best, {"trials": summary["trials"], "cv_folds": len(folds),
                             "best_cv_mdape_pct": summary["best"], "first_trial_cv_mdape_pct": summary["first_trial"]}


def holdout_split(frame: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(frame) * (1 - holdout_fraction))
    return frame.iloc[:cut], frame.iloc[cut:]


def compare_valuations(sales: pd.DataFrame, cut_rows: int, avm_holdout_values: np.ndarray,
                       training_last_month: pd.Timestamp,
                       baseline_comps: CompsSettings | None = None) -> dict[str, dict[str, float]]:
    """AVM vs nearest comps vs hedonic OLS on the same hold-out, plus the re-indexed AVM."""
    from realestate_assets.market.index import AsOfIndexes, HedonicIndex
    from realestate_assets.ml.baselines import HedonicOls, nearest_comps_value

    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    train, holdout = ordered.iloc[:cut_rows], ordered.iloc[cut_rows:]
    actual = holdout["sale_price"].to_numpy(dtype=float)
    ols = HedonicOls.fit(train)
    index = HedonicIndex.from_sales(train)
    comps = nearest_comps_value(train, holdout, index, ols.size_elasticity, baseline_comps)
    factor = AsOfIndexes(ordered).reindex_factor(training_last_month, holdout["sale_date"])
    reindexed = avm_holdout_values * np.where(np.isfinite(factor), factor, 1.0)
    return {"avm_lightgbm": ratio_study(avm_holdout_values, actual),
            "avm_lightgbm_reindexed_monthly": ratio_study(reindexed, actual),
            "nearest_comps_size_adjusted": ratio_study(comps, actual),
            "hedonic_ols": ratio_study(ols.predict(holdout), actual)}


def train_avm(sales: pd.DataFrame, settings: AvmSettings, compare: bool = True,
              progress: Callable[[int], None] | None = None,
              baseline_comps: CompsSettings | None = None) -> TrainedAvm:
    frame = training_frame(sales).sort_values("sale_date", kind="stable").reset_index(drop=True)
    if len(frame) < 50:
        raise ValueError(f"the AVM needs at least 50 sales to train and evaluate; got {len(frame)}")
    categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
    train, holdout = holdout_split(frame, settings.holdout_fraction)
    params, tuning = tune(train, categories, settings, progress)
    evaluation = _fit(train, categories, params)
    holdout_values = np.exp(evaluation.predict(encode(holdout, categories)))
    metrics: dict[str, float] = ratio_study(holdout_values, holdout["sale_price"].to_numpy())
    metrics["train_rows"] = len(train)
    comparison = {}
    if compare:
        last_month = month_start(train["sale_date"].max())
        comparison = compare_valuations(sales, len(train), holdout_values, last_month, baseline_comps)
        metrics["reindexed_mdape_pct"] = comparison["avm_lightgbm_reindexed_monthly"]["mdape_pct"]
    final = _fit(frame, categories, params)
    gain = pd.Series(final.feature_importance("gain"), index=final.feature_name())
    return TrainedAvm(final, categories, settings, metrics=metrics,
                      training_start=str(frame["sale_date"].min().date()),
                      training_end=str(frame["sale_date"].max().date()),
                      holdout_start=str(holdout["sale_date"].min().date()),
                      eval_booster=evaluation, params=params, comparison=comparison, tuning=tuning,
                      importance=(gain / gain.sum()).round(4).to_dict())


def training_fingerprint(sales: pd.DataFrame, settings: AvmSettings) -> str:
    """Same sales and settings → same version, so a re-run re-registers, never duplicates."""
    frame = training_frame(sales).sort_values(["sale_date", "sale_price", "latitude"], kind="stable")
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return digest.hexdigest()[:12]
