"""The one comparable-sales rule: which recorded sales are comparable to a property, as of a date.

A comp of a target is a recorded sale that is

* of ANOTHER parcel (a house is not its own comparable),
* dated STRICTLY BEFORE the target's as-of date (a sale on the as-of day is not yet known),
  and after the as-of date minus `window_months`,
* of the same use type (an unknown use type has no comps),
* of a living area within ±`sqft_tolerance` of the target's,
* within `radius_m` metres,

taken nearest first, at most `max_comps`. With fewer than `min_comps` the rule gives no
estimate (the comps found are still counted and returned). Every target may carry its own
as-of date (the deal labels value each purchase at its own date); enrichment uses one date.
`config/scoring.yaml` `comps:` holds the settings (`CompsSettings`); the AVM's nearest-comps
baseline is the same rule with its own, looser settings (`baseline_comps:`).

Vectorized (issue 17): sales and targets are projected to metres once, one KD-tree is built
over the candidate sales, and the targets are queried in chunks of `chunk_rows` for their
`candidates` nearest sales; the filters run as NumPy arrays over that (targets × candidates)
matrix. A row that found fewer than `max_comps` while its last candidate was still inside the
radius is queried again with 4× the candidates, only that row, until it is complete — so the
over-fetch size changes speed, never the answer. Memory is bounded by `chunk_rows ×
candidates` matrix cells.

Results (`Comps`): `chosen`, one row per (target, comp) nearest first — target position,
sale position, parcel, date, price, living area, distance, time-adjusted price and price per
sqft — and `summary`, one row per target: comps_count, comps_median_price_per_sqft,
comps_estimated_value (that median × the target's living area) and comps_value_spread_pct (the
comps' interquartile range as a share of the median). Prices are moved from their sale month
to the target's as-of month along a market index (`index.factor(from_dates, to_dates)`:
`HedonicIndex` for one as-of, `AsOfIndexes` for per-row dates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from realestate_assets.config_models import CompsSettings
from realestate_assets.geo import to_xy

__all__ = ["Comps", "CompsSettings", "SalesPool", "comparable_sales"]

SUMMARY_COLUMNS = ["comps_count", "comps_median_price_per_sqft", "comps_estimated_value", "comps_value_spread_pct"]
WIDEN = 4  # a row short of comps is re-queried with this many times the candidates


class MarketIndex(Protocol):
    def factor(self, from_dates: pd.Series | np.ndarray, to_dates: pd.Series | np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Comps:
    chosen: pd.DataFrame   # one row per (target, comp), by target then nearest first
    summary: pd.DataFrame  # one row per target, indexed like the targets


def _days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as whole days since the epoch (int64; NaT → the int64 minimum)."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).to_numpy("datetime64[D]").astype(np.int64)


class SalesPool:
    """The sales that can be comps, projected and indexed once (reused across calls, e.g. memos).

    Only located sales with a living area count. `earliest`/`latest` narrow the pool to the
    sales that can be a comp of any as-of date in [earliest, latest]: fewer points, fewer
    candidates dropped by the date filter.
    """

    def __init__(self, sales: pd.DataFrame, settings: CompsSettings, earliest: pd.Timestamp | None = None,
                 latest: pd.Timestamp | None = None) -> None:
        self.settings = settings
        dates = pd.to_datetime(sales["sale_date"])
        usable = (sales["living_sqft"].astype(float) > 0) & sales["latitude"].notna() & sales["longitude"].notna()
        if latest is not None:
            usable &= dates < pd.Timestamp(latest)
        if earliest is not None and settings.window_months is not None:
            usable &= dates > pd.Timestamp(earliest) - pd.DateOffset(months=settings.window_months)
        self.sales = sales
        self.rows = np.flatnonzero(usable.to_numpy())  # pool position → position in `sales`
        pool = sales.iloc[self.rows]
        self.ref_lat = float(pool["latitude"].mean()) if len(pool) else 0.0
        self.tree = cKDTree(to_xy(pool["latitude"], pool["longitude"], self.ref_lat)) if len(pool) else None
        self.date = _days(pool["sale_date"])
        self.sqft = pool["living_sqft"].to_numpy(dtype=float)
        self.parcel = pool["parcel_id"].astype("string").to_numpy(dtype=object)
        self.use = pool["use_type"].astype("string").to_numpy(dtype=object)

    def __len__(self) -> int:
        return len(self.rows)

    def _codes(self, parcel: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, ...]:
        """Integer codes shared by pool and targets: comparing ints, not Python strings."""
        n = len(self.rows)
        parcel_codes, _ = pd.factorize(np.concatenate([self.parcel, parcel]), use_na_sentinel=True)
        use_codes, _ = pd.factorize(np.concatenate([self.use, use]), use_na_sentinel=True)
        return parcel_codes[:n], parcel_codes[n:], use_codes[:n], use_codes[n:]

    def find(self, targets: pd.DataFrame, as_of: pd.Timestamp | pd.Series | np.ndarray,
             index: MarketIndex | None = None) -> Comps:
        """Comps of each target (columns parcel_id, latitude, longitude, living_sqft, use_type)."""
        s = self.settings
        n = len(targets)
        as_of_dates = pd.Series(pd.to_datetime(np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"), (n,))))
        t_date = _days(as_of_dates)
        t_start = _days(as_of_dates - pd.DateOffset(months=s.window_months)) if s.window_months is not None else \
            np.full(n, np.iinfo(np.int64).min)
        t_sqft = targets["living_sqft"].to_numpy(dtype=float)
        pool_parcel, t_parcel, pool_use, t_use = self._codes(
            targets["parcel_id"].astype("string").to_numpy(dtype=object),
            targets["use_type"].astype("string").to_numpy(dtype=object))
        ok = (targets["latitude"].notna() & targets["longitude"].notna()).to_numpy() & (t_sqft > 0) & (t_use >= 0) \
            & as_of_dates.notna().to_numpy()
        xy = to_xy(targets["latitude"].fillna(0.0), targets["longitude"].fillna(0.0), self.ref_lat)

        def keep(rows: np.ndarray, nbr: np.ndarray, dist: np.ndarray) -> np.ndarray:
            found = np.isfinite(dist)
            nb = np.where(found, nbr, 0)
            mask = found & (pool_parcel[nb] != t_parcel[rows, None]) & (pool_use[nb] == t_use[rows, None])
            sale_day = self.date[nb]
            mask &= (sale_day < t_date[rows, None]) & (sale_day > t_start[rows, None])
            if s.sqft_tolerance is not None:
                mask &= np.abs(self.sqft[nb] / t_sqft[rows, None] - 1.0) <= s.sqft_tolerance
            return mask

        picked_t, picked_p, picked_d = [], [], []
        todo = np.flatnonzero(ok) if self.tree is not None else np.array([], dtype=int)
        k = min(s.candidates, len(self))
        bound = np.inf if s.radius_m is None else s.radius_m
        budget = s.chunk_rows * s.candidates  # matrix cells per query: bounds the memory
        while len(todo):
            short = []
            for start in range(0, len(todo), max(1, budget // k)):
                rows = todo[start:start + max(1, budget // k)]
                dist, nbr = self.tree.query(xy[rows], k=k, distance_upper_bound=bound)
                dist, nbr = dist.reshape(len(rows), k), nbr.reshape(len(rows), k)
                mask = keep(rows, nbr, dist)
                mask &= np.cumsum(mask, axis=1) <= s.max_comps  # nearest first: the first max_comps
                done = (mask.sum(axis=1) >= s.max_comps) | ~np.isfinite(dist[:, -1]) | (k >= len(self))
                r, c = np.nonzero(mask & done[:, None])
                picked_t.append(rows[r])
                picked_p.append(nbr[r, c])
                picked_d.append(dist[r, c])
                short.append(rows[~done])
            todo = np.concatenate(short)
            k = min(k * WIDEN, len(self))
        target = np.concatenate(picked_t) if picked_t else np.array([], dtype=int)
        pool_pos = np.concatenate(picked_p) if picked_p else np.array([], dtype=int)
        distance = np.concatenate(picked_d) if picked_d else np.array([], dtype=float)
        order = np.lexsort((distance, target))  # by target, nearest first (chunks and widening mixed them)
        target, pool_pos, distance = target[order], pool_pos[order], distance[order]
        return self._result(targets, as_of_dates, target, self.rows[pool_pos], distance, index)

    def _result(self, targets: pd.DataFrame, as_of_dates: pd.Series, target: np.ndarray, sale: np.ndarray,
                distance: np.ndarray, index: MarketIndex | None) -> Comps:
        s = self.settings
        rows = self.sales.iloc[sale]
        price = rows["sale_price"].to_numpy(dtype=float)
        sqft = rows["living_sqft"].to_numpy(dtype=float)
        factor = np.ones(len(sale)) if index is None or not len(sale) else \
            index.factor(rows["sale_date"].to_numpy(), as_of_dates.to_numpy()[target])
        chosen = pd.DataFrame({
            "target": target, "sale": sale, "parcel_id": rows["parcel_id"].to_numpy(),
            "sale_date": pd.to_datetime(rows["sale_date"]).to_numpy(), "sale_price": price, "living_sqft": sqft,
            "distance_m": distance, "adjusted_price": price * factor, "adjusted_price_per_sqft": price * factor / sqft})

        n = len(targets)
        count = np.bincount(target, minlength=n)
        # The comps of a target are contiguous (sorted by target): rank = position - first position.
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        rank = np.arange(len(target)) - first[target]
        grid = np.full((n, s.max_comps), np.nan)
        grid[target, rank] = chosen["adjusted_price_per_sqft"].to_numpy()
        enough = count >= s.min_comps
        median = np.full(n, np.nan)
        spread = np.full(n, np.nan)
        if enough.any():
            median[enough] = np.nanmedian(grid[enough], axis=1)
            q1, q3 = np.nanpercentile(grid[enough], [25, 75], axis=1)
            spread[enough] = (q3 - q1) / median[enough] * 100.0
        summary = pd.DataFrame({
            "comps_count": count, "comps_median_price_per_sqft": median,
            "comps_estimated_value": median * targets["living_sqft"].to_numpy(dtype=float),
            "comps_value_spread_pct": spread}, index=targets.index)
        return Comps(chosen, summary)


def comparable_sales(targets: pd.DataFrame, sales: pd.DataFrame, as_of: pd.Timestamp | pd.Series | np.ndarray,
                     settings: CompsSettings, index: MarketIndex | None = None) -> Comps:
    """The comps of every target as of its date (one date or one per row); see the module docstring."""
    dates = pd.to_datetime(pd.Series(np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"), (len(targets),))))
    earliest, latest = (dates.min(), dates.max()) if len(dates) and dates.notna().any() else (None, None)
    return SalesPool(sales, settings, earliest, latest).find(targets, dates.to_numpy(), index)
