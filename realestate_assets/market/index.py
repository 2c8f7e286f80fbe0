"""The county's monthly market index, fitted on its own sales, and its as-of versions.

Why hedonic and not repeat-sales: the bundled King County file holds about 640 repeat-sale
pairs over seven years (≈ 8 a month), too few for a stable monthly repeat-sales index; a
hedonic regression uses every sale. The model is

    log(price) = β·X + γ_month + ε,   X = log living area, log lot, grade, age, effective age,
                                          beds, baths, waterfront, use type, assessor area

fitted by least squares; exp(γ_month) is the index (1.0 = first month with sales). Months
without sales carry the previous level forward; log levels are smoothed with a trailing
3-month mean (trailing, so a month's level never uses a later sale).

Fallback for thin counties and small frames: with fewer than `min_sales` (default 30) priced
sales a regression with a dummy per month is not identified, so the index is the trailing
3-month median of price per square foot instead (median of the sales of the trailing three
months, forward-filled; `method == "median_ppsf"`). With no sale that has a living area there
is nothing to index: the index is empty, every level is NaN (`method == "empty"`), and callers
treat prices as not movable. `HedonicIndex.method` says which one was fitted.

`AsOfIndexes` holds versions fitted only on sales before a month: re-indexing, the deal labels
and the comps of a past date use them, so nothing depends on sales after the date it describes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

SMOOTH_MONTHS = 3
MIN_SALES = 30
DESIGN_CHUNK_ROWS = 50_000  # rows of the regression's design matrix held at once


def month_start(dates: pd.Series | pd.DatetimeIndex | np.ndarray | list | pd.Timestamp) -> pd.Series | pd.Timestamp:
    """The first day of each date's month: a RangeIndex'd Series of Timestamps, or one Timestamp
    for one date. The one definition of "the month of a date" (index, comps, re-indexing)."""
    if np.ndim(dates) == 0:
        return pd.Timestamp(dates).to_period("M").to_timestamp()
    # Dates already datetime64 skip `to_datetime` (its cache probe made 10,000 Timestamps per
    # call: a quarter of `features`' per-chunk work at 1M, issue 17), and the month is NumPy's
    # floor to the month, what `to_period("M").to_timestamp()` gives (wall-clock when tz-aware).
    index = pd.DatetimeIndex(dates if pd.api.types.is_datetime64_any_dtype(dates) else pd.to_datetime(dates))
    if index.tz is not None:
        index = index.tz_localize(None)
    return pd.Series(index.to_numpy().astype("datetime64[M]").astype("datetime64[ns]"))


# The sale characteristics of the hedonic regression (`hedonic_design`), and so every column
# the index reads of a sale (`INDEX_SALE_COLUMNS`: a stage that needs only the index reads only
# those of a county's sales, issue 17).
LOG_CHARACTERISTICS = (("log_sqft", "living_sqft"), ("log_lot", "lot_sqft"))
CHARACTERISTICS = ("bldg_grade", "age_at_sale", "eff_age_at_sale", "beds", "baths", "waterfront")
CATEGORIES = ("use_type", "neighborhood")
INDEX_SALE_COLUMNS = ("sale_date", "sale_price", *(c for _, c in LOG_CHARACTERISTICS), *CHARACTERISTICS, *CATEGORIES)


def hedonic_design(sales: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Property characteristics as numeric columns (missing values → column median + flag).

    A characteristic the frame does not carry at all is left out (a county without lot sizes
    still gets an index; the month dummies carry it).
    """
    numeric, dummies, names = _design_arrays(sales)
    named = dict(zip(names[:len(numeric)], numeric, strict=True))
    x = pd.concat([pd.DataFrame(named, index=sales.index, columns=names[:len(numeric)]),
                   pd.DataFrame(dummies, index=sales.index, columns=names[len(numeric):])], axis=1)
    return x, names


