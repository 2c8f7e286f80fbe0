"""Market data computed from the county's own sales: a price index, sale history and comps.

Everything here uses only sales on or before the as-of date, so a value never depends on
information from after the date it describes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from realestate_assets.config_models import ScoringConfig
from realestate_assets.geo import to_xy

MIN_COMPS = 3


def month_start(dates: pd.Series) -> pd.Series:
    return pd.to_datetime(dates).dt.to_period("M").dt.to_timestamp()


@dataclass(frozen=True)
class PriceIndex:
    """County price-per-sqft index by month (1.0 = the first month with sales).

    A trailing 3-month median of price per square foot, forward-filled over months without
    sales. Trailing, so the index for a month uses no later sale. Issue 5 replaces this
    first version with a repeat-sales or hedonic index.
    """

    by_month: pd.Series  # index: month start (Timestamp), values: index level

    @classmethod
    def from_sales(cls, sales: pd.DataFrame) -> PriceIndex:
        frame = sales.loc[sales["living_sqft"] > 0, ["sale_date", "sale_price", "living_sqft"]]
        if frame.empty:
            return cls(pd.Series(dtype=float))
        ppsf = (frame["sale_price"].astype(float) / frame["living_sqft"]).rename("ppsf")
        months = month_start(frame["sale_date"])
        monthly = ppsf.groupby(months).median()
        full = pd.date_range(monthly.index.min(), monthly.index.max(), freq="MS")
        # Median of the trailing three months' sales (not of monthly medians): more stable.
        values = []
        for month in full:
            window = (months > month - pd.DateOffset(months=3)) & (months <= month)
            values.append(ppsf[window.to_numpy()].median() if window.any() else np.nan)
        level = pd.Series(values, index=full).ffill()
        return cls(level / level.iloc[0])

    def level(self, dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Index level for each date (clamped to the index's range)."""
        if self.by_month.empty:
            return np.full(len(dates), np.nan)
        months = pd.Series(pd.DatetimeIndex(pd.to_datetime(dates)).to_period("M").to_timestamp())
        clipped = months.clip(self.by_month.index.min(), self.by_month.index.max())
        return self.by_month.reindex(clipped).to_numpy(dtype=float)

    def adjust(self, prices: pd.Series, from_dates: pd.Series, to_date: pd.Timestamp) -> np.ndarray:
        """Prices moved from their sale month to `to_date` along the index."""
        target = self.level(pd.Series([to_date]))[0]
        return prices.to_numpy(dtype=float) * target / self.level(from_dates)

    def trend_pct(self, as_of: pd.Timestamp, months: int = 12) -> float:
        """Index change over the `months` before `as_of`, in percent."""
        now, then = self.level(pd.Series([as_of, as_of - pd.DateOffset(months=months)]))
        return float((now / then - 1.0) * 100.0)


def latest_sale_facts(sales: pd.DataFrame) -> pd.DataFrame:
    """One row per parcel: the building as described at its latest sale, and its sale history."""
    ordered = sales.sort_values(["parcel_id", "sale_date", "sale_id"])
    grouped = ordered.groupby("parcel_id", sort=False)
    last = grouped.tail(1).set_index("parcel_id")
    prior = grouped.nth(-2).set_index("parcel_id") if len(ordered) else ordered.set_index("parcel_id")
    sale_year = pd.to_datetime(last["sale_date"]).dt.year
    facts = pd.DataFrame({
        "use_type": last["use_type"],
        "neighborhood": last["neighborhood"],
        "living_sqft": last["living_sqft"],
        "lot_sqft": last["lot_sqft"],
        "beds": last["beds"],
        "baths": last["baths"],
        "bldg_grade": last["bldg_grade"],
        "year_built": sale_year - last["age_at_sale"],
        "effective_year_built": sale_year - last["eff_age_at_sale"],
        "waterfront": last["waterfront"].map({1.0: True, 0.0: False}),
        "latitude": last["latitude"],
        "longitude": last["longitude"],
        "sale_count": grouped.size(),
        "last_sale_id": last["sale_id"],
        "last_sale_source": last["source"],
        "last_sale_price": last["sale_price"].astype(float),
        "last_sale_date": last["sale_date"],
        "prior_sale_price": prior["sale_price"].astype(float).reindex(last.index),
        "prior_sale_date": prior["sale_date"].reindex(last.index),
    })
    facts.index.name = "parcel_id"
    return facts


