"""Automated valuation model (AVM): LightGBM on log sale price, evaluated on a time hold-out.

Stages follow the Cook County Assessor's open model (ccao-data/model-res-avm):

* train: sales sorted by date; the newest `holdout_fraction` are the hold-out. Everything that
  is chosen — the features, the hyperparameters, the blend with the comps valuation and the
  interval widths — is chosen on the older part only, by expanding-window time-series
  cross-validation in which each fold's model is *frozen at the fold's cut-off* exactly as the
  production and backtest models are (`FrozenMarket`): the validation sales are valued with
  the comps and the market index known at the cut-off, moved along the index projected past it
  (`market/forecast.py`). The configured LightGBM settings are always the first Optuna trial.
* target: LightGBM learns log price, or log price deflated by the market index of the fold's
  training sales at each sale month (the trees learn the house, the index carries the market
  level, which a tree cannot extrapolate past its last months) — CV chooses.
* loss: squared error on the log target (its conditional mean) or absolute error (its
  conditional median, what MdAPE and the ratio study's median judge, and not pulled by the
  non-market sales a recorded sales file holds) — CV chooses (`LOSSES`).
* neighbours: what comparable sales know is stacked into the model — the comps estimate, its
  spread and count (`COMPS_FEATURES`), computed for every training sale by the one comps rule
  (`market/comps.py`) from sales strictly before it, time-adjusted along the index fitted on
  sales before its month (no leakage) — and the LightGBM value can be blended with the comps
  value (geometric mean, weight chosen on the out-of-fold error). Cross-validation decides
  both: the comps features are kept only when they lower the out-of-fold MdAPE, the blend
  weight is the one with the lowest out-of-fold MdAPE (1.0 = no blend).
* market: `estimate()` moves the value from the last training month to the valuation month
  along the damped-trend projection of the hedonic index fitted on the training sales, plus the
  forecast's drift per month past it (`drift_per_month`, kept when it wins by rolling origin).
* re-indexed mode (between retrains, `reindexed`): the value moved along the as-of index, then
  by its neighbours' residuals since the cut-off (`ml/residuals.py`, share chosen by CV).
* ranges: 80% split-conformal intervals from the out-of-fold residuals, by price band
  (`ml/intervals.py`).
* evaluate: the IAAO ratio study (MdAPE, PE10/PE20, median error, COD, PRD, PRB) and the
  interval coverage on the hold-out, next to a size-adjusted nearest-comps valuation and a
  hedonic OLS fitted on the same training sales (`baselines.py`), and the AVM re-indexed
  monthly along the hedonic market index (each hold-out sale re-indexed with sales before its
  month only).
* register: the artifact keeps the evaluation booster (trained before the hold-out) for
  promotion contests, and a final booster refit on every sale with the chosen settings, so
  current values use recent sales; the metrics describe that procedure on sales it had not seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from realestate_assets.config_models import CompsSettings
from realestate_assets.market.comps import comparable_sales
from realestate_assets.market.forecast import MarketForecast
from realestate_assets.market.index import AsOfIndexes, HedonicIndex, month_start
from realestate_assets.ml import treeshap
from realestate_assets.ml.compiled import Forest, predict
from realestate_assets.ml.intervals import PriceBandIntervals, interval_metrics
from realestate_assets.ml.residuals import SHRINKS, corrected, neighbour_residuals
from realestate_assets.ml.tuning import (
    TuningSettings,
    optuna_search,
    search_space,
    time_series_folds,
)

NUMERIC = ["living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "age_years", "eff_age_years",
           "waterfront", "latitude", "longitude", "sale_months"]
CATEGORICAL = ["use_type", "neighborhood"]
BASE_FEATURES = NUMERIC + CATEGORICAL
COMPS_FEATURES = ["comps_value", "comps_value_spread_pct", "comps_count"]
MODEL_FEATURES = BASE_FEATURES + COMPS_FEATURES  # every feature an AVM may use (each model keeps its own list)
EPOCH = pd.Timestamp("2000-01-01")
ARTIFACT_FORMAT = "reos-avm-4"
TARGETS = ("log_price", "deflated")  # what LightGBM learns; `AvmSettings.target`
# LightGBM's loss on that target; `AvmSettings.loss`. The first is the configured default.
LOSSES = {"squared": "regression", "absolute": "regression_l1"}
MIN_CALIBRATION_ROWS = 200  # fewer residuals in the newest fold → calibrate on every fold
BLEND_WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)  # LightGBM's share in the blend with comps

FEATURE_LABELS = {
    "living_sqft": "living area", "lot_sqft": "lot size", "beds": "bedrooms", "baths": "bathrooms",
    "bldg_grade": "building grade", "age_years": "age", "eff_age_years": "effective age",
    "waterfront": "waterfront", "latitude": "location (north-south)",
    "longitude": "location (east-west)", "sale_months": "market date", "use_type": "property type",
    "neighborhood": "assessor area", "comps_value": "comparable-sales value",
    "comps_value_spread_pct": "spread of comparable sales", "comps_count": "number of comparable sales",
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
    # "auto": time-series CV chooses between learning log price ("log_price") and log price
    # deflated by the training sales' market index ("deflated", `deflator_level`).
    target: str = "auto"
    # "auto": time-series CV chooses the loss on that target, squared or absolute error (`LOSSES`);
    # `params()` gives the squared error for "auto" (what the deal model's as-of AVMs use).
    loss: str = "auto"

    def params(self) -> dict[str, Any]:
        return base_params(self.seed) | {"objective": LOSSES.get(self.loss, LOSSES["squared"]),
                                         "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                                         "min_data_in_leaf": self.min_data_in_leaf,
                                         "num_boost_round": self.num_boost_round}


def base_params(seed: int) -> dict[str, Any]:
    return {"objective": "regression", "seed": seed, "deterministic": True, "force_row_wise": True,
            "num_threads": 1, "verbosity": -1}  # small data: 1 thread is fastest here


def per_distinct(fn: Callable[..., object], *columns: pd.Series | np.ndarray) -> np.ndarray:
    """`fn(*columns)` as an array, for an `fn` that works row by row (each row's result from that
    row's values alone), computed once per distinct row of `columns` and spread back: the same
    values, row for row, for the cost of a hash of the columns. A county's rows share a handful of
    dates (one as-of date; a few hundred last-sale ages a chunk), and pandas' date conversions
    and fields cost ≈1 CPU s a million rows in `scores`' chunks (docs/scale.md, thirtieth round
    (b), thirty-second round (c)). Rows are distinct by `pd.factorize` (missing values one
    distinct value)."""
    n = len(columns[0])
    if n < 2:
        return np.asarray(fn(*columns))
    combined: np.ndarray | None = None
    for column in columns:
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        combined = codes.astype(np.int64) if combined is None else combined * len(uniques) + codes
    codes, distinct = pd.factorize(combined)
    if len(distinct) == n:
        return np.asarray(fn(*columns))
    _, first = np.unique(codes, return_index=True)  # each distinct row's first position
    taken = [column.iloc[first].reset_index(drop=True) if isinstance(column, pd.Series) else np.asarray(column)[first]
             for column in columns]
    return np.asarray(fn(*taken))[codes]


def months_since_epoch(dates: pd.Series) -> np.ndarray:
    return per_distinct(_months_since_epoch, pd.Series(dates)).astype(float, copy=False)


def _months_since_epoch(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(pd.Series(dates))
    return ((stamps.dt.year - EPOCH.year) * 12 + (stamps.dt.month - 1)
            + (stamps.dt.day - 1) / 31.0).to_numpy(dtype=float)


def market_months(sale_months: pd.Series | np.ndarray) -> pd.Series:
    """The month start of each `sale_months` value (the inverse of `months_since_epoch`)."""
    months = np.floor(np.asarray(sale_months, dtype=float)).astype(int)
    return pd.Series(pd.to_datetime({"year": EPOCH.year + months // 12, "month": months % 12 + 1, "day": 1}))


def deflator_level(deflator: HedonicIndex | None, frame: pd.DataFrame) -> np.ndarray:
    """The market index level at each row's market date (`sale_months`), clamped to the index's
    months; 1.0 without a deflator (the model learned log price itself).

    Why deflate: a tree cannot extrapolate the market date. Trained on log price, the model
    prices every date after its last months at the average of the last leaf's months, which
    lags a rising market; trained on log price minus the log index level of the sale month, the
    trees learn the house and the index carries the market level explicitly (and the forecast
    moves it on)."""
    if deflator is None:
        return np.ones(len(frame))
    return per_distinct(lambda months: deflator.level(market_months(months)), frame["sale_months"])


def usable_deflator(index: HedonicIndex) -> bool:
    return index.method != "empty" and bool(np.isfinite(index.by_month.to_numpy()).all())


def training_frame(sales: pd.DataFrame) -> pd.DataFrame:
    """Model inputs describing each sold house at its sale date, plus price and date.

    Comps features are not here (they need the other sales): `with_asof_comps` adds them."""
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


def comps_value(frame: pd.DataFrame) -> pd.Series:
    """The comparable-sales estimate: median time-adjusted comps $/sqft × living area (the comps
    rule's `comps_estimated_value`; features carry the $/sqft)."""
    return frame["comps_median_price_per_sqft"] * frame["living_sqft"]


def comps_features(targets: pd.DataFrame, sales: pd.DataFrame, as_of: pd.Timestamp | pd.Series | np.ndarray,
                   rule: CompsSettings, index: Any) -> pd.DataFrame:
    """`COMPS_FEATURES` of each target from the one comps rule (sales strictly before `as_of`)."""
    summary = comparable_sales(targets, sales, as_of, rule, index, chosen=False).summary
    return pd.DataFrame({"comps_value": summary["comps_estimated_value"].to_numpy(dtype=float),
                         "comps_value_spread_pct": summary["comps_value_spread_pct"].to_numpy(dtype=float),
                         "comps_count": summary["comps_count"].to_numpy(dtype=float)})


def with_asof_comps(frame: pd.DataFrame, sales: pd.DataFrame, rule: CompsSettings,
                    indexes: AsOfIndexes) -> pd.DataFrame:
    """`frame` (rows = `sales`, same order) plus each sale's comps as of its own date: sales of
    other parcels strictly before it, moved along the index fitted on sales before its month."""
    rows = sales.reset_index(drop=True)
    comps = comps_features(rows, rows, rows["sale_date"].to_numpy(), rule, indexes)
    return frame.assign(**{c: comps[c].to_numpy() for c in COMPS_FEATURES})


def scoring_frame(features: pd.DataFrame) -> pd.DataFrame:
    """Model inputs for prospects today: the house as known, priced at the as-of date, with
    enrichment's comps (the same rule, as of the same date)."""
    frame = features[[c for c in BASE_FEATURES if c != "sale_months"]].copy()
    frame["sale_months"] = months_since_epoch(features["as_of_date"])
    frame["comps_value"] = comps_value(features).astype(float)
    frame["comps_value_spread_pct"] = features["comps_value_spread_pct"].astype(float)
    frame["comps_count"] = features["comps_count"].astype(float)
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


def mdape(predicted: np.ndarray, actual: np.ndarray) -> float:
    ok = np.isfinite(predicted) & (np.asarray(predicted) > 0)
    return float(np.median(np.abs(predicted[ok] / actual[ok] - 1)) * 100)


def encode(frame: pd.DataFrame, categories: dict[str, list[str]], features: list[str] | None = None) -> pd.DataFrame:
    """The model's columns in its order; a feature the frame lacks is missing (NaN) for LightGBM."""
    features = features or BASE_FEATURES
    out = frame.reindex(columns=features).copy()
    for column in features:
        if column in CATEGORICAL:
            out[column] = pd.Categorical(out[column].astype("string"), categories=categories[column])
        else:
            out[column] = out[column].astype(float)
    return out


def drift_per_month(residual: np.ndarray, horizon: np.ndarray) -> float:
    """The forecast's drift: the least-absolute-deviation slope through the origin of the log
    residuals log(price / estimate) on the months since the model's last month (the weighted
    median of residual / horizon, weights = horizon). 0.0 without a row past the last month.

    Why through the origin: at the last training month the market level is the index's own, so
    only the projection can err, and its error grows with the horizon."""
    residual = np.asarray(residual, dtype=float)
    horizon = np.asarray(horizon, dtype=float)
    ok = np.isfinite(residual) & (horizon > 0)
    if not ok.any():
        return 0.0
    slope, weight = residual[ok] / horizon[ok], horizon[ok]
    order = np.argsort(slope)
    cumulative = np.cumsum(weight[order])
    return float(slope[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def drift_factor(drift: float | np.ndarray, horizon: Any) -> np.ndarray:
    """The market factor the forecast's drift adds at `horizon` months past the model's last month
    (none on or before it): the one form the AVM, its CV and the backtest's forecast table use."""
    return np.exp(drift * np.maximum(np.asarray(horizon, dtype=float), 0.0))


def rolling_drift(residual: np.ndarray, horizon: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Rolling-origin drift per row: each fold's from the earlier folds' rows only (NaN for the
    first fold, which has none)."""
    out = np.full(len(residual), np.nan)
    for k in np.unique(fold)[1:]:
        earlier = fold < k
        out[fold == k] = drift_per_month(residual[earlier], horizon[earlier])
    return out


def blend(model_value: np.ndarray, comps: np.ndarray, weight: float) -> np.ndarray:
    """Geometric blend of the LightGBM value with the comps value (LightGBM alone without comps)."""
    model_value = np.asarray(model_value, dtype=float)
    comps = np.asarray(comps, dtype=float)
    if weight >= 1.0:
        return model_value
    ok = np.isfinite(comps) & (comps > 0)
    out = model_value.copy()
    out[ok] = np.exp(weight * np.log(model_value[ok]) + (1 - weight) * np.log(comps[ok]))
    return out


@dataclass
class FrozenMarket:
    """What a model frozen at a cut-off knows: the sales before it, the index fitted on them and
    that index projected forward. CV folds, the hold-out and `reos backtest` value later sales
    through it, as production values today's parcels between retrains."""

    sales: pd.DataFrame
    index: HedonicIndex
    forecast: MarketForecast

    @classmethod
    def of(cls, sales: pd.DataFrame, cutoff: pd.Timestamp | None = None) -> FrozenMarket:
        """`cutoff`: the first day not known (default: the day after the last sale); it says which
        months are complete for the forecast."""
        index = HedonicIndex.from_sales(sales)
        cutoff = cutoff if cutoff is not None else pd.to_datetime(sales["sale_date"]).max() + pd.Timedelta(days=1)
        return cls(sales, index, MarketForecast.from_index(index, cutoff))

    @property
    def last_sale(self) -> pd.Timestamp:
        return pd.Timestamp(pd.to_datetime(self.sales["sale_date"]).max())

    def inputs(self, targets: pd.DataFrame, rule: CompsSettings | None) -> pd.DataFrame:
        """Model inputs of later sales: the house, the market date frozen at the last known sale,
        and the comps known then (every known sale counts: as of the day after the last one)."""
        frame = training_frame(targets)
        frame["sale_months"] = months_since_epoch(pd.Series([self.last_sale] * len(frame)))
        if rule is not None:
            comps = comps_features(targets.reset_index(drop=True), self.sales,
                                   self.last_sale + pd.Timedelta(days=1), rule, self.index)
            frame = frame.assign(**{c: comps[c].to_numpy() for c in COMPS_FEATURES})
        return frame


@dataclass
class OutOfFold:
    """Frozen-model values of each fold's validation sales (see `FrozenMarket`)."""

    model_value: np.ndarray  # LightGBM at the fold's last month
    comps: np.ndarray        # comps value known at the cut-off (NaN without comps)
    factor: np.ndarray       # projected market change to the sale month
    actual: np.ndarray
    reindex: np.ndarray      # market change to the month before the sale along the as-of index
    fold: np.ndarray         # which fold's model valued the row
    sales: pd.DataFrame      # the validation sales' date and position (sale_date, latitude, longitude)
    horizon: np.ndarray      # months from the fold's forecast's last month to the sale's

    def estimate(self, weight: float = 1.0, drift: float | np.ndarray = 0.0) -> np.ndarray:
        return blend(self.model_value, self.comps, weight) * self.factor * drift_factor(drift, self.horizon)

    def mdape(self, weight: float = 1.0) -> float:
        return mdape(self.estimate(weight), self.actual)

    def rolling_drift(self, weight: float) -> np.ndarray:
        """Each row's drift learned from the earlier folds only (0 for the first fold)."""
        residual = np.log(self.actual / self.estimate(weight))
        return np.nan_to_num(rolling_drift(residual, self.horizon, self.fold))

    def reindexed(self, weight: float) -> np.ndarray:
        """The re-indexed mode's values before the residual correction (`reindexed`)."""
        return blend(self.model_value, self.comps, weight) * self.reindex

    def neighbour_shift(self, weight: float, rule: CompsSettings) -> np.ndarray:
        """Each row's median log residual of its earlier neighbours in the re-indexed mode
        (`ml/residuals.py`): each fold's pool is its own validation sales, as the backtest's is
        the window's. The corrected values are `reindexed(weight) · exp(shrink · shift)`."""
        residual = np.log(self.actual / self.reindexed(weight))
        out = np.zeros(len(residual))
        for fold in np.unique(self.fold):
            rows = self.fold == fold
            out[rows] = neighbour_residuals(self.sales.loc[rows, "latitude"], self.sales.loc[rows, "longitude"],
                                            self.sales.loc[rows, "sale_date"], residual[rows], rule)
        return out


@dataclass
class _Fold:
    train: np.ndarray
    valid_inputs: pd.DataFrame
    factor: np.ndarray
    actual: np.ndarray
    index: HedonicIndex  # fitted on the fold's training sales only: its deflator
    reindex: np.ndarray  # as-of index change from the fold's last training month to each sale's
    horizon: np.ndarray  # months from the fold's forecast's last month to each sale's (≥ 0)


def _folds(frame: pd.DataFrame, sales: pd.DataFrame, settings: AvmSettings,
           rule: CompsSettings | None, indexes: AsOfIndexes | None = None) -> list[_Fold]:
    """Expanding-window folds, each with its validation sales as its frozen model sees them.

    `indexes`: as-of indexes of these sales (each fitted on sales before a month only)."""
    indexes = indexes or AsOfIndexes(sales)
    out = []
    for train_idx, valid_idx in time_series_folds(len(frame), settings.cv_folds):
        market = FrozenMarket.of(sales.iloc[train_idx], cutoff=frame["sale_date"].iloc[valid_idx].min())
        valid = sales.iloc[valid_idx]
        reindex = indexes.reindex_factor(month_start(market.last_sale), valid["sale_date"])
        out.append(_Fold(train_idx, market.inputs(valid, rule), market.forecast.factor(valid["sale_date"]),
                         frame["sale_price"].to_numpy()[valid_idx], market.index,
                         np.where(np.isfinite(reindex), reindex, 1.0), market.forecast.horizon(valid["sale_date"])))
    return out


def _out_of_fold(frame: pd.DataFrame, folds: list[_Fold], categories: dict[str, list[str]],
                 params: dict[str, Any], features: list[str], deflate: bool = False) -> OutOfFold:
    values = []
    for fold in folds:
        deflator = fold.index if deflate else None
        booster = _fit(frame.iloc[fold.train], categories, params, features, deflator)
        values.append(_value(booster, fold.valid_inputs, categories, features, deflator))
    comps = [f.valid_inputs["comps_value"].to_numpy(dtype=float) if "comps_value" in f.valid_inputs
             else np.full(len(f.actual), np.nan) for f in folds]
    return OutOfFold(np.concatenate(values), np.concatenate(comps), np.concatenate([f.factor for f in folds]),
                     np.concatenate([f.actual for f in folds]), np.concatenate([f.reindex for f in folds]),
                     np.concatenate([np.full(len(f.actual), i) for i, f in enumerate(folds)]),
                     pd.concat([f.valid_inputs[["sale_date", "latitude", "longitude"]] for f in folds],
                               ignore_index=True), np.concatenate([f.horizon for f in folds]))


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
    features: list[str] = field(default_factory=lambda: list(BASE_FEATURES))
    blend_weight: float = 1.0  # LightGBM's share in the geometric blend with the comps value
    reindex_shrink: float = 0.0  # re-indexed mode's spatial residual correction (`ml/residuals.py`)
    drift_per_month: float = 0.0  # log change a month added to the forecast (`drift_per_month`)
    forecast: MarketForecast | None = None  # the training sales' index, projected past its last month
    intervals: PriceBandIntervals | None = None  # 80% ranges from out-of-fold residuals
    selection: dict[str, Any] = field(default_factory=dict)  # what cross-validation chose, and why
    # The "deflated" target: the market index the final / evaluation booster's labels were
    # divided by (None: the model learned log price), and the mean log level of the training
    # sales (SHAP's baseline keeps it; `contributions`).
    deflator: HedonicIndex | None = None
    eval_deflator: HedonicIndex | None = None
    deflator_log_mean: float = 0.0
    # The final booster's trees compiled (`ml/compiled.py`), set by whoever predicts many rows
    # (`registry.load_active_models(compiled_trees=True)`); not part of the artifact.
    forest: Forest | None = field(default=None, repr=False, compare=False)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return encode(frame, self.categories, self.features)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The LightGBM value (what SHAP contributions add up to), at the frame's market date;
        past the training months that is the last training month's market."""
        return _value(self.booster, frame, self.categories, self.features, self.deflator, self.forest)

    def predict_holdout(self, frame: pd.DataFrame) -> np.ndarray:
        """Values from the booster that never saw the hold-out (falls back to the final one)."""
        if self.eval_booster is None:
            return self.predict(frame)
        return _value(self.eval_booster, frame, self.categories, self.features, self.eval_deflator)

    def value(self, frame: pd.DataFrame) -> np.ndarray:
        """The valuation at the last training month's market: LightGBM blended with comps."""
        comps = frame["comps_value"].to_numpy(dtype=float) if "comps_value" in frame else np.full(len(frame), np.nan)
        return blend(self.predict(frame), comps, self.blend_weight)

    def estimate(self, frame: pd.DataFrame, dates: pd.Series | np.ndarray) -> pd.DataFrame:
        """estimated_value at each date's market (projected past the training months, with the
        forecast's drift chosen by CV) and its 80% range (estimated_value_low/high; NaN for an
        artifact without intervals)."""
        value = self.value(frame)
        factor = np.ones(len(frame))
        if self.forecast is not None:
            forecast, drift = self.forecast, self.drift_per_month
            # Row by row, so once per distinct date (a county's chunk has one as-of date).
            factor = per_distinct(lambda dates: forecast.factor(dates) * drift_factor(drift, forecast.horizon(dates)),
                                  dates).astype(float, copy=False)
        estimate = value * factor
        low, high = self.intervals.bounds(estimate) if self.intervals is not None else \
            (np.full(len(frame), np.nan), np.full(len(frame), np.nan))
        return pd.DataFrame({"estimated_value": estimate, "estimated_value_low": low,
                             "estimated_value_high": high, "market_factor": factor})

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP contributions in log-price space; columns add up to log(predict()).

        A deflated model's market level is the market date's part: its log level (centred on the
        training sales' mean, which goes to the baseline) is added to `sale_months`."""
        raw = treeshap.contributions(self.booster, self.encode(frame))  # LightGBM's pred_contrib, to the bit
        out = pd.DataFrame(raw, columns=[*self.features, "bias"], index=frame.index)
        if self.deflator is not None:
            out["sale_months"] += np.log(deflator_level(self.deflator, frame)) - self.deflator_log_mean
            out["bias"] += self.deflator_log_mean
        return out

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": ARTIFACT_FORMAT, "model": self.booster.model_to_string(),
            "eval_model": self.eval_booster.model_to_string() if self.eval_booster else None,
            "categories": self.categories, "settings": asdict(self.settings), "params": self.params,
            "metrics": self.metrics, "comparison": self.comparison, "tuning": self.tuning,
            "importance": self.importance, "training_start": self.training_start,
            "training_end": self.training_end, "holdout_start": self.holdout_start,
            "features": self.features, "blend_weight": self.blend_weight, "reindex_shrink": self.reindex_shrink,
            "drift_per_month": self.drift_per_month,
            "forecast": self.forecast.to_dict() if self.forecast else None,
            "intervals": self.intervals.to_dict() if self.intervals else None, "selection": self.selection,
            "deflator": _index_dict(self.deflator), "eval_deflator": _index_dict(self.eval_deflator),
            "deflator_log_mean": self.deflator_log_mean,
        }).encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> TrainedAvm:
        data = json.loads(payload)
        if data.get("format") not in ("reos-avm-1", "reos-avm-2", "reos-avm-3", ARTIFACT_FORMAT):
            raise ValueError("not a Real Estate OS AVM artifact")
        eval_model = data.get("eval_model")
        return cls(booster=lgb.Booster(model_str=data["model"]), categories=data["categories"],
                   settings=AvmSettings(**data["settings"]), metrics=data["metrics"],
                   training_start=data["training_start"], training_end=data["training_end"],
                   holdout_start=data["holdout_start"],
                   eval_booster=lgb.Booster(model_str=eval_model) if eval_model else None,
                   params=data.get("params", {}), comparison=data.get("comparison", {}),
                   tuning=data.get("tuning", {}), importance=data.get("importance", {}),
                   features=data.get("features", list(BASE_FEATURES)), blend_weight=data.get("blend_weight", 1.0),
                   reindex_shrink=data.get("reindex_shrink", 0.0), drift_per_month=data.get("drift_per_month", 0.0),
                   forecast=MarketForecast.from_dict(data["forecast"]) if data.get("forecast") else None,
                   intervals=PriceBandIntervals.from_dict(data["intervals"]) if data.get("intervals") else None,
                   selection=data.get("selection", {}), deflator=_index_of(data.get("deflator")),
                   eval_deflator=_index_of(data.get("eval_deflator")),
                   deflator_log_mean=data.get("deflator_log_mean", 0.0))


def _index_dict(index: HedonicIndex | None) -> dict[str, Any] | None:
    if index is None:
        return None
    return {"method": index.method, "levels": {str(k.date()): float(v) for k, v in index.by_month.items()}}


def _index_of(data: dict[str, Any] | None) -> HedonicIndex | None:
    if not data:
        return None
    levels = data["levels"]
    return HedonicIndex(pd.Series(list(levels.values()), index=pd.to_datetime(list(levels)), dtype=float),
                        data["method"])


def _fit(frame: pd.DataFrame, categories: dict[str, list[str]], params: dict[str, Any],
         features: list[str] | None = None, deflator: HedonicIndex | None = None) -> lgb.Booster:
    """LightGBM on log price, or on log price deflated by `deflator` at each sale's month."""
    params = dict(params)
    rounds = int(params.pop("num_boost_round"))
    features = features or BASE_FEATURES
    label = np.log(frame["sale_price"].to_numpy(dtype=float)) - np.log(deflator_level(deflator, frame))
    dataset = lgb.Dataset(encode(frame, categories, features), label=label,
                          categorical_feature=[c for c in CATEGORICAL if c in features], free_raw_data=True)
    return lgb.train(params, dataset, num_boost_round=rounds)


def _value(booster: lgb.Booster, frame: pd.DataFrame, categories: dict[str, list[str]], features: list[str],
           deflator: HedonicIndex | None, forest: Forest | None = None) -> np.ndarray:
    """A booster's value at each row's market date (`_fit`'s label undone); `forest`: its
    compiled trees, if any (`ml/compiled.predict`)."""
    return np.exp(predict(booster, encode(frame, categories, features), False, forest)) \
        * deflator_level(deflator, frame)


def tune(frame: pd.DataFrame, categories: dict[str, list[str]], settings: AvmSettings, folds: list[_Fold],
         features: list[str], progress: Callable[[int], None] | None = None, deflate: bool = False,
         ) -> tuple[dict[str, Any], dict[str, Any], OutOfFold | None]:
    """Optuna over `settings.space`, scored by the out-of-fold MdAPE of the frozen fold models.

    Returns the best parameters, a summary and the best trial's out-of-fold values (None when
    not tuned)."""
    defaults = settings.params()
    if settings.trials <= 0:
        return defaults, {"trials": 0}, None
    best: dict[str, Any] = {}

    def objective(drawn: dict[str, Any]) -> float:
        oof = _out_of_fold(frame, folds, categories, defaults | drawn, features, deflate)
        value = oof.mdape()
        if value < best.get("mdape", np.inf):
            best.update(mdape=value, oof=oof)
        return value

    # LightGBM's own defaults for what the configured settings leave open (moved onto the ranges):
    # no depth limit (LightGBM's -1) is the range's deepest.
    first = defaults | {"feature_fraction": 1.0, "lambda_l2": 0.0, "max_depth": np.inf}
    drawn, summary = optuna_search(objective, settings.space, first, settings.trials, settings.seed, "minimize",
                                   progress)
    return defaults | drawn, {"trials": summary["trials"], "cv_folds": len(folds),
                              "best_cv_mdape_pct": summary["best"],
                              "first_trial_cv_mdape_pct": summary["first_trial"]}, best.get("oof")


def holdout_split(frame: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(frame) * (1 - holdout_fraction))
    return frame.iloc[:cut], frame.iloc[cut:]


def reindexed(flat: np.ndarray, factor: np.ndarray, sales: pd.DataFrame, actual: np.ndarray, shrink: float,
              rule: CompsSettings | None) -> np.ndarray:
    """The re-indexed mode's valuation of sales after a model's cut-off (between retrains): the
    value at the last training month (`flat`) moved along the index fitted on sales before each
    sale's month (`factor`), then corrected by the median residual of the nearest of these sales
    dated strictly before it (`ml/residuals.py`, `shrink` chosen by CV; 0 or no rule: none)."""
    values = np.asarray(flat, dtype=float) * np.where(np.isfinite(factor), factor, 1.0)
    if rule is None or shrink == 0.0:
        return values
    return corrected(values, actual, sales["latitude"].to_numpy(dtype=float),
                     sales["longitude"].to_numpy(dtype=float), sales["sale_date"], shrink, rule)


def compare_valuations(sales: pd.DataFrame, cut_rows: int, avm_holdout_values: np.ndarray,
                       training_last_month: pd.Timestamp, baseline_comps: CompsSettings | None = None,
                       avm_flat_values: np.ndarray | None = None, indexes: AsOfIndexes | None = None,
                       reindex_shrink: float = 0.0, rule: CompsSettings | None = None,
                       ) -> dict[str, dict[str, float]]:
    """AVM vs nearest comps vs hedonic OLS on the same hold-out, plus the re-indexed AVM: the
    ratio study of each of `holdout_valuations`."""
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    actual = ordered["sale_price"].to_numpy(dtype=float)[cut_rows:]
    values = holdout_valuations(ordered, cut_rows, avm_holdout_values, training_last_month, baseline_comps,
                                avm_flat_values, indexes, reindex_shrink, rule)
    return {name: ratio_study(value, actual) for name, value in values.items()}


def holdout_valuations(sales: pd.DataFrame, cut_rows: int, avm_holdout_values: np.ndarray,
                       training_last_month: pd.Timestamp, baseline_comps: CompsSettings | None = None,
                       avm_flat_values: np.ndarray | None = None, indexes: AsOfIndexes | None = None,
                       reindex_shrink: float = 0.0, rule: CompsSettings | None = None) -> dict[str, np.ndarray]:
    """Each valuation of the hold-out (the sales after the first `cut_rows` by date), keyed as in
    `compare_valuations`.

    `avm_holdout_values` are the AVM's estimates (projected market); `avm_flat_values` the same
    valuations held at the last training month (the frozen model without the forecast), which
    monthly re-indexing moves along the index instead (defaults to the estimates). The baselines
    see exactly the training sales. `indexes`: the caller's as-of indexes of these same sales
    (their cache saves a regression per hold-out month at county scale). `reindex_shrink`, `rule`:
    the re-indexed mode's residual correction (`reindexed`); with it, the uncorrected re-indexed
    values are kept as `avm_lightgbm_reindexed_uncorrected`."""
    from realestate_assets.ml.baselines import HedonicOls, nearest_comps_value

    flat = avm_holdout_values if avm_flat_values is None else avm_flat_values
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    train, holdout = ordered.iloc[:cut_rows], ordered.iloc[cut_rows:]
    ols = HedonicOls.fit(train)
    index = HedonicIndex.from_sales(train)
    comps = nearest_comps_value(train, holdout, index, ols.size_elasticity, baseline_comps)
    factor = (indexes or AsOfIndexes(ordered)).reindex_factor(training_last_month, holdout["sale_date"])
    actual = holdout["sale_price"].to_numpy(dtype=float)
    out = {"avm_lightgbm": np.asarray(avm_holdout_values, dtype=float)}
    if avm_flat_values is not None:
        out["avm_lightgbm_flat"] = np.asarray(flat, dtype=float)
    if rule is not None and reindex_shrink > 0:
        out["avm_lightgbm_reindexed_uncorrected"] = reindexed(flat, factor, holdout, actual, 0.0, None)
    return out | {"avm_lightgbm_reindexed_monthly": reindexed(flat, factor, holdout, actual, reindex_shrink, rule),
                  "nearest_comps_size_adjusted": np.asarray(comps, dtype=float),
                  "hedonic_ols": np.asarray(ols.predict(holdout), dtype=float)}


def _select(frame: pd.DataFrame, folds: list[_Fold], categories: dict[str, list[str]], settings: AvmSettings,
            rule: CompsSettings | None, progress: Callable[[int], None] | None,
            ) -> tuple[list[str], dict[str, Any], float, OutOfFold, dict[str, Any], dict[str, Any]]:
    """Target, loss, features, parameters, blend weight: each kept only when it lowers the
    out-of-fold MdAPE; then the re-indexed mode's residual correction, on the out-of-fold
    re-indexed MdAPE.

    Returns them (the target as `selection["target"]`, the loss as `selection["loss"]` and in the
    parameters' `objective`, the correction's share as `selection["reindex_shrink"]`) with the
    chosen model's out-of-fold values, the tuning summary and a record of the choices
    (`TrainedAvm.selection`)."""
    defaults = settings.params()
    use_comps = rule is not None
    targets = [t for t in TARGETS if settings.target in ("auto", t)]
    if not all(usable_deflator(f.index) for f in folds):  # a fold without an index: nothing to deflate by
        targets = [t for t in targets if t != "deflated"] or ["log_price"]
    runs = {t: _out_of_fold(frame, folds, categories, defaults, BASE_FEATURES, t == "deflated") for t in targets}
    target = min(runs, key=lambda t: (runs[t].mdape(), t != "log_price"))  # ties: the plain target
    deflate = target == "deflated"
    names = {"log_price": "lightgbm", "deflated": "lightgbm_deflated"}
    selection: dict[str, Any] = {"cv_mdape_pct": {names[t]: oof.mdape() for t, oof in runs.items()},
                                 "target": target}
    # The loss on the chosen target: squared error (the configured default, already run) or
    # absolute error; ties keep the squared error.
    losses = list(LOSSES) if settings.loss == "auto" else [settings.loss]
    by_loss = {losses[0]: runs[target]} | {
        loss: _out_of_fold(frame, folds, categories, defaults | {"objective": LOSSES[loss]}, BASE_FEATURES, deflate)
        for loss in losses[1:]}
    loss = min(by_loss, key=lambda name: (by_loss[name].mdape(), name != "squared"))
    settings = replace(settings, loss=loss)
    defaults = settings.params()
    selection.update(loss=loss, cv_mdape_pct_by_loss={name: run.mdape() for name, run in by_loss.items()})
    features, oof = list(BASE_FEATURES), by_loss[loss]
    if use_comps:
        stacked = _out_of_fold(frame, folds, categories, defaults, MODEL_FEATURES, deflate)
        selection["cv_mdape_pct"]["lightgbm_with_comps_features"] = stacked.mdape()
        if stacked.mdape() < oof.mdape():
            features, oof = list(MODEL_FEATURES), stacked
    params, tuning, tuned = tune(frame, categories, settings, folds, features, progress, deflate)
    if tuned is not None and tuned.mdape() < oof.mdape():
        oof = tuned
    elif tuned is not None:  # the configured settings were best (trial 1 has the same draws)
        params = defaults
    weights = {w: oof.mdape(w) for w in (BLEND_WEIGHTS if use_comps else (1.0,))}
    weight = min(weights, key=lambda w: (weights[w], -w))  # ties: less blending
    # The forecast's drift, by rolling origin: every fold after the first valued with the drift of
    # the folds before it, against the same folds without; kept (fitted on every fold) if it wins.
    later = oof.fold >= 1
    drift_cv = {"without": mdape(oof.estimate(weight)[later], oof.actual[later]),
                "with": mdape(oof.estimate(weight, oof.rolling_drift(weight))[later], oof.actual[later])}
    drift = drift_per_month(np.log(oof.actual / oof.estimate(weight)), oof.horizon) \
        if drift_cv["with"] < drift_cv["without"] else 0.0
    shift = oof.neighbour_shift(weight, rule) if rule is not None else np.zeros(len(oof.actual))
    shrinks = {s: mdape(oof.reindexed(weight) * np.exp(s * shift), oof.actual)
               for s in (SHRINKS if use_comps else (0.0,))}
    shrink = min(shrinks, key=lambda s: (shrinks[s], s))  # ties: less correction
    selection.update(features="with comps features" if features != BASE_FEATURES else "house and location only",
                     blend_weight=weight, cv_mdape_pct_by_blend_weight={str(k): v for k, v in weights.items()},
                     forecast_drift_per_month=drift, cv_mdape_pct_later_folds_by_drift=drift_cv,
                     reindex_shrink=shrink, cv_reindexed_mdape_pct_by_shrink={str(k): v for k, v in shrinks.items()},
                     cv_rows=len(oof.actual), cv_folds=len(folds))
    return features, params, weight, oof, tuning, selection


def train_avm(sales: pd.DataFrame, settings: AvmSettings, compare: bool = True,
              progress: Callable[[int], None] | None = None,
              baseline_comps: CompsSettings | None = None, comps: CompsSettings | None = None,
              indexes: AsOfIndexes | None = None) -> TrainedAvm:
    """Choose (on the older sales' folds), evaluate (on the hold-out) and refit (on every sale).

    `comps`: the comps rule; None trains on the house and location only (no neighbours)."""
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    frame = training_frame(ordered)
    if len(frame) < 50:
        raise ValueError(f"the AVM needs at least 50 sales to train and evaluate; got {len(frame)}")
    indexes = indexes or AsOfIndexes(ordered)
    if comps is not None:
        frame = with_asof_comps(frame, ordered, comps, indexes)
    categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
    train, holdout = holdout_split(frame, settings.holdout_fraction)
    folds = _folds(train, ordered.iloc[:len(train)], settings, comps, indexes)
    features, params, weight, oof, tuning, selection = _select(train, folds, categories, settings, comps, progress)
    # Ranges from the newest fold's residuals: its model, trained on most of the older sales and
    # closest in time, errs like the final model; the early folds' small models overstate the error.
    newest = slice(len(oof.actual) - len(folds[-1].actual), None)
    if len(folds[-1].actual) < MIN_CALIBRATION_ROWS:
        newest = slice(None)
    # With the drift: each fold's from the folds before it, so the residuals stay out of sample.
    drift = selection["forecast_drift_per_month"]
    intervals = PriceBandIntervals.fit(oof.estimate(weight, oof.rolling_drift(weight) if drift else 0.0)[newest],
                                       oof.actual[newest])
    deflate = selection["target"] == "deflated"

    # The hold-out, valued by the model frozen before it (as each fold was).
    market = FrozenMarket.of(ordered.iloc[:len(train)], cutoff=holdout["sale_date"].min())
    eval_deflator = market.index if deflate else None
    evaluation = _fit(train, categories, params, features, eval_deflator)
    holdout_sales = ordered.iloc[len(train):]
    evaluated = TrainedAvm(evaluation, categories, settings, features=features, blend_weight=weight,
                           forecast=market.forecast, intervals=intervals, deflator=eval_deflator,
                           drift_per_month=drift)
    inputs = market.inputs(holdout_sales, comps)
    estimate = evaluated.estimate(inputs, holdout_sales["sale_date"])
    actual = holdout["sale_price"].to_numpy()
    metrics: dict[str, Any] = ratio_study(estimate["estimated_value"].to_numpy(), actual)
    metrics["train_rows"] = len(train)
    ranges = interval_metrics(estimate["estimated_value_low"], estimate["estimated_value_high"],
                              estimate["estimated_value"], actual)
    metrics["interval_coverage_pct"] = ranges["coverage_pct"]
    metrics["interval_median_width_pct"] = ranges["median_width_pct"]
    comparison = {}
    if compare:
        last_month = month_start(train["sale_date"].max())
        comparison = compare_valuations(ordered, len(train), estimate["estimated_value"].to_numpy(), last_month,
                                        baseline_comps, avm_flat_values=evaluated.value(inputs),
                                        indexes=indexes, reindex_shrink=selection["reindex_shrink"], rule=comps)
        metrics["reindexed_mdape_pct"] = comparison["avm_lightgbm_reindexed_monthly"]["mdape_pct"]
    everything = FrozenMarket.of(ordered)
    deflator = everything.index if deflate and usable_deflator(everything.index) else None
    final = _fit(frame, categories, params, features, deflator)
    gain = pd.Series(final.feature_importance("gain"), index=final.feature_name())
    return TrainedAvm(final, categories, settings, metrics=metrics,
                      training_start=str(frame["sale_date"].min().date()),
                      training_end=str(frame["sale_date"].max().date()),
                      holdout_start=str(holdout["sale_date"].min().date()),
                      eval_booster=evaluation, params=params, comparison=comparison, tuning=tuning,
                      importance=(gain / gain.sum()).round(4).to_dict(), features=features, blend_weight=weight,
                      reindex_shrink=selection["reindex_shrink"], drift_per_month=drift,
                      forecast=everything.forecast, intervals=intervals, selection=selection,
                      deflator=deflator, eval_deflator=eval_deflator,
                      deflator_log_mean=float(np.mean(np.log(deflator_level(deflator, frame)))))


def final_booster(sales: pd.DataFrame, settings: AvmSettings) -> Callable[[pd.DataFrame], np.ndarray]:
    """The value function of `train_avm(sales, settings with trials=0, target="log_price",
    loss="squared" (for "auto"), comps=None)`'s final booster — the same sales order, categories,
    features and parameters — without its folds, hold-out and ranges: for callers that need only
    values (the deal model's as-of AVM input; it keeps the plain log-price target and squared
    error, untuned and not re-chosen per year)."""
    ordered = sales.sort_values("sale_date", kind="stable").reset_index(drop=True)
    frame = training_frame(ordered)
    if len(frame) < 50:
        raise ValueError(f"the AVM needs at least 50 sales to train and evaluate; got {len(frame)}")
    categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
    booster = _fit(frame, categories, settings.params(), BASE_FEATURES)
    return lambda rows: np.exp(booster.predict(encode(rows, categories, BASE_FEATURES)))


def training_fingerprint(sales: pd.DataFrame, settings: AvmSettings) -> str:
    """Same sales and settings → same version, so a re-run re-registers, never duplicates."""
    frame = training_frame(sales).sort_values(["sale_date", "sale_price", "latitude"], kind="stable")
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return digest.hexdigest()[:12]