def _design_arrays(sales: pd.DataFrame) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """`hedonic_design`'s columns: the numeric ones (float64 arrays, one a column: stacked, they
    were 90 MB copied once more at 1M sales), the categories' dummies as one array (uint8: a
    400k-sale county with 80 areas is 32 MB of dummies, not 256 MB), and the names of both in
    order. The index fit reads the arrays: built as a frame column by column and
    joined to the dummies, the design was copied twice more (issue 17: at 1M sales the design
    was ≈0.4–0.6 of the fit's ≈1 CPU s)."""
    columns: dict[str, np.ndarray] = {}
    for name, column in LOG_CHARACTERISTICS:
        if column in sales:
            columns[name] = np.log(sales[column].astype(float, copy=False).to_numpy().clip(min=100))
    for column in CHARACTERISTICS:
        if column in sales:
            columns[column] = sales[column].astype(float, copy=False).to_numpy()  # copied once, below
    # Missing characteristics are a design-matrix detail of the index regression only (they
    # never become property facts): median-filled, with a flag column absorbing the effect.
    for column, values in list(columns.items()):
        missing = np.isnan(values)
        if missing.any():
            columns[column] = np.where(missing, 0.0 if missing.all() else np.nanmedian(values), values)
            columns[f"{column}_missing"] = missing.astype(float)
    n = len(sales)
    numeric = list(columns.values())  # not stacked: the fit copies each chunk of rows once anyway
    names = list(columns)
    codes, offsets = [], [0]
    for column in CATEGORIES:
        if column in sales:
            levels, coded = _levels(sales[column])
            names += [f"{column}_{level}" for level in levels[1:]]  # one level dropped: the intercept's
            codes.append(coded)
            offsets.append(offsets[-1] + max(len(levels) - 1, 0))
    dummies = np.zeros((offsets[-1], n), dtype=np.uint8).T
    for coded, offset in zip(codes, offsets[:-1], strict=True):
        rows = np.flatnonzero(coded > 0)
        dummies[rows, offset + coded[rows] - 1] = 1
    return numeric, dummies, names


def _levels(values: pd.Series) -> tuple[list[str], np.ndarray]:
    """A category's levels as text, sorted, missing values one level "?", and each row's level's
    position: the columns `pd.get_dummies(values.astype("string").fillna("?"))` makes, without
    converting and filling every row (≈0.2 CPU s a column at 1M sales): the row values are
    hashed once (`factorize`), only the few distinct ones become text."""
    coded, distinct = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(distinct).astype("string").tolist()  # two values may give one text: merged below
    if (coded < 0).any():
        coded = np.where(coded < 0, len(text), coded)
        text.append("?")
    levels = sorted(set(text))
    position = {level: i for i, level in enumerate(levels)}
    return levels, np.array([position[t] for t in text], dtype=np.intp)[coded]


def _hedonic_log_levels(frame: pd.DataFrame) -> pd.Series:
    """γ_month of the hedonic regression (first month = 0), one value per month with sales.

    Least squares through the normal equations, accumulated over row chunks: memory is one
    chunk of the characteristics, not the county's (the solution is the same as `lstsq` on the
    full matrix, to float rounding; the small system is solved with `lstsq`, so an empty dummy
    is harmless). The month dummies are never materialized (issue 17: at 50k sales they were
    two thirds of the design matrix and of the products): with one 1 per row, their blocks of
    XᵀX are per-month column sums of the characteristics and a diagonal of month counts.
    """
    months = month_start(frame["sale_date"]).to_numpy()
    month_levels = np.sort(pd.unique(months))
    month_col = np.searchsorted(month_levels, months)
    numeric, dummies, _ = _design_arrays(frame)
    y = np.log(frame["sale_price"].to_numpy(dtype=float))
    n_months, width_x = len(month_levels), 1 + len(numeric) + dummies.shape[1]
    xtx, xty = np.zeros((width_x, width_x)), np.zeros(width_x)
    month_sums = np.zeros((n_months, width_x))  # Σ over each month's rows of [1, x]
    for start in range(0, len(frame), DESIGN_CHUNK_ROWS):
        rows = slice(start, start + DESIGN_CHUNK_ROWS)
        # Column-major, as the frame's `to_numpy` gave it: the products and sums below add in
        # the same order, so the index is the same to the bit as fitted on the frame before.
        chunk = np.empty((len(y[rows]), width_x), order="F")
        chunk[:, 0] = 1.0
        for at, values in enumerate(numeric, start=1):
            chunk[:, at] = values[rows]
        chunk[:, 1 + len(numeric):] = dummies[rows]
        xtx += chunk.T @ chunk
        xty += chunk.T @ y[rows]
        order = np.argsort(month_col[rows], kind="stable")
        cols = month_col[rows][order]
        starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        month_sums[cols[starts]] += np.add.reduceat(chunk[order], starts, axis=0)
    counts = np.bincount(month_col, minlength=n_months).astype(float)
    month_y = np.bincount(month_col, weights=y, minlength=n_months)
    # The full system over [1, x, months 2..n] (the first month is the intercept's).
    width = width_x + n_months - 1
    full, rhs = np.zeros((width, width)), np.zeros(width)
    full[:width_x, :width_x], rhs[:width_x] = xtx, xty
    full[width_x:, :width_x] = month_sums[1:]
    full[:width_x, width_x:] = month_sums[1:].T
    full[width_x:, width_x:] = np.diag(counts[1:])
    rhs[width_x:] = month_y[1:]
    # The small system (≈100 unknowns) on one BLAS thread: OpenBLAS' threads, woken by the
    # products above, made this solve ≈50 ms of CPU and ≈140 ms of wall on a loaded 2-core
    # machine against ≈1.5 ms alone (issue 17; once in `enrichment`, once in `features`). The
    # same coefficients, bit for bit (tests/test_market_and_features.py), and the same on a
    # machine of any core count.
    with _blas_threads().limit(limits=1, user_api="blas"):
        coef, *_ = np.linalg.lstsq(full, rhs, rcond=None)
    gamma = np.concatenate([[0.0], coef[-n_months + 1:]]) if n_months > 1 else np.zeros(1)
    return pd.Series(gamma, index=pd.DatetimeIndex(month_levels))


