"""A calibrated LightGBM classifier, tuned with Optuna on time-ordered folds. No Dagster imports.

Used by the deal model and the sale-propensity model. Rows are sorted by their time column;
the newest `holdout_fraction` is the hold-out. Tuning (mean AUC over expanding time folds)
and calibration (Platt scaling fitted on out-of-fold margins from the same folds) use the
older part only, so the hold-out metrics are honest. The final booster is refit on every
row with the tuned settings; the evaluation booster is kept for promotion contests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from realestate_assets.ml import treeshap
from realestate_assets.ml.compiled import Forest, predict
from realestate_assets.ml.tuning import TuningSettings, optuna_search, time_series_folds

# The deal and sale-propensity models are tuned alike (search space `search_spaces.classifier`).
ClassifierSettings = TuningSettings


def _base(seed: int) -> dict[str, Any]:
    return {"objective": "binary", "seed": seed, "deterministic": True, "force_row_wise": True,
            "num_threads": 1, "verbosity": -1}


DEFAULT_PARAMS = {"learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 20, "feature_fraction": 0.8,
                  "lambda_l2": 1.0, "num_boost_round": 150}


def encode(frame: pd.DataFrame, numeric: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in numeric:
        out[column] = frame[column].astype(float) if column in frame else np.nan
    for column, levels in categories.items():
        out[column] = pd.Categorical(frame[column].astype("string"), categories=levels)
    return out


def auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def precision_at(y: np.ndarray, score: np.ndarray, share: float = 0.10) -> float:
    n = max(1, int(np.ceil(len(y) * share)))
    top = np.argsort(-np.asarray(score), kind="stable")[:n]
    return float(np.asarray(y)[top].mean()) if len(y) else float("nan")


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted vs observed rate per equal-count bin (the calibration plot's points)."""
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, min(bins, max(1, len(p)))):
        if len(chunk):
            out.append({"predicted": float(np.mean(p[chunk])), "observed": float(np.mean(y[chunk])),
                        "n": len(chunk)})
    return out


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, log_loss

    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = 0 < y.sum() < len(y)
    return {"n": len(y), "positives": int(y.sum()), "base_rate": float(y.mean()) if len(y) else float("nan"),
            "auc": auc(y, p), "precision_at_top5_pct": precision_at(y, p, 0.05),
            "precision_at_top10_pct": precision_at(y, p, 0.10),
            "lift_at_top10": precision_at(y, p, 0.10) / y.mean() if y.mean() > 0 else float("nan"),
            "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
            "log_loss": float(log_loss(y, p, labels=[0, 1])) if both else float("nan"),
            "mean_predicted": float(p.mean()) if len(p) else float("nan")}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class TrainedClassifier:
    name: str
    booster: lgb.Booster
    numeric: list[str]
    categories: dict[str, list[str]]
    calibration: tuple[float, float] = (1.0, 0.0)  # Platt: p = sigmoid(a * margin + b)
    eval_booster: lgb.Booster | None = None
    eval_calibration: tuple[float, float] = (1.0, 0.0)
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tuning: dict[str, Any] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    calibration_points: list[dict[str, float]] = field(default_factory=list)
    training_start: str = ""
    training_end: str = ""
    holdout_start: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the deal label's threshold
    # The final booster's trees compiled (`ml/compiled.py`), set by whoever predicts many rows
    # (`registry.load_active_models(compiled_trees=True)`); not part of the artifact.
    forest: Forest | None = field(default=None, repr=False, compare=False)

    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric, *self.categories]

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return encode(frame, self.numeric, self.categories)

    def margin(self, frame: pd.DataFrame, holdout: bool = False) -> np.ndarray:
        booster = self.eval_booster if holdout and self.eval_booster is not None else self.booster
        return predict(booster, self.encode(frame), True, self.forest)

    def predict_proba(self, frame: pd.DataFrame, holdout: bool = False) -> np.ndarray:
        a, b = self.eval_calibration if holdout and self.eval_booster is not None else self.calibration
        return sigmoid(a * self.margin(frame, holdout) + b)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions in margin (log-odds) space; the columns add up to the margin."""
        raw = treeshap.contributions(self.booster, self.encode(frame))  # LightGBM's pred_contrib, to the bit
        return pd.DataFrame(raw, columns=[*self.feature_names, "bias"], index=frame.index)

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": "reos-classifier-1", "name": self.name, "model": self.booster.model_to_string(),
            "eval_model": self.eval_booster.model_to_string() if self.eval_booster else None,
            "numeric": self.numeric, "categories": self.categories, "calibration": list(self.calibration),
            "eval_calibration": list(self.eval_calibration), "metrics": self.metrics, "params": self.params,
            "tuning": self.tuning, "importance": self.importance, "calibration_points": self.calibration_points,
            "training_start": self.training_start, "training_end": self.training_end,
            "holdout_start": self.holdout_start, "extra": self.extra,
        }, default=float).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> TrainedClassifier:
        data = json.loads(payload)
        if data.get("format") != "reos-classifier-1":
            raise ValueError("not a Real Estate OS classifier artifact")
        return cls(name=data["name"], booster=lgb.Booster(model_str=data["model"]), numeric=data["numeric"],
                   categories=data["categories"], calibration=tuple(data["calibration"]),
                   eval_booster=lgb.Booster(model_str=data["eval_model"]) if data["eval_model"] else None,
                   eval_calibration=tuple(data["eval_calibration"]), metrics=data["metrics"],
                   params=data["params"], tuning=data["tuning"], importance=data["importance"],
                   calibration_points=data["calibration_points"], training_start=data["training_start"],
                   training_end=data["training_end"], holdout_start=data["holdout_start"], extra=data["extra"])


def _fit(x: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
    params = dict(params)
    rounds = int(params.pop("num_boost_round"))
    categorical = [c for c in x.columns if isinstance(x[c].dtype, pd.CategoricalDtype)]
    return lgb.train(params, lgb.Dataset(x, label=y, categorical_feature=categorical or "auto"),
                     num_boost_round=rounds)


def _oof_margins(x: pd.DataFrame, y: np.ndarray, params: dict[str, Any],
                 folds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    idx, margins = [], []
    for train_idx, valid_idx in folds:
        if 0 < y[train_idx].sum() < len(train_idx):
            booster = _fit(x.iloc[train_idx], y[train_idx], params)
            idx.append(valid_idx)
            margins.append(booster.predict(x.iloc[valid_idx], raw_score=True))
    if not idx:
        return np.array([], dtype=int), np.array([])
    return np.concatenate(idx), np.concatenate(margins)


def platt(margins: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic fit of the labels on the margins; identity when it cannot be fitted."""
    from sklearn.linear_model import LogisticRegression

    if len(y) < 10 or not 0 < y.sum() < len(y):
        return (1.0, 0.0)
    fit = LogisticRegression(C=1e4).fit(margins.reshape(-1, 1), y)
    return (float(fit.coef_[0][0]), float(fit.intercept_[0]))


