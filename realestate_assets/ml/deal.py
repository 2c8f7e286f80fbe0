"""The deal model and the sale-propensity model, labelled from the county's own sales history.

Deal model — "was this purchase a deal?"
  A repeat-sale pair is two consecutive recorded sales of one parcel. Its excess return is
  log(resale / purchase) − log(index at resale / index at purchase), the index being the
  county's hedonic market index. A pair is a deal when its excess return is in the top
  quartile of the training pairs (the threshold is stored with the model and reused on any
  later window). Features are those known at the purchase date only: the house as recorded,
  the price paid per sqft and against comparable sales sold before the purchase, and the
  market trend from sales before the purchase month. Pairs whose house was built or renovated
  in or after the purchase year are excluded: the county file describes the house as it is
  now, so for those pairs the "purchase-time" attributes describe the later, rebuilt house.

Sale propensity — "will this parcel sell in the next 12 months?"
  Yearly snapshots: on each 1 January, every parcel with a recorded sale before that date,
  described with what was known then (years since its last sale = tenure, sales so far, the last
  price moved to that date along the index, the house); the label is a recorded sale in the
  following 12 months. Issue 16 adds, from sales before the snapshot only: the market gain since
  the last sale (equity built by appreciation: the index now vs at the purchase), the last price
  in today's money vs the comparable sales now (what the neighbourhood did since the purchase,
  relative to the price paid) and the month of the last sale (seasonality: with a 12-month
  horizon the snapshot's own season is constant). Used for parcels without an asking price,
  where the deal model has no price to judge. `block_turnover` is measured but not a model input
  (docs/scoring.md: it did not help on time-series CV and the features table does not carry it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from realestate_assets.market.comps import CompsSettings, comparable_sales
from realestate_assets.market.index import AsOfIndexes, HedonicIndex
from realestate_assets.ml.avm import AvmSettings, per_distinct
from realestate_assets.ml.classifier import ClassifierSettings, TrainedClassifier, train_classifier

BUILDING = ["living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "age_years", "eff_age_years",
            "waterfront", "latitude", "longitude"]
DEAL_NUMERIC = [*BUILDING, "price_per_sqft", "price_to_comps", "comps_count", "comps_value_spread_pct",
                "market_trend_12m_pct", "price_to_avm"]
DEAL_CATEGORICAL = ["use_type"]
PROPENSITY_NUMERIC = [*BUILDING, "years_since_last_sale", "prior_sales", "last_price_per_sqft_indexed",
                      "market_trend_12m_pct", "gain_since_purchase_pct", "last_price_to_comps_value",
                      "last_sale_month"]
PROPENSITY_CATEGORICAL = ["use_type"]
DEAL_QUANTILE = 0.75

LABELS = {
    "price_per_sqft": "price per sqft", "price_to_comps": "price vs comparable sales",
    "comps_count": "comparable sales nearby", "price_to_avm": "price vs the estimated value",
    "comps_value_spread_pct": "spread of comparable values",
    "market_trend_12m_pct": "12-month market trend", "years_since_last_sale": "years since the last sale",
    "prior_sales": "recorded sales so far", "last_price_per_sqft_indexed": "last price per sqft in today's money",
    "living_sqft": "living area", "lot_sqft": "lot size", "beds": "bedrooms", "baths": "bathrooms",
    "bldg_grade": "building grade", "age_years": "age", "eff_age_years": "effective age",
    "waterfront": "waterfront", "latitude": "location (north-south)", "longitude": "location (east-west)",
    "use_type": "property type", "gain_since_purchase_pct": "market gain since the last sale",
    "last_price_to_comps_value": "last price (in today's money) vs comparable sales",
    "last_sale_month": "month of the last sale",
}


def building_at(rows: pd.DataFrame) -> pd.DataFrame:
    """The house as its sale record describes it (ages at that sale)."""
    return pd.DataFrame({
        "living_sqft": rows["living_sqft"].astype(float), "lot_sqft": rows["lot_sqft"].astype(float),
        "beds": rows["beds"].astype(float), "baths": rows["baths"].astype(float),
        "bldg_grade": rows["bldg_grade"].astype(float), "age_years": rows["age_at_sale"].astype(float),
        "eff_age_years": rows["eff_age_at_sale"].astype(float), "waterfront": rows["waterfront"].astype(float),
        "latitude": rows["latitude"].astype(float), "longitude": rows["longitude"].astype(float),
        "use_type": rows["use_type"].astype("string"),
    }, index=rows.index)


def asof_comps(targets: pd.DataFrame, sales: pd.DataFrame, indexes: AsOfIndexes, rule: CompsSettings) -> pd.DataFrame:
    """Comps of each target row as of its own `date` (the one rule: `market.comps`).

    `targets`: parcel_id, date, latitude, longitude, living_sqft, use_type. Prices are moved to
    the month before the target's along the index fitted on sales before that month.
    """
    comps = comparable_sales(targets, sales, pd.to_datetime(targets["date"]).to_numpy(), rule, indexes)
    return comps.summary[["comps_count", "comps_median_price_per_sqft", "comps_value_spread_pct"]].astype(float)


def deal_inputs(rows: pd.DataFrame, price: pd.Series, comps: pd.DataFrame, trend_pct: np.ndarray,
                value: np.ndarray | None = None) -> pd.DataFrame:
    """Deal-model inputs: the house, the price asked/paid, comps and trend at that date, and the
    price vs the AVM's value at that date (`value`, from a model that never saw the sale)."""
    x = building_at(rows)
    sqft = x["living_sqft"].where(x["living_sqft"] > 0)
    x["price_per_sqft"] = price.astype(float) / sqft
    comps_value = comps["comps_median_price_per_sqft"] * sqft
    x["price_to_comps"] = price.astype(float) / comps_value
    x["comps_count"] = comps["comps_count"].astype(float)
    x["comps_value_spread_pct"] = comps["comps_value_spread_pct"].astype(float)
    x["market_trend_12m_pct"] = trend_pct
    x["price_to_avm"] = price.astype(float).to_numpy() / np.asarray(value, dtype=float) if value is not None \
        else np.nan
    return x


