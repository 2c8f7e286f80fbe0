"""A hedonic monthly market index from the county's own sales, and its as-of versions.

Why hedonic and not repeat-sales: the bundled King County file holds about 640 repeat-sale
pairs over seven years (≈ 8 a month), too few for a stable monthly repeat-sales index; a
hedonic regression uses every sale. The model is

    log(price) = β·X + γ_month + ε,   X = log living area, log lot, grade, age, effective age,
                                          beds, baths, waterfront, use type, assessor area

fitted by least squares; exp(γ_month) is the index (1.0 = first month with sales). Months
without sales carry the previous level forward; log levels are smoothed with a trailing
3-month mean (trailing, so a month's level never uses a later sale).

`as_of` versions are fitted only on sales before a month: they are what re-indexing and the
deal-model label/feature code use, so nothing depends on sales after the date it describes.
The class has the same interface as `enrich.market.PriceIndex` (`by_month`, `level`,
`adjust`, `trend_pct`) so either can be passed where an index is expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SMOOTH_MONTHS = 3


def month_start(dates: pd.Series | pd.DatetimeIndex) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(pd.to_datetime(dates)).to_period("M").to_timestamp())


def hedonic_design(sales: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Property characteristics as numeric columns (missing values → column median + flag)."""
    x = pd.DataFrame(index=sales.index)
    x["log_sqft"] = np.log(sales["living_sqft"].astype(float).clip(lower=100))
    x["log_lot"] = np.log(sales["lot_sqft"].astype(float).clip(lower=100))
    for column in ("bldg_grade", "age_at_sale", "eff_age_at_sale", "beds", "baths"):
        x[column] = sales[column].astype(float)
    x["waterfront"] = sales["waterfront"].astype(float)
    # Missing characteristics are a design-matrix detail of the index regression only (they
    # never become property facts): median-filled, with a flag column absorbing the effect.
    for column in list(x.columns):
        missing = x[column].isna()
        if missing.any():
            x[column] = x[column].fillna(x[column].median() if missing.mean() < 1 else 0.0)
            x[f"{column}_missing"] = missing.astype(float)
    dummies = []
    for column in ("use_type", "neighborhood"):
        if column in sales:
            d = pd.get_dummies(sales[column].astype("string").fillna("?"), prefix=column, dtype=float)
            dummies.append(d.iloc[:, 1:])  # drop one level: the intercept carries it
    x = pd.concat([x, *dummies], axis=1)
    return x, list(x.columns)


@dataclass(frozen=True)
class HedonicIndex:
    by_month: pd.Series  # index: month start, values: level (first month = 1.0)

    @classmethod
    def from_sales(cls, sales: pd.DataFrame, before: pd.Timestamp | None = None,
                   min_sales: int = 30) -> HedonicIndex:
        """Fit on the sales dated before `before` (all sales when None)."""
        frame = sales
        if before is not None:
            frame = sales.loc[pd.to_datetime(sales["sale_date"]) < pd.Timestamp(before)]
        frame = frame.loc[frame["sale_price"].astype(float) > 0]
        if len(frame) < min_sales:
            return cls(pd.Series(dtype=float))
        months = month_start(frame["sale_date"]).to_numpy()
        x, _ = hedonic_design(frame.reset_index(drop=True))
        month_levels = np.sort(pd.unique(months))
        month_dummies = (months[:, None] == month_levels[None, 1:]).astype(float)
        design = np.column_stack([np.ones(len(frame)), x.to_numpy(dtype=float), month_dummies])
        y = np.log(frame["sale_price"].to_numpy(dtype=float))
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        gamma = np.concatenate([[0.0], coef[-len(month_levels) + 1:]]) if len(month_levels) > 1 else np.zeros(1)
        raw = pd.Series(gamma, index=pd.DatetimeIndex(month_levels))
        full = pd.date_range(raw.index.min(), raw.index.max(), freq="MS")
        log_level = raw.reindex(full).ffill()
        smoothed = log_level.rolling(SMOOTH_MONTHS, min_periods=1).mean()
        level = np.exp(smoothed - smoothed.iloc[0])
        return cls(level)

    @property
    def last_month(self) -> pd.Timestamp | None:
        return None if self.by_month.empty else pd.Timestamp(self.by_month.index.max())

    def level(self, dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Index level for each date's month, clamped to the fitted range."""
        if self.by_month.empty:
            return np.full(len(dates), np.nan)
        months = month_start(dates)
        clipped = months.clip(self.by_month.index.min(), self.by_month.index.max())
        return self.by_month.reindex(clipped).to_numpy(dtype=float)

    def adjust(self, prices: pd.Series, from_dates: pd.Series, to_date: pd.Timestamp) -> np.ndarray:
        target = self.level(pd.Series([pd.Timestamp(to_date)]))[0]
        return np.asarray(prices, dtype=float) * target / self.level(from_dates)

    def trend_pct(self, as_of: pd.Timestamp, months: int = 12) -> float:
        now, then = self.level(pd.Series([pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.DateOffset(months=months)]))
        return float((now / then - 1.0) * 100.0)

    def to_dict(self) -> dict[str, float]:
        return {str(k.date()): round(float(v), 6) for k, v in self.by_month.items()}


class AsOfIndexes:
    """Hedonic indexes each fitted only on sales before a given month start (cached per month)."""

    def __init__(self, sales: pd.DataFrame, min_sales: int = 30) -> None:
        self.sales = sales
        self.min_sales = min_sales
        self._cache: dict[pd.Timestamp, HedonicIndex] = {}

    def before(self, date: pd.Timestamp) -> HedonicIndex:
        """The index knowable on `date`: fitted on sales before the start of its month."""
        month = pd.Timestamp(date).to_period("M").to_timestamp()
        if month not in self._cache:
            self._cache[month] = HedonicIndex.from_sales(self.sales, before=month, min_sales=self.min_sales)
        return self._cache[month]

    def trend_pct(self, dates: pd.Series, months: int = 12) -> np.ndarray:
        """Trailing `months` change up to the month before each date, from its as-of index."""
        out = np.full(len(dates), np.nan)
        for i, date in enumerate(pd.to_datetime(dates)):
            index = self.before(date)
            if index.last_month is not None:
                out[i] = index.trend_pct(index.last_month, months)
        return out

    def reindex_factor(self, from_month: pd.Timestamp, to_dates: pd.Series) -> np.ndarray:
        """Market change from `from_month` to the month before each date, using sales before that date."""
        out = np.full(len(to_dates), np.nan)
        for i, date in enumerate(pd.to_datetime(to_dates)):
            index = self.before(date)
            if index.last_month is None:
                continue
            start, end = index.level(pd.Series([pd.Timestamp(from_month), index.last_month]))
            out[i] = end / start
        return out
