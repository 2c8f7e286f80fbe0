"""80% value ranges: split-conformal intervals on out-of-fold log residuals, by price band.

Every estimate carries `estimated_value_low`/`estimated_value_high`. The residuals r =
log(sale price / estimate) come from time-series cross-validation (each fold's model never
saw the sales it values, and values them as the production model would: frozen at the fold's
cut-off, moved along the projected index). Residuals are grouped into `bands` bands of the
estimate (equal counts; a band needs `min_rows` residuals, else fewer bands), because errors
are not the same for a starter home and a waterfront house (Mondrian split-conformal: the
guarantee holds within each band). Within a band of n residuals the interval is

    [estimate · exp(r_(lo)), estimate · exp(r_(hi))],
    lo = ⌊(n + 1)·α/2⌋-th smallest, hi = ⌈(n + 1)·(1 − α/2)⌉-th smallest, α = 1 − coverage,

the finite-sample conformal quantiles, equal-tailed (the lower and upper tails are each α/2,
so a biased estimate gets an asymmetric range). The guarantee assumes later sales are
exchangeable with the calibration sales; a market turn breaks that, which is why the backtest
measures coverage on sales after its cut-off instead of trusting it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

COVERAGE = 0.8
BANDS = 4
MIN_ROWS = 50


def conformal_bounds(residuals: np.ndarray, coverage: float = COVERAGE) -> tuple[float, float]:
    """The equal-tailed split-conformal quantiles of `residuals` (see the module docstring)."""
    r = np.sort(np.asarray(residuals, dtype=float)[np.isfinite(residuals)])
    n = len(r)
    if n == 0:
        return (float("nan"), float("nan"))
    alpha = 1.0 - coverage
    lo = math.floor((n + 1) * alpha / 2 + 1e-9)  # 1e-9: 1 − 0.8 is 0.19999… in binary floating point
    hi = math.ceil((n + 1) * (1 - alpha / 2) - 1e-9)
    return (float(r[lo - 1]) if lo >= 1 else -math.inf, float(r[hi - 1]) if hi <= n else math.inf)


@dataclass(frozen=True)
class PriceBandIntervals:
    """Per band of the estimate: the log-residual bounds (see the module docstring)."""

    edges: list[float]   # inner band edges in USD of the estimate (len = bands − 1)
    lower: list[float]   # log-residual lower bound per band
    upper: list[float]   # log-residual upper bound per band
    counts: list[int]    # calibration residuals per band
    coverage: float = COVERAGE

    @classmethod
    def fit(cls, estimate: np.ndarray, actual: np.ndarray, coverage: float = COVERAGE, bands: int = BANDS,
            min_rows: int = MIN_ROWS) -> PriceBandIntervals:
        estimate, actual = np.asarray(estimate, dtype=float), np.asarray(actual, dtype=float)
        ok = np.isfinite(estimate) & np.isfinite(actual) & (estimate > 0) & (actual > 0)
        estimate, residual = estimate[ok], np.log(actual[ok] / estimate[ok])
        bands = max(1, min(bands, len(estimate) // min_rows))
        edges = np.quantile(estimate, np.arange(1, bands) / bands).tolist() if bands > 1 else []
        band = np.searchsorted(edges, estimate, side="right")
        lower, upper, counts = [], [], []
        for b in range(bands):
            lo, hi = conformal_bounds(residual[band == b], coverage)
            lower.append(lo)
            upper.append(hi)
            counts.append(int((band == b).sum()))
        return cls([float(e) for e in edges], lower, upper, counts, coverage)

    def bounds(self, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) in USD for each estimate; NaN where the estimate is missing or its band had
        too few residuals for a finite 80% range (fewer than 9: no range rather than an endless one)."""
        estimate = np.asarray(estimate, dtype=float)
        band = np.searchsorted(self.edges, np.nan_to_num(estimate), side="right")
        low = estimate * np.exp(np.asarray(self.lower)[band])
        high = estimate * np.exp(np.asarray(self.upper)[band])
        finite = np.isfinite(low) & np.isfinite(high)
        return np.where(finite, low, np.nan), np.where(finite, high, np.nan)

    def by_band(self, low: np.ndarray, high: np.ndarray, estimate: np.ndarray,
                actual: np.ndarray) -> list[dict[str, float]]:
        """`interval_metrics` per price band of the estimate (the guarantee is per band)."""
        estimate = np.asarray(estimate, dtype=float)
        band = np.searchsorted(self.edges, np.nan_to_num(estimate), side="right")
        bounds = [0.0, *self.edges, float("inf")]
        return [{"from_usd": bounds[b], "to_usd": bounds[b + 1], **interval_metrics(
                    np.asarray(low)[band == b], np.asarray(high)[band == b], estimate[band == b],
                    np.asarray(actual, dtype=float)[band == b])} for b in range(len(self.edges) + 1)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PriceBandIntervals:
        return cls(**data)


def interval_metrics(low: np.ndarray, high: np.ndarray, estimate: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Measured coverage of [low, high] and its width (median, as % of the estimate)."""
    low, high, estimate, actual = (np.asarray(a, dtype=float) for a in (low, high, estimate, actual))
    ok = np.isfinite(low) & np.isfinite(high) & np.isfinite(actual) & (estimate > 0)
    inside = (actual[ok] >= low[ok]) & (actual[ok] <= high[ok])
    return {"n": int(ok.sum()), "coverage_pct": float(inside.mean() * 100) if ok.any() else float("nan"),
            "below_pct": float((actual[ok] < low[ok]).mean() * 100) if ok.any() else float("nan"),
            "above_pct": float((actual[ok] > high[ok]).mean() * 100) if ok.any() else float("nan"),
            "median_width_pct": float(np.median((high[ok] - low[ok]) / estimate[ok]) * 100)
            if ok.any() else float("nan")}
