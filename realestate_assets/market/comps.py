"""The one comparable-sales rule: which recorded sales are comparable to a property, as of a date.

A comp of a target is a recorded sale that is

* of ANOTHER parcel (a house is not its own comparable),
* dated STRICTLY BEFORE the target's as-of date (a sale on the as-of day is not yet known),
  and after the as-of date minus `window_months`,
* of the same use type (an unknown use type has no comps),
* of a living area within ±`sqft_tolerance` of the target's,
* within `radius_m` metres,

taken nearest first (equidistant sales: the newest first, then in the sales' order), at most
`max_comps`. With fewer than `min_comps` the rule gives no
estimate (the comps found are still counted and returned). Every target may carry its own
as-of date (the deal labels value each purchase at its own date); enrichment uses one date.
`config/scoring.yaml` `comps:` holds the settings (`CompsSettings`); the AVM's nearest-comps
baseline is the same rule with its own, looser settings (`baseline_comps:`).

Vectorized (issue 17): sales and targets are projected to metres once, one KD-tree is built
over the candidate sales of each use type, and the targets of that type are queried in chunks of
`chunk_rows` for their `candidates` nearest sales; the filters run as NumPy arrays over that (targets × candidates)
matrix. A row that found fewer than `max_comps` while its last candidate was still inside the
radius is queried again with 4× the candidates, only that row, until it is complete — so the
over-fetch size changes speed, never the answer. Memory is bounded by `chunk_rows ×
candidates` matrix cells.

Results (`Comps`): `chosen`, one row per (target, comp) nearest first — target position,
sale position (`sales.iloc[sale]` holds its parcel, date, price...), distance, time-adjusted
price and price per sqft — and `summary`, one row per target: comps_count, comps_median_price_per_sqft,
comps_estimated_value (that median × the target's living area) and comps_value_spread_pct (the
comps' interquartile range as a share of the median). Prices are moved from their sale month
to the target's as-of month along a market index (`index.factor(from_dates, to_dates)`:
`HedonicIndex` for one as-of, `AsOfIndexes` for per-row dates).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from realestate_assets.config_models import CompsSettings
from realestate_assets.geo import to_xy

__all__ = ["Comps", "CompsSettings", "SalesPool", "comparable_sales"]

CHOSEN_COLUMNS = ("target", "sale", "distance_m", "adjusted_price", "adjusted_price_per_sqft")
REF_LAT_DIGITS = 9  # the projection's reference latitude, rounded to this many decimals of a degree
WIDEN = 4  # a row short of comps is re-queried with this many times the candidates
# Threads per KD-tree query (-1: one per core). The targets' queries are independent and the
# answer is the same with any number; most of the comps' time is the queries (issue 17).
QUERY_WORKERS = -1


class MarketIndex(Protocol):
    def factor(self, from_dates: pd.Series | np.ndarray, to_dates: pd.Series | np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Comps:
    chosen: pd.DataFrame   # one row per (target, comp), by target then nearest first
    summary: pd.DataFrame  # one row per target, indexed like the targets


def row_quantiles(grid: np.ndarray, count: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Per row, the quantiles of its first `count` values (NaN-padded), as `np.percentile` computes
    them (linear); vectorized, because `np.nanpercentile(axis=1)` loops over rows in Python."""
    ordered = np.sort(grid, axis=1)  # NaN padding sorts last
    out = []
    for q in qs:
        position = q * (count - 1)
        lo = np.floor(position).astype(int)
        hi = np.minimum(lo + 1, count - 1)
        a = np.take_along_axis(ordered, lo[:, None], axis=1)[:, 0]
        b = np.take_along_axis(ordered, hi[:, None], axis=1)[:, 0]
        out.append(a + (b - a) * (position - lo))
    return out


def _days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as whole days since the epoch (int64; NaT → the int64 minimum)."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).to_numpy("datetime64[D]").astype(np.int64)


