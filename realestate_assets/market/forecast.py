"""The market index projected past its last month: an additive damped-trend model on log levels.

Why: a model trained up to a cut-off prices every later sale at the last training month's
market; in a rising market that alone is a bias of about the market's monthly change times the
months elapsed. Between retrains the value is therefore moved along the index *projected* from
its recent trend, not held flat.

Model (Gardner & McKenzie's damped trend, exponential smoothing on y_t = log index level):

    level_t = α·y_t + (1 − α)·(level_{t−1} + φ·trend_{t−1})
    trend_t = β·(level_t − level_{t−1}) + (1 − β)·φ·trend_{t−1}
    ŷ_{T+h} = level_T + (φ + φ² + … + φ^h)·trend_T

The damping φ < 1 flattens the projected trend with the horizon, so a hot year is not
extrapolated for ever (the long-run change is bounded by φ/(1 − φ) months of the last trend).
α, β and φ are chosen on a small fixed grid by the one-step-ahead squared error over the
fitted months only — the model never sees a month after the index's last one. Too short a
series (fewer than `MIN_MONTHS`) is projected flat (no trend): that is the frozen model.

Hand-written (about thirty lines) because the project has no statsmodels dependency and the
grid search over 300 settings of a 100-month series takes milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import product

import numpy as np
import pandas as pd

from realestate_assets.market.index import HedonicIndex, month_start

MIN_MONTHS = 12  # fewer fitted months → no trend is estimated (flat projection)
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BETAS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
PHIS = (0.8, 0.85, 0.9, 0.95, 0.98)


def _smooth(y: np.ndarray, alpha: float, beta: float, phi: float) -> tuple[float, float, float]:
    """Run the recursions over `y`; returns (final level, final trend, one-step-ahead SSE)."""
    level, trend = y[0], y[1] - y[0]
    sse = 0.0
    for value in y[1:]:
        predicted = level + phi * trend
        sse += (value - predicted) ** 2
        new_level = alpha * value + (1 - alpha) * predicted
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        level = new_level
    return level, trend, sse


@dataclass(frozen=True)
class DampedTrend:
    """A fitted damped-trend model of a monthly log series, ending at `last_month`."""

    alpha: float
    beta: float
    phi: float
    level: float  # log level at last_month (smoothed state)
    trend: float  # log change per month at last_month
    last_month: str
    fitted_months: int

    @classmethod
    def fit(cls, log_levels: pd.Series) -> DampedTrend:
        """Fit on a monthly series (index: month starts, no gaps). Flat when too short."""
        y = log_levels.to_numpy(dtype=float)
        last = str(pd.Timestamp(log_levels.index.max()).date())
        if len(y) < MIN_MONTHS or not np.isfinite(y).all():
            return cls(1.0, 0.0, 0.0, float(y[-1]) if len(y) else 0.0, 0.0, last, len(y))
        best = min(product(ALPHAS, BETAS, PHIS), key=lambda p: _smooth(y, *p)[2])
        level, trend, _ = _smooth(y, *best)
        return cls(*best, level=float(level), trend=float(trend), last_month=last, fitted_months=len(y))

    def forecast(self, horizons: np.ndarray) -> np.ndarray:
        """Log change from the last fitted level to h months ahead (h ≤ 0 → 0)."""
        h = np.maximum(np.asarray(horizons, dtype=float), 0.0)
        if self.phi == 0.0 or self.trend == 0.0:
            return np.zeros_like(h)
        damp = h if self.phi == 1.0 else self.phi * (1 - self.phi ** h) / (1 - self.phi)
        return damp * self.trend

    def to_dict(self) -> dict[str, float | str | int]:
        return asdict(self)


def months_between(start: pd.Timestamp, dates: pd.Series | np.ndarray) -> np.ndarray:
    """Whole months from `start`'s month to each date's month."""
    months = month_start(pd.Series(pd.to_datetime(np.asarray(dates))))
    start = month_start(pd.Timestamp(start))
    return ((months.dt.year - start.year) * 12 + (months.dt.month - start.month)).to_numpy(dtype=float)


@dataclass(frozen=True)
class MarketForecast:
    """The market change from an index's last month to any later month, as projected then."""

    model: DampedTrend

    @classmethod
    def from_index(cls, index: HedonicIndex, cutoff: pd.Timestamp | None = None) -> MarketForecast:
        """Fitted on the index's own months only (an index fitted before a cut-off knows nothing
        after it), and only on the months that are over by `cutoff`: a month whose sales are not
        all in yet (the current month, or a fold that ends mid-month) has a noisy level that would
        bend the trend, so the projection starts from the last complete month instead."""
        levels = index.by_month
        if cutoff is not None:
            complete = levels.loc[levels.index < month_start(pd.Timestamp(cutoff))]
            levels = complete if len(complete) else levels
        if levels.empty:
            return cls(DampedTrend(1.0, 0.0, 0.0, 0.0, 0.0, "", 0))
        return cls(DampedTrend.fit(np.log(levels)))

    @classmethod
    def from_dict(cls, data: dict) -> MarketForecast:
        return cls(DampedTrend(**data))

    @property
    def last_month(self) -> pd.Timestamp | None:
        return pd.Timestamp(self.model.last_month) if self.model.last_month else None

    def horizon(self, dates: pd.Series | np.ndarray) -> np.ndarray:
        """Months from the last fitted month to each date's (0 on or before it, or without a model)."""
        if self.last_month is None:
            return np.zeros(len(dates))
        return np.maximum(months_between(self.last_month, dates), 0.0)

    def factor(self, dates: pd.Series | np.ndarray) -> np.ndarray:
        """Projected index ratio (date's month ÷ last fitted month); 1.0 on or before the last month."""
        if self.last_month is None:
            return np.ones(len(dates))
        return np.exp(self.model.forecast(months_between(self.last_month, dates)))

    def to_dict(self) -> dict[str, float | str | int]:
        return self.model.to_dict()


def forecast_error(forecast: MarketForecast, realized: HedonicIndex, months: pd.Series) -> pd.DataFrame:
    """Projected vs realized market change from the forecast's last month, per later month.

    `realized` is an index fitted with the later sales (known only in hindsight). The flat
    column is what a frozen model assumes (no change), for comparison.
    """
    start = forecast.last_month
    months = pd.Series(sorted(month_start(months).unique()))
    realized_factor = realized.factor(pd.Series([start] * len(months)), months)
    projected = forecast.factor(months)
    return pd.DataFrame({
        "month": months.dt.date.astype(str),
        "horizon_months": months_between(start, months).astype(int),
        "realized_change_pct": (realized_factor - 1) * 100,
        "projected_change_pct": (projected - 1) * 100,
        "error_pct": (projected / realized_factor - 1) * 100,
        "flat_error_pct": (1 / realized_factor - 1) * 100,
    })