@functools.cache
def _blas_threads() -> ThreadpoolController:
    """The process's thread pools, found once: `threadpool_limits` looks for them again on every
    call (every loaded library inspected: 6.8 ms a call with the definitions imported, 0.02 ms
    through this), once per index fitted, and training fits one per sale month (`AsOfIndexes`):
    161 fits in a 400-parcel pipeline run. numpy's BLAS, the one `lstsq` runs on, is loaded with
    numpy, before the first call; a BLAS loaded after it is not limited (none that `lstsq` uses)."""
    return ThreadpoolController()


def _median_ppsf_levels(frame: pd.DataFrame) -> pd.Series:
    """Trailing 3-month median price per sqft (of the sales, not of monthly medians), by month."""
    frame = frame.loc[frame["living_sqft"].astype(float) > 0]
    if frame.empty:
        return pd.Series(dtype=float)
    ppsf = (frame["sale_price"].to_numpy(dtype=float) / frame["living_sqft"].to_numpy(dtype=float))
    months = month_start(frame["sale_date"]).to_numpy()
    full = pd.date_range(months.min(), months.max(), freq="MS")
    values = [np.median(ppsf[(months > m - pd.DateOffset(months=SMOOTH_MONTHS)) & (months <= m)])
              if ((months > m - pd.DateOffset(months=SMOOTH_MONTHS)) & (months <= m)).any() else np.nan
              for m in full]
    return pd.Series(values, index=full).ffill()