class SalesPool:
    """The sales that can be comps, projected and indexed once (reused across calls, e.g. memos).

    Only located sales with a living area count. `earliest`/`latest` narrow the pool to the
    sales that can be a comp of any as-of date in [earliest, latest]: fewer points, fewer
    candidates dropped by the date filter. `ref_lat`, the projection's reference latitude, is the
    pool's mean latitude unless given: a caller holding only part of a pool (the API's candidates
    around one property, market/stored.py) passes the whole pool's, so every distance is the same.
    """

    def __init__(self, sales: pd.DataFrame, settings: CompsSettings, earliest: pd.Timestamp | None = None,
                 latest: pd.Timestamp | None = None, ref_lat: float | None = None) -> None:
        self.settings = settings
        dates = pd.to_datetime(sales["sale_date"])
        usable = (sales["living_sqft"].astype(float) > 0) & sales["latitude"].notna() & sales["longitude"].notna()
        if latest is not None:
            usable &= dates < pd.Timestamp(latest)
        if earliest is not None and settings.window_months is not None:
            usable &= dates > pd.Timestamp(earliest) - pd.DateOffset(months=settings.window_months)
        self.rows = np.flatnonzero(usable.to_numpy())  # pool position → position in `sales`
        pool = sales.iloc[self.rows]
        mean = ref_lat if ref_lat is not None else float(pool["latitude"].mean()) if len(pool) else 0.0
        # Rounded (1e-9° moves a distance by about 1e-11 of itself): a mean summed in another order,
        # by the database, is then the same number, and so is every distance — near-equal ones too.
        self.ref_lat = round(mean, REF_LAT_DIGITS)
        xy = to_xy(pool["latitude"], pool["longitude"], self.ref_lat)
        self.date = _days(pool["sale_date"])
        self.sqft = pool["living_sqft"].to_numpy(dtype=float)
        self.price = pool["sale_price"].to_numpy(dtype=float)
        # Integer codes: the filters compare ints, not Python strings (unknown use type → -1).
        parcel, self._parcels = pd.factorize(pool["parcel_id"].astype("string"))
        use, self._uses = pd.factorize(pool["use_type"].astype("string"))
        self.parcel, self.use = parcel.astype(np.int32), use.astype(np.int32)
        # One KD-tree per use type (a comp has the target's): every candidate fetched can be a comp,
        # so fewer rows come up short and are re-queried wider (issue 17: a townhouse among houses
        # was re-queried up to 81,920 candidates at a million parcels). (tree, its pool positions);
        # the distances are the same point-to-point ones whatever tree holds the points.
        self.trees: list[tuple[cKDTree, np.ndarray]] = []
        for code in range(len(self._uses)):
            at = np.flatnonzero(self.use == code)
            self.trees.append((cKDTree(xy[at]), at))

    def __len__(self) -> int:
        return len(self.rows)

    def _codes(self, values: pd.Series, categories: pd.Index, missing: int) -> np.ndarray:
        """The pool's codes of the targets' values; `missing` where the pool has no such value."""
        codes = categories.get_indexer(values.astype("string"))
        return np.where(codes < 0, missing, codes)

    def find(self, targets: pd.DataFrame, as_of: pd.Timestamp | pd.Series | np.ndarray,
             index: MarketIndex | None = None, *, chosen: bool = True) -> Comps:
        """Comps of each target (columns parcel_id, latitude, longitude, living_sqft, use_type).

        `chosen=False`: only the summary is wanted. Each query chunk's complete rows go straight
        into the (targets × max_comps) grid the summary is taken from, and the (target, comp)
        rows are never gathered for the whole county (issue 17: at a million targets they were
        1.4 GB at the step's peak); `chosen` is then empty. The same summary either way."""
        s = self.settings
        n = len(targets)
        as_of_dates = pd.Series(pd.to_datetime(np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"), (n,))))
        t_date = _days(as_of_dates)
        t_start = _days(as_of_dates - pd.DateOffset(months=s.window_months)) if s.window_months is not None else \
            np.full(n, np.iinfo(np.int64).min)
        t_sqft = targets["living_sqft"].to_numpy(dtype=float)
        pool_parcel, pool_use = self.parcel, self.use
        t_parcel = self._codes(targets["parcel_id"], self._parcels, missing=-2)  # -2: matches no pool parcel
        t_use = self._codes(targets["use_type"], self._uses, missing=-1)
        ok = (targets["latitude"].notna() & targets["longitude"].notna()).to_numpy() & (t_sqft > 0) & (t_use >= 0) \
            & targets["use_type"].notna().to_numpy() & as_of_dates.notna().to_numpy()
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
        grid = None if chosen else np.full((n, s.max_comps), np.nan)
        count = None if chosen else np.zeros(n, dtype=np.int64)
        bound = np.inf if s.radius_m is None else s.radius_m
        budget = s.chunk_rows * s.candidates  # matrix cells per query: bounds the memory
        for code, (tree, at) in enumerate(self.trees):  # the targets of each use type, in its tree
            todo = np.flatnonzero(ok & (t_use == code))
            k = min(s.candidates, len(at))
            while len(todo):
                short = []
                for start in range(0, len(todo), max(1, budget // k)):
                    rows = todo[start:start + max(1, budget // k)]
                    dist, found = tree.query(xy[rows], k=k, distance_upper_bound=bound, workers=QUERY_WORKERS)
                    # Pool positions; a missing candidate (the tree's len) is the pool's len.
                    nbr = np.where(found < len(at), at[np.minimum(found, len(at) - 1)], len(self))
                    del found
                    dist, nbr = self._ties_in_order(dist.reshape(len(rows), k), nbr.reshape(len(rows), k))
                    mask = keep(rows, nbr, dist)
                    mask &= np.cumsum(mask, axis=1) <= s.max_comps  # nearest first: the first max_comps
                    # Complete when every sale as near as its farthest comp was fetched: a sale beyond the
                    # k fetched tied with that comp could come first (ties: `_ties_in_order`).
                    farthest = np.where(mask, dist, -np.inf).max(axis=1)
                    done = ((mask.sum(axis=1) >= s.max_comps) & (farthest < dist[:, -1])) \
                        | ~np.isfinite(dist[:, -1]) | (k >= len(at))
                    r, c = np.nonzero(mask & done[:, None])
                    if grid is not None and count is not None:  # a done row's comps are all here
                        self._into_grid(grid, count, rows[r], nbr[r, c], t_date, index)
                    else:
                        picked_t.append(rows[r])
                        picked_p.append(nbr[r, c])
                        picked_d.append(dist[r, c])
                    short.append(rows[~done])
                todo = np.concatenate(short)
                k = min(k * WIDEN, len(at))
        if grid is not None and count is not None:
            return Comps(pd.DataFrame({c: pd.Series(dtype=float) for c in CHOSEN_COLUMNS}),
                         self._summary(targets, grid, count))
        target = np.concatenate(picked_t) if picked_t else np.array([], dtype=int)
        pool_pos = np.concatenate(picked_p) if picked_p else np.array([], dtype=int)
        distance = np.concatenate(picked_d) if picked_d else np.array([], dtype=float)
        del picked_t, picked_p, picked_d
        order = np.lexsort((distance, target))  # by target, nearest first (chunks and widening mixed them)
        target, pool_pos, distance = target[order], pool_pos[order], distance[order]
        del order
        return self._result(targets, t_date, target, pool_pos, distance, index)

    @functools.cached_property
    def _age_scale(self) -> tuple[int, int]:
        """(the newest sale's day, bits for a sale's age in days): ages for `_ties_in_order`'s key."""
        known = self.date[self.date != np.iinfo(np.int64).min]
        if not len(known):
            return 0, 1
        return int(known.max()), int(known.max() - known.min()).bit_length() + 1

    def _ties_in_order(self, dist: np.ndarray, nbr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's candidates nearest first and, at equal distances, the newest sale first, then
        in the sales' order. The KD-tree returns equidistant sales (a condo building's) in an order of
        its own, which depends on every point in the tree: the rule must not. Only rows with a tie
        are re-sorted (the tree's rows are already by distance), in place."""
        tied = ((dist[:, 1:] == dist[:, :-1]) & np.isfinite(dist[:, 1:])).any(axis=1)
        if not tied.any():
            return dist, nbr
        rows = np.flatnonzero(tied)
        d, n = dist[rows], nbr[rows]
        # One integer per candidate, ordered as (distance, newest first, sales' order), and one
        # argsort (a three-key lexsort doubled the comps' time where repeat sales of a parcel tie):
        # its distance's rank in the row (the tree's rows are by distance; a missing candidate,
        # n = len, is at inf: a rank of its own, last), its age, its position.
        same = (d[:, 1:] == d[:, :-1]) & np.isfinite(d[:, 1:])
        rank = np.zeros(d.shape, dtype=np.int64)
        np.cumsum(~same, axis=1, out=rank[:, 1:])
        newest, age_bits = self._age_scale
        pos_bits = len(self).bit_length()
        if int(rank[:, -1].max()).bit_length() + age_bits + pos_bits > 63:  # not in one int64: three keys
            order = np.lexsort((n, -self.date[np.minimum(n, len(self) - 1)].astype(float), d), axis=1)
        else:
            day = self.date[np.minimum(n, len(self) - 1)]
            oldest = (1 << age_bits) - 1
            age = np.where(day == np.iinfo(np.int64).min, oldest, np.clip(newest - day, 0, oldest))  # NaT: oldest
            rank <<= age_bits + pos_bits  # the key built in place: these arrays are a whole query chunk
            age <<= pos_bits
            rank |= age
            rank |= n
            # Every key differs, so any sort gives this order; the stable one (timsort) is the fastest
            # here: a row is already by distance, only its tied runs are out of order (half the time).
            order = np.argsort(rank, axis=1, kind="stable")
        # In place: the arrays are the query's own (`find`), and `n` is a copy of the rows. Only the
        # sales move: a row's distances are the same in either order (ties are equal distances).
        nbr[rows] = np.take_along_axis(n, order, axis=1)
        return dist, nbr

    def _factor(self, pool_pos: np.ndarray, to_day: np.ndarray, index: MarketIndex | None) -> np.ndarray:
        """Index factors from each comp's sale month to its target's as-of month: a table over
        (sale months × distinct as-of months) — a few thousand index look-ups, not millions."""
        if index is None or not len(pool_pos):
            return np.ones(len(pool_pos))
        from_m = self.date[pool_pos].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        to_months, to_col = np.unique(to_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64),
                                      return_inverse=True)
        from_months = np.arange(from_m.min(), from_m.max() + 1)
        grid_from, grid_to = (m.ravel().astype("datetime64[M]").astype("datetime64[ns]")
                              for m in np.meshgrid(from_months, to_months, indexing="ij"))
        table = np.asarray(index.factor(grid_from, grid_to), dtype=float).reshape(len(from_months), len(to_months))
        return table[from_m - from_months[0], to_col.ravel()]

    def _into_grid(self, grid: np.ndarray, count: np.ndarray, target: np.ndarray, pool_pos: np.ndarray,
                   t_date: np.ndarray, index: MarketIndex | None) -> None:
        """Put one query chunk's comps (`target` grouped, each target's comps all present) into
        the summary's grid: the time-adjusted price per sqft (`_adjusted`)."""
        if not len(target):
            return
        adjusted, sqft = self._adjusted(pool_pos, t_date[target], index)
        first = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
        sizes = np.diff(np.r_[first, len(target)])
        rank = np.arange(len(target)) - np.repeat(first, sizes)
        grid[target, rank] = adjusted / sqft
        count[target[first]] = sizes

    def _adjusted(self, pool_pos: np.ndarray, dates: np.ndarray,
                  index: MarketIndex | None) -> tuple[np.ndarray, np.ndarray]:
        """The comps' prices moved along the index to their targets' dates, and their living areas."""
        return self.price[pool_pos] * self._factor(pool_pos, dates, index), self.sqft[pool_pos]

    def _result(self, targets: pd.DataFrame, t_date: np.ndarray, target: np.ndarray, pool_pos: np.ndarray,
                distance: np.ndarray, index: MarketIndex | None) -> Comps:
        s = self.settings
        adjusted, sqft = self._adjusted(pool_pos, t_date[target], index)
        # Lean on purpose (4M rows at 400k parcels): the sale's other facts are `sales.iloc[sale]`.
        chosen = pd.DataFrame({
            "target": target, "sale": self.rows[pool_pos], "distance_m": distance,
            "adjusted_price": adjusted, "adjusted_price_per_sqft": adjusted / sqft})
        del adjusted, sqft

        n = len(targets)
        count = np.bincount(target, minlength=n)
        # The comps of a target are contiguous (sorted by target): rank = position - first position.
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        rank = np.arange(len(target)) - first[target]
        grid = np.full((n, s.max_comps), np.nan)
        grid[target, rank] = chosen["adjusted_price_per_sqft"].to_numpy()
        return Comps(chosen, self._summary(targets, grid, count))

    def _summary(self, targets: pd.DataFrame, grid: np.ndarray, count: np.ndarray) -> pd.DataFrame:
        """Per target: its comps' count, and the median and spread of its row of `grid` (the
        comps' adjusted prices per sqft, NaN-padded; their order in the row does not matter)."""
        s, n = self.settings, len(targets)
        enough = count >= s.min_comps
        median, q1, q3 = (np.full(n, np.nan) for _ in range(3))
        if enough.any():
            median[enough], q1[enough], q3[enough] = row_quantiles(grid[enough], count[enough], (0.5, 0.25, 0.75))
        spread = (q3 - q1) / median * 100.0
        return pd.DataFrame({
            "comps_count": count, "comps_median_price_per_sqft": median,
            "comps_estimated_value": median * targets["living_sqft"].to_numpy(dtype=float),
            "comps_value_spread_pct": spread}, index=targets.index)


def comparable_sales(targets: pd.DataFrame, sales: pd.DataFrame, as_of: pd.Timestamp | pd.Series | np.ndarray,
                     settings: CompsSettings, index: MarketIndex | None = None, *, chosen: bool = True) -> Comps:
    """The comps of every target as of its date (one date or one per row); see the module docstring.
    `chosen=False`: the summary only (`SalesPool.find`)."""
    dates = pd.to_datetime(pd.Series(np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"), (len(targets),))))
    earliest, latest = (dates.min(), dates.max()) if len(dates) and dates.notna().any() else (None, None)
    return SalesPool(sales, settings, earliest, latest).find(targets, dates.to_numpy(), index, chosen=chosen)
