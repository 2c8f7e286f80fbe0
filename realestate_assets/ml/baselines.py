"""The two valuations the AVM must beat on a time hold-out: nearest comps and hedonic OLS.

Both are given the same information as the AVM (the training sales only) and value every
hold-out sale at the market of the last training month, as the AVM does.

* Size-adjusted nearest comps: the `k` nearest training sales of the same use type, each moved
  to the valuation month along the hedonic index and scaled to the subject's size with the
  hedonic size elasticity (price ∝ sqft^β); the value is their median.
* Hedonic OLS: log price on characteristics, assessor area and month dummies, predicted at the
  last training month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from realestate_assets.geo import to_xy
from realestate_assets.ml.market_index import HedonicIndex, hedonic_design, month_start


@dataclass
class HedonicOls:
    coef: pd.Series
    last_month: pd.Timestamp

    @classmethod
    def fit(cls, train: pd.DataFrame) -> HedonicOls:
        x, _ = hedonic_design(train.reset_index(drop=True))
        months = month_start(train["sale_date"])
        levels = sorted(months.unique())
        for month in levels[1:]:
            x[f"m_{month.date()}"] = (months == month).to_numpy(dtype=float)
        x.insert(0, "const", 1.0)
        y = np.log(train["sale_price"].to_numpy(dtype=float))
        coef, *_ = np.linalg.lstsq(x.to_numpy(dtype=float), y, rcond=None)
        return cls(pd.Series(coef, index=x.columns), pd.Timestamp(levels[-1]))

    @property
    def size_elasticity(self) -> float:
        return float(self.coef.get("log_sqft", 1.0))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x, _ = hedonic_design(frame.reset_index(drop=True))
        x.insert(0, "const", 1.0)
        month_col = f"m_{self.last_month.date()}"
        if month_col in self.coef:
            x[month_col] = 1.0
        x = x.reindex(columns=self.coef.index, fill_value=0.0)
        return np.exp(x.to_numpy(dtype=float) @ self.coef.to_numpy())


def nearest_comps_value(train: pd.DataFrame, targets: pd.DataFrame, index: HedonicIndex,
                        size_elasticity: float, k: int = 10) -> np.ndarray:
    """Median of the `k` nearest same-type training sales, time- and size-adjusted."""
    valuation_month = index.last_month
    out = np.full(len(targets), np.nan)
    pool = train.loc[train["living_sqft"] > 0].reset_index(drop=True)
    ref_lat = float(pool["latitude"].mean())
    adjusted = index.adjust(pool["sale_price"], pool["sale_date"], valuation_month)
    for use_type, group in targets.reset_index(drop=True).groupby("use_type", dropna=False):
        same = pool.index[pool["use_type"] == use_type].to_numpy()
        if len(same) == 0:
            continue
        tree = cKDTree(to_xy(pool.loc[same, "latitude"].to_numpy(), pool.loc[same, "longitude"].to_numpy(), ref_lat))
        kk = min(k, len(same))
        _, neighbors = tree.query(to_xy(group["latitude"].to_numpy(), group["longitude"].to_numpy(), ref_lat), k=kk)
        neighbors = np.asarray(neighbors).reshape(len(group), kk)
        chosen = same[neighbors]
        comp_sqft = pool["living_sqft"].to_numpy()[chosen]
        size_ratio = group["living_sqft"].to_numpy()[:, None] / comp_sqft
        values = adjusted[chosen] * size_ratio ** size_elasticity
        out[group.index.to_numpy()] = np.median(values, axis=1)
    return out