def repeat_sale_pairs(sales: pd.DataFrame) -> pd.DataFrame:
    """Consecutive sales of one parcel: purchase row fields as-is, resale price/date as resale_*."""
    ordered = sales.sort_values(["parcel_id", "sale_date", "sale_id"]).reset_index(drop=True)
    nxt = ordered.groupby("parcel_id")[["sale_price", "sale_date", "sale_id"]].shift(-1)
    pairs = ordered.assign(resale_price=nxt["sale_price"], resale_date=nxt["sale_date"],
                           resale_id=nxt["sale_id"]).dropna(subset=["resale_date"])
    pairs = pairs.loc[pd.to_datetime(pairs["resale_date"]) > pd.to_datetime(pairs["sale_date"])]
    return pairs.reset_index(drop=True)


def leak_free(pairs: pd.DataFrame) -> pd.Series:
    """False where the house was built or renovated in or after the purchase year (a leak)."""
    year = pd.to_datetime(pairs["sale_date"]).dt.year
    built = year - pairs["age_at_sale"]
    renovated = year - pairs["eff_age_at_sale"]
    return ~((built >= year) | (renovated >= year)) & pairs["age_at_sale"].notna()


def excess_return(pairs: pd.DataFrame, index: HedonicIndex) -> np.ndarray:
    market = index.level(pairs["resale_date"]) / index.level(pairs["sale_date"])
    return np.log(pairs["resale_price"].astype(float) / pairs["sale_price"].astype(float)) - np.log(market)


def asof_avm_values(rows: pd.DataFrame, sales: pd.DataFrame, indexes: AsOfIndexes, settings: AvmSettings,
                    min_sales: int = 200) -> np.ndarray:
    """The AVM's value of each row at its `sale_date` from a model that never saw it: rows of year Y
    are valued by an AVM trained (configured settings, untuned) on the sales before 1 January Y,
    frozen at its last training month and moved along the as-of index to the month before the
    row's — the way the backtest values later sales. Years with fewer than `min_sales` earlier
    sales stay NaN."""
    from realestate_assets.market.index import month_start
    from realestate_assets.ml.avm import final_booster, months_since_epoch, training_frame

    out = np.full(len(rows), np.nan)
    dates = pd.to_datetime(rows["sale_date"])
    sale_dates = pd.to_datetime(sales["sale_date"])
    for year in sorted(dates.dt.year.unique()):
        start = pd.Timestamp(year=int(year), month=1, day=1)
        train = sales.loc[sale_dates < start]
        if len(train) < min_sales:
            continue
        # Only the value is needed: the untuned AVM's final booster, without the folds, hold-out
        # and ranges `train_avm` would also fit (the same booster, a fifth of the fits).
        predict = final_booster(train, settings)
        mask = (dates.dt.year == year).to_numpy()
        frame = training_frame(rows.loc[mask])
        last = pd.Timestamp(train["sale_date"].max())
        frame["sale_months"] = months_since_epoch(pd.Series([last] * len(frame)))
        factor = indexes.reindex_factor(month_start(last), rows.loc[mask, "sale_date"])
        out[mask] = predict(frame) * np.where(np.isfinite(factor), factor, 1.0)
    return out