@dataclass(frozen=True)
class CompsSettings:
    """What counts as a comparable sale (config/scoring.yaml `comps_*`)."""

    radius_m: float = 1200.0
    max_comps: int = 10
    window_months: int = 24
    sqft_tolerance: float = 0.35

    @classmethod
    def from_scoring(cls, scoring: ScoringConfig) -> CompsSettings:
        return cls(radius_m=scoring.comps_radius_m, max_comps=scoring.comps_max,
                   window_months=scoring.comps_window_months, sqft_tolerance=scoring.comps_sqft_tolerance)


def comparable_sales(
    targets: pd.DataFrame, sales: pd.DataFrame, index: PriceIndex, as_of: pd.Timestamp,
    settings: CompsSettings,
) -> pd.DataFrame:
    """Nearest similar recent sales of other parcels, time-adjusted to `as_of`.

    `targets` is indexed by parcel_id with latitude, longitude, living_sqft and use_type.
    A comp is a sale of another parcel within `radius_m`, sold in the `window_months` before
    `as_of`, of the same use type and with living area within ±`sqft_tolerance`. Returns per
    target: comps_count, comps_median_price_per_sqft (time-adjusted), comps_estimated_value
    (that median × the target's living area) and comps_value_spread_pct (the comps' value
    interquartile range as a share of the estimate). Fewer than three comps → no estimate.
    """
    result = pd.DataFrame(index=targets.index, data={
        "comps_count": 0, "comps_median_price_per_sqft": np.nan,
        "comps_estimated_value": np.nan, "comps_value_spread_pct": np.nan})
    window_start = as_of - pd.DateOffset(months=settings.window_months)
    sale_dates = pd.to_datetime(sales["sale_date"])
    pool = sales.loc[(sale_dates > window_start) & (sale_dates <= as_of) & (sales["living_sqft"] > 0)]
    located = targets.dropna(subset=["latitude", "longitude", "living_sqft"])
    if pool.empty or located.empty:
        return result
    ref_lat = float(pool["latitude"].mean())
    tree = cKDTree(to_xy(pool["latitude"].to_numpy(), pool["longitude"].to_numpy(), ref_lat))
    xy = to_xy(located["latitude"].to_numpy(), located["longitude"].to_numpy(), ref_lat)
    k = min(len(pool), settings.max_comps * 6)
    distances, neighbors = tree.query(xy, k=k, distance_upper_bound=settings.radius_m)
    # With k == 1 the tree returns flat arrays: one neighbour column per target either way.
    distances = np.asarray(distances).reshape(len(located), k)
    neighbors = np.asarray(neighbors).reshape(len(located), k)
    adjusted_ppsf = index.adjust(pool["sale_price"], pool["sale_date"], as_of) / pool["living_sqft"].to_numpy()
    pool_parcel = pool["parcel_id"].to_numpy()
    pool_use = pool["use_type"].to_numpy()
    pool_sqft = pool["living_sqft"].to_numpy()

    counts, medians, spreads = [], [], []
    for row, (parcel, target) in enumerate(located.iterrows()):
        found = neighbors[row][np.isfinite(distances[row])]
        keep = (
            (pool_parcel[found] != parcel)
            & (pool_use[found] == target["use_type"])
            & (np.abs(pool_sqft[found] / target["living_sqft"] - 1.0) <= settings.sqft_tolerance)
        )
        chosen = found[keep][: settings.max_comps]  # already nearest first
        counts.append(len(chosen))
        if len(chosen) < MIN_COMPS:
            medians.append(np.nan)
            spreads.append(np.nan)
            continue
        ppsf = adjusted_ppsf[chosen]
        median = float(np.median(ppsf))
        q1, q3 = np.percentile(ppsf, [25, 75])
        medians.append(median)
        spreads.append(float((q3 - q1) / median * 100.0))
    result.loc[located.index, "comps_count"] = counts
    result.loc[located.index, "comps_median_price_per_sqft"] = medians
    result.loc[located.index, "comps_value_spread_pct"] = spreads
    result["comps_estimated_value"] = result["comps_median_price_per_sqft"] * targets["living_sqft"]
    return result
