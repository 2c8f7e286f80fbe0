"""Automated valuation model (AVM): LightGBM on log sale price, evaluated on a time hold-out.

Metrics follow the assessors' ratio study (IAAO): MdAPE, PE10/PE20, COD, PRD and PRB, as the
Cook County Assessor's open model reports them. The registered model is refit on every sale
with the same settings after the hold-out evaluation, so current values use recent sales;
the metrics describe that procedure on the newest sales it had not seen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

NUMERIC = ["living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "age_years", "eff_age_years",
           "waterfront", "latitude", "longitude", "sale_months"]
CATEGORICAL = ["use_type", "neighborhood"]
MODEL_FEATURES = NUMERIC + CATEGORICAL
EPOCH = pd.Timestamp("2000-01-01")

FEATURE_LABELS = {
    "living_sqft": "living area", "lot_sqft": "lot size", "beds": "bedrooms", "baths": "bathrooms",
    "bldg_grade": "building grade", "age_years": "age", "eff_age_years": "effective age",
    "waterfront": "waterfront", "latitude": "location (north-south)",
    "longitude": "location (east-west)", "sale_months": "market date", "use_type": "property type",
    "neighborhood": "assessor area",
}


@dataclass(frozen=True)
class AvmSettings:
    num_boost_round: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 20
    holdout_fraction: float = 0.2
    seed: int = 7

    def params(self) -> dict[str, Any]:
        return {"objective": "regression", "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_data_in_leaf,
                "seed": self.seed, "deterministic": True, "force_row_wise": True,
                "num_threads": 2, "verbosity": -1}


def months_since_epoch(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(dates)
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


@dataclass
class TrainedAvm:
    booster: lgb.Booster
    categories: dict[str, list[str]]
    settings: AvmSettings
    metrics: dict[str, float] = field(default_factory=dict)
    training_start: str = ""
    training_end: str = ""
    holdout_start: str = ""

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[MODEL_FEATURES].copy()
        for column in CATEGORICAL:
            out[column] = pd.Categorical(out[column].astype("string"), categories=self.categories[column])
        for column in NUMERIC:
            out[column] = out[column].astype(float)
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.exp(self.booster.predict(self.encode(frame)))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP contributions in log-price space; columns add up to log(prediction)."""
        raw = self.booster.predict(self.encode(frame), pred_contrib=True)
        return pd.DataFrame(raw, columns=[*MODEL_FEATURES, "bias"], index=frame.index)

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": "reos-avm-1", "model": self.booster.model_to_string(),
            "categories": self.categories, "settings": self.settings.__dict__,
            "metrics": self.metrics, "training_start": self.training_start,
            "training_end": self.training_end, "holdout_start": self.holdout_start,
        }).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> TrainedAvm:
        data = json.loads(payload)
        if data.get("format") != "reos-avm-1":
            raise ValueError("not a Real Estate OS AVM artifact")
        return cls(booster=lgb.Booster(model_str=data["model"]), categories=data["categories"],
                   settings=AvmSettings(**data["settings"]), metrics=data["metrics"],
                   training_start=data["training_start"], training_end=data["training_end"],
                   holdout_start=data["holdout_start"])


def _fit(frame: pd.DataFrame, categories: dict[str, list[str]], settings: AvmSettings) -> lgb.Booster:
    holder = TrainedAvm(booster=None, categories=categories, settings=settings)  # type: ignore[arg-type]
    dataset = lgb.Dataset(holder.encode(frame), label=np.log(frame["sale_price"].to_numpy()),
                          categorical_feature=CATEGORICAL, free_raw_data=True)
    return lgb.train(settings.params(), dataset, num_boost_round=settings.num_boost_round)


def train_avm(sales: pd.DataFrame, settings: AvmSettings) -> TrainedAvm:
    frame = training_frame(sales).sort_values("sale_date", kind="stable").reset_index(drop=True)
    if len(frame) < 50:
        raise ValueError(f"the AVM needs at least 50 sales to train and evaluate; got {len(frame)}")
    categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
    cut = int(len(frame) * (1 - settings.holdout_fraction))
    train, holdout = frame.iloc[:cut], frame.iloc[cut:]
    evaluation = TrainedAvm(_fit(train, categories, settings), categories, settings)
    metrics = ratio_study(evaluation.predict(holdout), holdout["sale_price"].to_numpy())
    metrics["train_rows"] = len(train)
    final = TrainedAvm(_fit(frame, categories, settings), categories, settings, metrics=metrics,
                       training_start=str(frame["sale_date"].min().date()),
                       training_end=str(frame["sale_date"].max().date()),
                       holdout_start=str(holdout["sale_date"].min().date()))
    return final


def training_fingerprint(sales: pd.DataFrame, settings: AvmSettings) -> str:
    """Same sales and settings → same version, so a re-run re-registers, never duplicates."""
    frame = training_frame(sales).sort_values(["sale_date", "sale_price", "latitude"], kind="stable")
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(json.dumps(settings.__dict__, sort_keys=True).encode())
    return digest.hexdigest()[:12]