@dataclass(frozen=True)
class HedonicIndex:
    """Monthly index levels (first month = 1.0); see the module docstring for the fallback."""

    by_month: pd.Series  # index: month start, values: level (first month = 1.0)
    method: str = "hedonic"  # hedonic | median_ppsf | empty

    @classmethod
    def from_sales(cls, sales: pd.DataFrame, before: pd.Timestamp | None = None,
                   min_sales: int = MIN_SALES) -> HedonicIndex:
        """Fit on the priced sales dated before `before` (all sales when None)."""
        frame = sales
        if before is not None:
            frame = sales.loc[pd.to_datetime(sales["sale_date"]) < pd.Timestamp(before)]
        priced = frame["sale_price"].astype(float) > 0
        if not priced.all():  # else the frame as it is: a copy of the county's sales saved
            frame = frame.loc[priced]
        if len(frame) >= min_sales:
            raw = _hedonic_log_levels(frame)
            full = pd.date_range(raw.index.min(), raw.index.max(), freq="MS")
            smoothed = raw.reindex(full).ffill().rolling(SMOOTH_MONTHS, min_periods=1).mean()
            return cls(np.exp(smoothed - smoothed.iloc[0]), "hedonic")
        level = _median_ppsf_levels(frame)
        if level.empty:
            return cls(pd.Series(dtype=float), "empty")
        return cls(level / level.iloc[0], "median_ppsf")

    @property
    def last_month(self) -> pd.Timestamp | None:
        return None if self.by_month.empty else pd.Timestamp(self.by_month.index.max())

    def level(self, dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
        """Index level for each date's month, clamped to the fitted range (NaN when empty)."""
        if self.by_month.empty:
            return np.full(len(dates), np.nan)
        # Clipped and looked up on NumPy's datetime64 (NaT stays NaT, whose level is NaN): pandas'
        # `clip` and `reindex` of a Series were ≈0.3 of `features`' chunks' CPU s at 1M (issue 17).
        months = month_start(dates).to_numpy(dtype="datetime64[ns]")
        levels = self.by_month.index
        clipped = np.clip(months, levels.min().to_datetime64(), levels.max().to_datetime64())
        at = levels.get_indexer(clipped)
        return np.where(at >= 0, self.by_month.to_numpy(dtype=float)[at], np.nan)

    def factor(self, from_dates: pd.Series | np.ndarray, to_dates: pd.Series | np.ndarray) -> np.ndarray:
        """Market change from each `from_dates` month to the matching `to_dates` month."""
        return self.level(to_dates) / self.level(from_dates)

    def adjust(self, prices: pd.Series, from_dates: pd.Series, to_date: pd.Timestamp) -> np.ndarray:
        """Prices moved from their sale month to `to_date` along the index."""
        target = self.level(pd.Series([pd.Timestamp(to_date)]))[0]
        return np.asarray(prices, dtype=float) * target / self.level(from_dates)

    def trend_pct(self, as_of: pd.Timestamp, months: int = 12) -> float:
        """Index change over the `months` before `as_of`, in percent."""
        now, then = self.level(pd.Series([pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.DateOffset(months=months)]))
        return float((now / then - 1.0) * 100.0)

    def to_dict(self) -> dict[str, float]:
        return {str(k.date()): round(float(v), 6) for k, v in self.by_month.items()}


class AsOfIndexes:
    """Hedonic indexes each fitted only on sales before a given month start (cached per month)."""

    def __init__(self, sales: pd.DataFrame, min_sales: int = MIN_SALES) -> None:
        self.sales = sales
        self.min_sales = min_sales
        self._cache: dict[pd.Timestamp, HedonicIndex] = {}

    def before(self, date: pd.Timestamp) -> HedonicIndex:
        """The index knowable on `date`: fitted on sales before the start of its month."""
        month = month_start(date)
        if month not in self._cache:
            self._cache[month] = HedonicIndex.from_sales(self.sales, before=month, min_sales=self.min_sales)
        return self._cache[month]

    def _per_month(self, dates: pd.Series | np.ndarray,
                   value: Callable[[HedonicIndex, np.ndarray], np.ndarray | float]) -> np.ndarray:
        """`value(index, positions)` for the rows of each distinct month of `dates`."""
        months = month_start(dates).to_numpy()
        out = np.full(len(months), np.nan)
        for month in pd.unique(months):
            rows = np.flatnonzero(months == month)
            index = self.before(pd.Timestamp(month))
            if index.last_month is not None:
                out[rows] = value(index, rows)
        return out

    def factor(self, from_dates: pd.Series | np.ndarray, to_dates: pd.Series | np.ndarray) -> np.ndarray:
        """Market change from each `from_dates` month to the month before each `to_dates`, along
        the index fitted on sales before that month; 1.0 where no index was knowable yet."""
        from_dates = pd.Series(pd.to_datetime(np.asarray(from_dates)))
        out = self._per_month(to_dates, lambda index, rows: index.level(pd.Series([index.last_month]))[0]
                              / index.level(from_dates.iloc[rows]))
        return np.where(np.isnan(out), 1.0, out)

    def trend_pct(self, dates: pd.Series, months: int = 12) -> np.ndarray:
        """Trailing `months` change up to the month before each date, from its as-of index."""
        return self._per_month(dates, lambda index, rows: index.trend_pct(index.last_month, months))

    def reindex_factor(self, from_month: pd.Timestamp, to_dates: pd.Series) -> np.ndarray:
        """Market change from `from_month` to the month before each date, using sales before that date."""
        return self._per_month(to_dates, lambda index, rows: np.divide(
            *index.level(pd.Series([index.last_month, pd.Timestamp(from_month)]))))