def deal_training_frame(sales: pd.DataFrame, rule: CompsSettings, indexes: AsOfIndexes | None = None,
                        threshold: float | None = None,
                        avm_settings: AvmSettings | None = None) -> tuple[pd.DataFrame, float, dict[str, int]]:
    """Labelled, leak-free pairs with purchase-time inputs; returns (frame, threshold, counts)."""
    indexes = indexes or AsOfIndexes(sales)
    pairs = repeat_sale_pairs(sales)
    clean = leak_free(pairs)
    counts = {"pairs": len(pairs), "excluded_built_or_renovated_after_purchase": int((~clean).sum())}
    pairs = pairs.loc[clean].reset_index(drop=True)
    pairs["excess_return"] = excess_return(pairs, HedonicIndex.from_sales(sales))
    if threshold is None:
        threshold = float(np.quantile(pairs["excess_return"], DEAL_QUANTILE)) if len(pairs) else float("nan")
    pairs["is_deal"] = (pairs["excess_return"] >= threshold).astype(int)
    targets = pairs.assign(date=pairs["sale_date"])
    comps = asof_comps(targets, sales, indexes, rule)
    value = asof_avm_values(pairs, sales, indexes, avm_settings) if avm_settings is not None else None
    x = deal_inputs(pairs, pairs["sale_price"], comps, indexes.trend_pct(pairs["sale_date"]), value)
    frame = pd.concat([pairs[["parcel_id", "sale_id", "sale_date", "resale_date", "excess_return", "is_deal"]],
                       x], axis=1)
    counts["labelled_pairs"] = len(frame)
    counts["deals"] = int(frame["is_deal"].sum())
    return frame, threshold, counts