def tune(x: pd.DataFrame, y: np.ndarray, settings: ClassifierSettings,
         progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Optuna over `settings.space`, scored by mean AUC over time-series folds."""
    folds = time_series_folds(len(x), settings.cv_folds, min_train=40)
    if settings.trials <= 0:
        return _base(settings.seed) | DEFAULT_PARAMS, {"trials": 0}

    def objective(drawn: dict[str, Any]) -> float:
        params = _base(settings.seed) | DEFAULT_PARAMS | drawn
        scores = []
        for train_idx, valid_idx in folds:
            if not 0 < y[train_idx].sum() < len(train_idx):
                continue
            booster = _fit(x.iloc[train_idx], y[train_idx], params)
            value = auc(y[valid_idx], booster.predict(x.iloc[valid_idx], raw_score=True))
            if np.isfinite(value):
                scores.append(value)
        return float(np.mean(scores)) if scores else 0.5

    best, summary = optuna_search(objective, settings.space, DEFAULT_PARAMS, settings.trials, settings.seed,
                                  "maximize", progress)
    return _base(settings.seed) | DEFAULT_PARAMS | best, {
        "trials": summary["trials"], "cv_folds": len(folds), "best_cv_auc": summary["best"],
        "first_trial_cv_auc": summary["first_trial"]}


def train_classifier(name: str, frame: pd.DataFrame, label: str, time_column: str, numeric: list[str],
                     categorical: list[str], settings: ClassifierSettings,
                     progress: Callable[[int], None] | None = None) -> TrainedClassifier:
    """Tune, calibrate, evaluate on the newest rows, refit on all rows."""
    data = frame.sort_values(time_column, kind="stable").reset_index(drop=True)
    y_all = data[label].to_numpy(dtype=int)
    if len(data) < 60 or y_all.sum() < 10:
        raise ValueError(f"{name}: needs at least 60 rows and 10 positives; got {len(data)} and {y_all.sum()}")
    categories = {c: sorted(data[c].dropna().astype(str).unique().tolist()) for c in categorical}
    x_all = encode(data, numeric, categories)
    cut = int(len(data) * (1 - settings.holdout_fraction))
    x_train, y_train = x_all.iloc[:cut], y_all[:cut]
    x_hold, y_hold = x_all.iloc[cut:], y_all[cut:]
    params, tuning = tune(x_train, y_train, settings, progress)
    folds = time_series_folds(len(x_train), settings.cv_folds, min_train=40)
    oof_idx, oof_margin = _oof_margins(x_train, y_train, params, folds)
    eval_cal = platt(oof_margin, y_train[oof_idx])
    evaluation = _fit(x_train, y_train, params)
    p_hold = sigmoid(eval_cal[0] * evaluation.predict(x_hold, raw_score=True) + eval_cal[1])
    metrics = classification_metrics(y_hold, p_hold)
    metrics["train_rows"] = len(x_train)
    all_folds = time_series_folds(len(x_all), settings.cv_folds, min_train=40)
    all_idx, all_margin = _oof_margins(x_all, y_all, params, all_folds)
    final = _fit(x_all, y_all, params)
    gain = pd.Series(final.feature_importance("gain"), index=final.feature_name())
    times = pd.to_datetime(data[time_column])
    return TrainedClassifier(
        name=name, booster=final, numeric=list(numeric), categories=categories,
        calibration=platt(all_margin, y_all[all_idx]), eval_booster=evaluation, eval_calibration=eval_cal,
        metrics=metrics, params=params, tuning=tuning,
        importance=(gain / gain.sum() if gain.sum() > 0 else gain).round(4).to_dict(),
        calibration_points=calibration_bins(y_hold, p_hold),
        training_start=str(times.min().date()), training_end=str(times.max().date()),
        holdout_start=str(times.iloc[cut].date()))
