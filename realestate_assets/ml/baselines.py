"""The two valuations the AVM must beat on a time hold-out: nearest comps and hedonic OLS.

Both are given the same information as the AVM (the training sales only) and value every
hold-out sale at the market of the last training month, as the AVM does.

* Size-adjusted nearest comps: comps chosen by the one comparable-sales rule
  (`market.comps`) with the looser `baseline_comps` settings of config/scoring.yaml — the
  `max_comps` (10) nearest earlier training sales of other parcels of the same use type, at any
  distance, size and age — each moved to the valuation month along the hedonic index and scaled
  to the subject's size with the hedonic size elasticity (price ∝ sqft^β); the value is their
  median. Deliberately looser than enrichment's comps: a baseline must value every hold-out
  sale, and it adjusts for size instead of filtering on it.
* Hedonic OLS: log price on characteristics, assessor area and month dummies, predicted at the
  last training month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from realestate_assets.config_models import ScoringConfig
from realestate_assets.market.comps import CompsSettings, comparable_sales
from realestate_assets.market.index import HedonicIndex, hedonic_design, month_start


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
                        size_elasticity: float, settings: CompsSettings | None = None) -> np.ndarray:
    """Median of the chosen comps' values, time- and size-adjusted, valued at the index's last month.

    Every training sale is known at valuation time: the as-of date is the day after the last one.
    """
    settings = settings or ScoringConfig().baseline_comps
    valuation_month = index.last_month
    as_of = pd.Timestamp(pd.to_datetime(train["sale_date"]).max()) + pd.Timedelta(days=1)
    frame = targets.reset_index(drop=True)
    pool = train.reset_index(drop=True)
    chosen = comparable_sales(frame, pool, as_of, settings).chosen
    comp = pool.iloc[chosen["sale"].to_numpy()]
    moved = comp["sale_price"].to_numpy(dtype=float) * index.factor(comp["sale_date"], [valuation_month] * len(comp))
    size_ratio = frame["living_sqft"].to_numpy(dtype=float)[chosen["target"]] / comp["living_sqft"].to_numpy(float)
    values = pd.Series(moved * size_ratio ** size_elasticity).groupby(chosen["target"].to_numpy()).median()
    out = np.full(len(frame), np.nan)
    out[values.index.to_numpy()] = values.to_numpy()
    return out