def propensity_frame(sales: pd.DataFrame, indexes: AsOfIndexes, horizon_months: int = 12,
                     snapshots: list[pd.Timestamp] | None = None,
                     rule: CompsSettings | None = None) -> pd.DataFrame:
    """Yearly snapshots of parcels known then, labelled with a sale in the next `horizon_months`."""
    dates = pd.to_datetime(sales["sale_date"])
    if snapshots is None:
        first = dates.min() + pd.DateOffset(months=12)
        last = dates.max() - pd.DateOffset(months=horizon_months) + pd.DateOffset(days=10)
        snapshots = [pd.Timestamp(year=y, month=1, day=1) for y in range(first.year + 1, last.year + 2)
                     if pd.Timestamp(year=y, month=1, day=1) <= last]
    frames = []
    for snapshot in snapshots:
        known = sales.loc[dates < snapshot]
        if known.empty:
            continue
        frames.append(propensity_inputs(known, snapshot, indexes, rule).assign(
            snapshot=snapshot, sold_next_12m=lambda f, s=snapshot: f["parcel_id"].isin(
                sales.loc[(dates >= s) & (dates < s + pd.DateOffset(months=horizon_months)), "parcel_id"]
            ).astype(int)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def propensity_inputs(known_sales: pd.DataFrame, as_of: pd.Timestamp, indexes: AsOfIndexes,
                      rule: CompsSettings | None = None) -> pd.DataFrame:
    """One row per parcel from its sales before `as_of` (the caller passes only those).

    `rule`: the comps rule for `last_price_to_comps_value` (comps of other parcels sold before
    `as_of`); without it that input is missing."""
    ordered = known_sales.sort_values(["parcel_id", "sale_date", "sale_id"])
    last = ordered.groupby("parcel_id").tail(1).set_index("parcel_id")
    count = ordered.groupby("parcel_id").size()
    x = building_at(last)
    years_since = (as_of - pd.to_datetime(last["sale_date"])).dt.days / 365.25
    x["age_years"] = x["age_years"] + years_since
    x["eff_age_years"] = x["eff_age_years"] + years_since
    x["years_since_last_sale"] = years_since
    x["prior_sales"] = count.reindex(last.index).astype(float)
    index = indexes.before(as_of)
    if index.last_month is not None:
        moved = last["sale_price"].astype(float) * index.level(pd.Series([index.last_month]))[0] / \
            index.level(last["sale_date"])
    else:
        moved = last["sale_price"].astype(float)
    x["last_price_per_sqft_indexed"] = moved / x["living_sqft"].where(x["living_sqft"] > 0)
    x["market_trend_12m_pct"] = index.trend_pct(index.last_month) if index.last_month is not None else np.nan
    x["gain_since_purchase_pct"] = (moved / last["sale_price"].astype(float) - 1.0) * 100.0
    x["last_sale_month"] = pd.to_datetime(last["sale_date"]).dt.month.astype(float)
    x["last_price_to_comps_value"] = np.nan
    if rule is not None:
        targets = last.reset_index().assign(date=as_of)
        comps = asof_comps(targets, known_sales, indexes, rule)
        value = comps["comps_median_price_per_sqft"].to_numpy() * x["living_sqft"].where(x["living_sqft"] > 0)
        x["last_price_to_comps_value"] = moved / value
    return x.reset_index().rename(columns={"index": "parcel_id"})


@dataclass(frozen=True)
class BareDealModel:
    """The baseline the deal component must match: a logistic regression of the deal label on
    log(price / comparable-sales value) alone. Rows without a comps value get the base rate."""

    coef: float
    intercept: float
    base_rate: float

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        ratio = pd.to_numeric(x["price_to_comps"], errors="coerce").astype(float).to_numpy()
        known = np.isfinite(ratio) & (ratio > 0)
        margin = self.coef * np.log(np.where(known, ratio, 1.0)) + self.intercept
        return np.where(known, 1.0 / (1.0 + np.exp(-margin)), self.base_rate)

    def as_dict(self) -> dict[str, float]:
        return {"coef": self.coef, "intercept": self.intercept, "base_rate": self.base_rate}


def fit_bare_deal_model(frame: pd.DataFrame, label: str = "is_deal") -> BareDealModel:
    """Fit the bare model on labelled pairs (`price_to_comps`, `label`)."""
    from sklearn.linear_model import LogisticRegression

    y = frame[label].to_numpy(dtype=int)
    ratio = pd.to_numeric(frame["price_to_comps"], errors="coerce").astype(float)
    known = (ratio > 0).to_numpy()
    base_rate = float(y.mean()) if len(y) else float("nan")
    if known.sum() < 10 or not 0 < y[known].sum() < known.sum():  # nothing to learn: the base rate
        rate = float(np.clip(base_rate if np.isfinite(base_rate) else 0.5, 1e-6, 1 - 1e-6))
        return BareDealModel(0.0, float(np.log(rate / (1 - rate))), base_rate)
    fit = LogisticRegression(C=1e4).fit(np.log(ratio[known].to_numpy()).reshape(-1, 1), y[known])
    return BareDealModel(float(fit.coef_[0][0]), float(fit.intercept_[0]), base_rate)


def bare_deal_holdout(frame: pd.DataFrame, holdout_fraction: float) -> dict[str, float]:
    """The bare model fitted on the older pairs and judged on the deal model's own hold-out
    (the same split as `train_classifier`: newest `holdout_fraction` by purchase date)."""
    from realestate_assets.ml.classifier import classification_metrics

    data = frame.sort_values("sale_date", kind="stable").reset_index(drop=True)
    cut = int(len(data) * (1 - holdout_fraction))
    bare = fit_bare_deal_model(data.iloc[:cut])
    hold = data.iloc[cut:]
    return classification_metrics(hold["is_deal"].to_numpy(), bare.predict_proba(hold))


def block_turnover(parcels: pd.DataFrame, known_sales: pd.DataFrame, as_of: pd.Timestamp,
                   radius_m: float = 400.0, months: int = 24) -> np.ndarray:
    """Recorded sales within `radius_m` of each parcel in the `months` before `as_of`, per parcel
    known there (any recorded sale before `as_of`): the block's turnover rate. Sales on or after
    `as_of` are ignored (no leak). `parcels`: latitude, longitude."""
    from scipy.spatial import cKDTree

    from realestate_assets.geo import to_xy

    dates = pd.to_datetime(known_sales["sale_date"])
    known = known_sales.loc[dates < as_of]
    if known.empty or parcels.empty:
        return np.full(len(parcels), np.nan)
    recent = known.loc[pd.to_datetime(known["sale_date"]) >= as_of - pd.DateOffset(months=months)]
    located = known.drop_duplicates("parcel_id", keep="last")
    ref = float(located["latitude"].astype(float).mean())

    def xy(frame: pd.DataFrame) -> np.ndarray:
        return to_xy(frame["latitude"].to_numpy(dtype=float), frame["longitude"].to_numpy(dtype=float), ref)

    here = xy(parcels)
    n_parcels = np.array([len(i) for i in cKDTree(xy(located)).query_ball_point(here, radius_m)], dtype=float)
    n_sales = np.array([len(i) for i in cKDTree(xy(recent)).query_ball_point(here, radius_m)], dtype=float) \
        if len(recent) else np.zeros(len(parcels))
    return np.divide(n_sales, n_parcels, out=np.full(len(parcels), np.nan), where=n_parcels > 0)


def train_deal_model(sales: pd.DataFrame, rule: CompsSettings, settings: ClassifierSettings,
                     indexes: AsOfIndexes | None = None,
                     progress: Callable[[int], None] | None = None,
                     avm_settings: AvmSettings | None = None) -> TrainedClassifier:
    frame, threshold, counts = deal_training_frame(sales, rule, indexes, avm_settings=avm_settings)
    model = train_classifier("deal", frame, "is_deal", "sale_date", DEAL_NUMERIC, DEAL_CATEGORICAL,
                             settings, progress)
    model.extra = {"label": f"excess return over the market index ≥ the top-quartile threshold {threshold:.4f} "
                            "(log points) of training pairs", "threshold_log": threshold,
                   "threshold_pct": float(np.expm1(threshold) * 100), **counts,
                   # The baseline rides with the model so every later evaluation can put them side by side.
                   "bare_model": fit_bare_deal_model(frame).as_dict(),
                   "bare_model_holdout": bare_deal_holdout(frame, settings.holdout_fraction)}
    return model


def train_propensity_model(sales: pd.DataFrame, settings: ClassifierSettings,
                           indexes: AsOfIndexes | None = None,
                           progress: Callable[[int], None] | None = None,
                           rule: CompsSettings | None = None) -> TrainedClassifier:
    indexes = indexes or AsOfIndexes(sales)
    frame = propensity_frame(sales, indexes, rule=rule)
    if frame.empty:  # under two years of history: no snapshot has a known past and a known year after
        raise ValueError("sale_propensity: no yearly snapshot with a year of history before and after it")
    model = train_classifier("sale_propensity", frame, "sold_next_12m", "snapshot", PROPENSITY_NUMERIC,
                             PROPENSITY_CATEGORICAL, settings, progress)
    model.extra = {"label": "a recorded sale within 12 months of the snapshot (1 January each year)",
                   "snapshots": sorted({str(s.date()) for s in frame["snapshot"]}), "rows": len(frame)}
    return model


def deal_inputs_from_features(features: pd.DataFrame, estimated_value: pd.Series | None = None) -> pd.DataFrame:
    """Deal-model inputs for scored prospects: the asking price (list_price) is the price,
    `estimated_value` the AVM's value today."""
    x = features[[*BUILDING, "use_type", "comps_count", "comps_value_spread_pct", "market_trend_12m_pct"]].copy()
    sqft = x["living_sqft"].where(x["living_sqft"] > 0)
    price = features["list_price"].astype(float) if "list_price" in features else pd.Series(np.nan, index=x.index)
    x["price_per_sqft"] = price / sqft
    x["price_to_comps"] = price / (features["comps_median_price_per_sqft"] * sqft)
    x["price_to_avm"] = price / estimated_value.astype(float) if estimated_value is not None else np.nan
    return x


def propensity_inputs_from_features(features: pd.DataFrame) -> pd.DataFrame:
    """The same inputs from the features table (as `propensity_inputs` computes them from sales)."""
    x = features[[*BUILDING, "use_type", "years_since_last_sale", "market_trend_12m_pct"]].copy()
    x["prior_sales"] = features["sale_count"].astype(float) if "sale_count" in features else np.nan
    indexed = features["last_sale_price_indexed"].astype(float)
    x["last_price_per_sqft_indexed"] = indexed / x["living_sqft"].where(x["living_sqft"] > 0)
    last_price = features["last_sale_price"].astype(float) if "last_sale_price" in features else np.nan
    x["gain_since_purchase_pct"] = (indexed / last_price - 1.0) * 100.0
    x["last_price_to_comps_value"] = features["last_price_to_comps_value"].astype(float) \
        if "last_price_to_comps_value" in features else np.nan
    # Once per distinct (as-of date, years) pair: a chunk of a million-parcel county has one
    # as-of date and ≈110 ages, and the conversions cost ≈0.4 CPU s a million rows row by row.
    x["last_sale_month"] = per_distinct(_last_sale_month, features["as_of_date"],
                                        features["years_since_last_sale"].astype(float))
    return x


def _last_sale_month(as_of_date: pd.Series, years_since_last_sale: pd.Series) -> np.ndarray:
    last_date = pd.to_datetime(as_of_date) - pd.to_timedelta(years_since_last_sale * 365.25, unit="D")
    return last_date.dt.month.astype(float).to_numpy()
