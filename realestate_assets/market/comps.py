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

Vectorized (issue 17): sales and targets are projected to metres once; each use type's sales
are kept in strata of living area, and a KD-tree is built over the strata each size band spans
(`_band_tree`: the sales a target of that band can take, of its size or nearly). The targets
are queried in chunks of `chunk_rows`, each in its band's tree, for their `candidates` nearest
sales; the filters run as NumPy arrays over that (targets × candidates) matrix. A row that found
fewer than `max_comps` while its last candidate was still inside the radius (in dense areas: a
size few of its neighbours have) is searched again among its band's strata only, each with its
own KD-tree, in a ball around the target widened until it holds the row's comps or the radius —
so the over-fetch size changes speed, never the answer. Memory is bounded by `chunk_rows ×
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
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from realestate_assets.config_models import CompsSettings
from realestate_assets.geo import to_xy
from realestate_assets.text_keys import key_positions

__all__ = ["Comps", "CompsSettings", "SalesPool", "comparable_sales"]

CHOSEN_COLUMNS = ("target", "sale", "distance_m", "adjusted_price", "adjusted_price_per_sqft")
REF_LAT_DIGITS = 9  # the projection's reference latitude, rounded to this many decimals of a degree
# A row short of comps after the first query is searched again among the sales of its size band:
# a use type's sales are kept in strata of living area, this many to a band (±`sqft_tolerance`),
# so the strata a band overlaps hold few sales outside it.
STRATA_PER_BAND = 4
# A ball search is complete for a row when its last comp is nearer than the ball's radius by this
# much (relative, and metres): far above the rounding of the trees' distances, so every sale as near
# as that comp was in the ball.
BALL_MARGIN, BALL_MARGIN_M = 1e-9, 1e-3
MIN_BALL_M = 1.0  # the smallest first ball (a row whose fetched candidates were all at its own spot)
# The first query fetches this share of `candidates` (16 of 24), and only the rows it leaves short
# fetch all of them: at a million parcels 88% of the rows are complete with 16 (55% with 12), and a
# KD-tree query of 16 costs ≈0.7 of one of 24 (12: ≈0.6), so the two queries cost ≈0.83 of one
# (issue 17). The answer is the same with any share: a row complete among fewer candidates has the
# comps it has among more (`find`'s completeness test).
FIRST_FETCH_SHARE = 2 / 3
# How the comps' KD-trees are built: without SciPy's sliding-midpoint balancing and node compaction,
# a county's trees are built in half the CPU (the band trees ≈0.57 → 0.27 CPU s at a million parcels)
# and queried as fast (issue 17). A KD-tree's answer does not depend on its shape: a k-nearest query
# returns the same sales at the same distances, a ball query the same sales, and only the order of
# equidistant ones may differ, which the rule puts in its own order (`_ties_in_order`,
# `_by_row_in_rule_order`).
TREE_OPTIONS: dict[str, bool | int] = {"balanced_tree": False, "compact_nodes": False}
# Threads per KD-tree query (-1: one per core). The targets' queries are independent and the
# answer is the same with any number; most of the comps' time is the queries (issue 17).
QUERY_WORKERS = -1


def kd_tree(points: np.ndarray) -> cKDTree:
    """A KD-tree of the comps' sales (projected points), built as TREE_OPTIONS says."""
    return cKDTree(points, **TREE_OPTIONS)


def widening(max_comps: int, found: np.ndarray | int) -> np.ndarray:
    """How much a search that found `found` comps (of `max_comps`) too few, or not all inside it,
    widens its radius next: sized for twice the comps at the density it saw, 2× to 8×. The rule's
    ball search and the API's candidate boxes (market/stored.next_box) widen alike; the answer does
    not depend on it, only how many searches it takes."""
    return np.clip(np.sqrt(2 * max_comps / np.maximum(found, 1)), 2.0, 8.0)


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


def _months(days: np.ndarray) -> np.ndarray:
    """Whole days since the epoch as months since the epoch (int64)."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


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
        self.xy = to_xy(pool["latitude"], pool["longitude"], self.ref_lat)
        self.date = _days(pool["sale_date"])
        self.sqft = pool["living_sqft"].to_numpy(dtype=float)
        self.price = pool["sale_price"].to_numpy(dtype=float)
        # Integer codes: the filters compare ints, not Python strings (unknown use type → -1).
        parcel, self._parcels = pd.factorize(pool["parcel_id"].astype("string"))
        use, self._uses = pd.factorize(pool["use_type"].astype("string"))
        self.parcel, self.use = parcel.astype(np.int32), use.astype(np.int32)
        # Each use type's pool positions (a comp has the target's): its KD-trees hold only its sales,
        # so every candidate fetched can be a comp and fewer rows come up short and are re-queried
        # wider (issue 17: a townhouse among houses was re-queried up to 81,920 candidates at a
        # million parcels); the distances are the same point-to-point ones whatever tree holds the
        # points. The first query asks a tree of the target's size band (`_band_tree`, from the
        # type's strata, `_strata`); a type's own tree is built only without a size band (its one
        # stratum): with one it was never queried (≈0.12 CPU s at a million parcels).
        self._factor_cached: tuple[MarketIndex, int, int, np.ndarray] | None = None  # `_factor_column`
        self._band_trees: dict[tuple[int, int, int], tuple[cKDTree | None, np.ndarray]] = {}  # `_band_tree`
        self.types: list[np.ndarray] = [np.flatnonzero(self.use == code) for code in range(len(self._uses))]

    def __len__(self) -> int:
        return len(self.rows)

    def parcel_codes(self, parcels: pd.Series | pd.Index) -> np.ndarray:
        """The pool's codes of these parcels (-2, which matches no pool parcel, where the pool has
        none of its sales): what `find` compares to exclude a target's own sales."""
        return self._codes(parcels, self._parcels, missing=-2)

    def _codes(self, values: pd.Series | pd.Index, categories: pd.Index, missing: int) -> np.ndarray:
        """The pool's codes of the targets' values (as text); `missing` where the pool has no such
        value. By the values' hashes (`key_positions`): the county's parcels once a county, a
        `string` look-up of a million parcel ids was ≈0.3 CPU s (issue 17)."""
        codes = key_positions(categories, values, as_text=True)
        return np.where(codes < 0, missing, codes)

    def find(self, targets: pd.DataFrame, as_of: pd.Timestamp | pd.Series | np.ndarray,
             index: MarketIndex | None = None, *, chosen: bool = True, workers: int = QUERY_WORKERS,
             parcel_codes: np.ndarray | None = None) -> Comps:
        """Comps of each target (columns parcel_id, latitude, longitude, living_sqft, use_type).

        `chosen=False`: only the summary is wanted. Each query chunk's complete rows go straight
        into the (targets × max_comps) grid the summary is taken from, and the (target, comp)
        rows are never gathered for the whole county (issue 17: at a million targets they were
        1.4 GB at the step's peak); `chosen` is then empty. The same summary either way.
        `workers`: threads per KD-tree query (the same answer with any number). `parcel_codes`: the
        targets' `parcel_codes`, when the caller holds them (a county's, coded once)."""
        s = self.settings
        n = len(targets)
        # One as-of date (enrichment's, a chunk at a time): its days converted once and broadcast,
        # not a Series of n equal dates converted and moved by a month offset (≈0.4 CPU s a million).
        one = np.ndim(as_of) == 0
        as_of_dates = pd.Series(pd.to_datetime(np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"),
                                                               (1 if one else n,))))
        t_date = _days(as_of_dates)
        t_start = _days(as_of_dates - pd.DateOffset(months=s.window_months)) if s.window_months is not None else \
            np.full(len(as_of_dates), np.iinfo(np.int64).min)
        dated = as_of_dates.notna().to_numpy()
        if one:
            t_date, t_start, dated = (np.broadcast_to(a, (n,)) for a in (t_date, t_start, dated))
        t_sqft = targets["living_sqft"].to_numpy(dtype=float)
        t_parcel = self.parcel_codes(targets["parcel_id"]) if parcel_codes is None else parcel_codes
        t_use = self._codes(targets["use_type"], self._uses, missing=-1)
        ok = (targets["latitude"].notna() & targets["longitude"].notna()).to_numpy() & (t_sqft > 0) & (t_use >= 0) \
            & targets["use_type"].notna().to_numpy() & dated
        xy = to_xy(targets["latitude"].fillna(0.0), targets["longitude"].fillna(0.0), self.ref_lat)

        def keep(rows: np.ndarray, nb: np.ndarray) -> np.ndarray:
            """Which candidates (pool positions `nb`, the pool's length for none) can be comps of the
            targets at `rows` (broadcast against `nb`). Not the use type: every tree holds one type's
            sales and is searched only for that type's targets."""
            found = nb < len(self)
            nb = np.where(found, nb, 0)
            mask = found & (self.parcel[nb] != t_parcel[rows])
            sale_day = self.date[nb]
            mask &= (sale_day < t_date[rows]) & (sale_day > t_start[rows])
            if s.sqft_tolerance is not None:
                mask &= np.abs(self.sqft[nb] / t_sqft[rows] - 1.0) <= s.sqft_tolerance
            return mask

        picked_t, picked_p, picked_d = [], [], []
        grid = None if chosen else np.full((n, s.max_comps), np.nan)
        count = None if chosen else np.zeros(n, dtype=np.int64)

        def take(target: np.ndarray, pool_pos: np.ndarray, distance: np.ndarray) -> None:
            """Complete targets' comps, each target's together and in the rule's order."""
            if grid is not None and count is not None:
                self._into_grid(grid, count, target, pool_pos, t_date, index)
            else:
                picked_t.append(target)
                picked_p.append(pool_pos)
                picked_d.append(distance)

        bound = np.inf if s.radius_m is None else s.radius_m
        budget = s.chunk_rows * s.candidates  # matrix cells per query: bounds the memory
        for code, at in enumerate(self.types):  # the targets of each use type, in its size bands' trees
            todo = np.flatnonzero(ok & (t_use == code))
            k = min(s.candidates, len(at))
            step = max(1, budget // k)
            short, reach, kept = [], [], []
            for start in range(0, len(todo), step):
                rows = todo[start:start + step]
                for fetch in self._fetches(k):  # fewer first; the rows left short fetch all k
                    dist, nbr, whole = self._first_query(code, rows, xy, t_sqft, fetch, bound, workers)
                    mask = keep(rows[:, None], nbr)
                    rank = np.cumsum(mask, axis=1)
                    # The tree's order is the rule's but among equidistant sales: only rows where two of
                    # the first max_comps + 1 comps are equidistant are put in the rule's order.
                    tied = self._comps_tied(dist, mask, rank)
                    if len(tied):
                        _, nbr[tied] = self._ties_in_order(dist[tied], nbr[tied])
                        mask[tied] = keep(rows[tied, None], nbr[tied])
                        rank[tied] = np.cumsum(mask[tied], axis=1)
                    mask &= rank <= s.max_comps  # nearest first: the first max_comps
                    # Complete when every sale as near as its farthest comp was fetched: a sale beyond
                    # the ones fetched tied with that comp could come first (ties: `_ties_in_order`).
                    # So whatever the number fetched, a complete row's comps are the rule's.
                    farthest = np.where(mask, dist, -np.inf).max(axis=1)
                    done = ((rank[:, -1] >= s.max_comps) & (farthest < dist[:, -1])) \
                        | ~np.isfinite(dist[:, -1]) | whole
                    r, c = np.nonzero(mask & done[:, None])
                    take(rows[r], nbr[r, c], dist[r, c])
                    rows, dist, rank = rows[~done], dist[~done], rank[~done]
                short.append(rows)
                reach.append(dist[:, -1])
                kept.append(rank[:, -1])
            if short:
                self._search_band(code, np.concatenate(short), np.concatenate(reach), np.concatenate(kept),
                                  xy, t_sqft, keep, take, workers)
        if grid is not None and count is not None:
            return Comps(pd.DataFrame({c: pd.Series(dtype=float) for c in CHOSEN_COLUMNS}),
                         self._summary(targets, grid, count))
        target = np.concatenate(picked_t) if picked_t else np.array([], dtype=int)
        pool_pos = np.concatenate(picked_p) if picked_p else np.array([], dtype=int)
        distance = np.concatenate(picked_d) if picked_d else np.array([], dtype=float)
        for part in (picked_t, picked_p, picked_d):  # the lists' arrays are concatenated: free them
            part.clear()
        order = np.lexsort((distance, target))  # by target, nearest first (chunks and widening mixed them)
        target, pool_pos, distance = target[order], pool_pos[order], distance[order]
        del order
        return self._result(targets, t_date, target, pool_pos, distance, index)

    @functools.cached_property
    def _age_scale(self) -> tuple[int, int]:
        """(the newest sale's day, bits for a sale's age in days): ages for the tie order's key."""
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
        age_bits = self._age_scale[1]
        pos_bits = len(self).bit_length()
        if int(rank[:, -1].max()).bit_length() + age_bits + pos_bits > 63:  # not in one int64: three keys
            order = np.lexsort((n, -self.date[np.minimum(n, len(self) - 1)].astype(float), d), axis=1)
        else:
            age = self._age(np.minimum(n, len(self) - 1))
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

    def _by_row_in_rule_order(self, row: np.ndarray, dist: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """The order of (row, sale) pairs — `row` ≥ 0, `dist` ≥ 0, `pos` the sale's pool position —
        by row, then the rule's order: distance, the newest sale first, the sales' order. One argsort
        of one integer key per pair (a four-key lexsort was a third of the band search, issue 17):
        the row above the distance's bits (a non-negative float's bits order as its value does), the
        distance's last bits dropped for the row's room. Pairs of equal keys (equidistant sales, or
        distances apart by less than the dropped bits) are then put in order by the keys themselves."""
        if not len(row):
            return np.arange(0)
        row_bits = int(row.max()).bit_length()
        key = (row.astype(np.int64) << (63 - row_bits)) | (np.ascontiguousarray(dist, dtype=np.float64).view(np.int64)
                                                           >> row_bits)
        order = np.argsort(key)
        ordered = key[order]
        same = ordered[1:] == ordered[:-1]
        if same.any():  # equal keys are adjacent: their slots, refilled with their pairs in the exact order
            slots = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
            tied = order[slots]
            order[slots] = tied[np.lexsort((pos[tied], self._age(pos[tied]), dist[tied], row[tied]))]
        return order

    def _age(self, pool_pos: np.ndarray) -> np.ndarray:
        """Each sale's age in days before the pool's newest sale, for the tie order (NaT: the oldest)."""
        newest, age_bits = self._age_scale
        oldest = (1 << age_bits) - 1
        day = self.date[pool_pos]
        return np.where(day == np.iinfo(np.int64).min, oldest, np.clip(newest - day, 0, oldest))

    def _comps_tied(self, dist: np.ndarray, mask: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """The rows (of a query's matrices) where two of the first max_comps + 1 comps are equidistant:
        only there can the tree's order differ from the rule's in the comps taken or their order
        (the tree returns every row nearest first; other candidates' ties do not matter)."""
        r, c = np.nonzero(mask & (rank <= self.settings.max_comps + 1))  # by row, nearest first
        d = dist[r, c]
        same = (r[1:] == r[:-1]) & (d[1:] == d[:-1])
        return np.unique(r[1:][same])

    @functools.cached_property
    def _bounds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per use type, its sales' bounding box (smallest, largest x and y): the band search's reach."""
        return [(self.xy[at].min(axis=0), self.xy[at].max(axis=0)) for at in self.types]

    @functools.cached_property
    def _strata(self) -> list[tuple[np.ndarray, list[tuple[cKDTree, np.ndarray]]]]:
        """Per use type, its sales in strata of living area — bins of log sqft, STRATA_PER_BAND to a
        size band — as (the bins' numbers, each bin's (KD-tree, pool positions)). Built on the first
        query. Without a size band, one stratum: the type's own tree."""
        tol = self.settings.sqft_tolerance
        out = []
        for at in self.types:
            if tol is None:
                out.append((np.zeros(1, dtype=np.int64), [(kd_tree(self.xy[at]), at)]))
                continue
            bins = np.floor(np.log(self.sqft[at]) / self._stratum_width).astype(np.int64)
            order = np.argsort(bins, kind="stable")
            numbers, starts = np.unique(bins[order], return_index=True)
            out.append((numbers, [(kd_tree(self.xy[part]), part) for part in np.split(at[order], starts[1:])]))
        return out

    @functools.cached_property
    def _stratum_width(self) -> float:
        tol = self.settings.sqft_tolerance
        return 1.0 if tol is None else float(np.log1p(tol) - np.log1p(-tol)) / STRATA_PER_BAND

    def _band_strata(self, sqft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first and last stratum (`_strata`'s bin numbers) of each target's size band: the strata
        of the band, and one more where a band edge is a bin edge (rounding). Without a band: 0, 0."""
        tol = self.settings.sqft_tolerance
        if tol is None:
            zeros = np.zeros(len(sqft), dtype=np.int64)
            return zeros, zeros
        log_t, width = np.log(sqft), self._stratum_width
        return (np.floor((log_t + np.log1p(-tol)) / width - 1e-6).astype(np.int64),
                np.floor((log_t + np.log1p(tol)) / width + 1e-6).astype(np.int64))

    def _band_tree(self, code: int, lo: int, hi: int) -> tuple[cKDTree | None, np.ndarray]:
        """(KD-tree, pool positions) of the sales of use type `code` in strata lo..hi — every sale a
        target whose band spans them can take — built on first use and kept (None: no such sale).
        Strata of a county's sizes: a few dozen trees a type, each sale in about five."""
        key = (code, lo, hi)
        if key not in self._band_trees:
            numbers, strata = self._strata[code]
            parts = [part for number, part in zip(numbers, strata, strict=True) if lo <= number <= hi]
            if len(parts) == 1:
                self._band_trees[key] = parts[0]
            else:
                at = np.concatenate([positions for _, positions in parts]) if parts else np.array([], dtype=np.intp)
                self._band_trees[key] = (kd_tree(self.xy[at]) if len(at) else None, at)
        return self._band_trees[key]

    @staticmethod
    def _fetches(k: int) -> tuple[int, ...]:
        """How many candidates a row's first queries fetch: FIRST_FETCH_SHARE of `k` first, then all
        `k` for the rows that first query left short (`find`)."""
        first = int(k * FIRST_FETCH_SHARE)
        return (first, k) if 0 < first < k else (k,)

    def _first_query(self, code: int, rows: np.ndarray, xy: np.ndarray, t_sqft: np.ndarray, k: int, bound: float,
                     workers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The `k` nearest sales of each row's size band (targets of use type `code`), as the rows ×
        k matrices (distance, pool position) of one KD-tree query — inf and the pool's length past
        the last sale found — and whether the row's band holds no more sales than were fetched.
        Each row asks the tree of the strata its band spans (`_band_tree`): every sale fetched is of
        its size, or nearly, so `k` fetches several times the comps the type's own tree gave."""
        n = len(self)
        dist, nbr = np.full((len(rows), k), np.inf), np.full((len(rows), k), n, dtype=np.intp)
        whole = np.zeros(len(rows), dtype=bool)
        lo, hi = self._band_strata(t_sqft[rows])
        if not len(rows):
            return dist, nbr, whole
        # The rows of each band (lo, hi), grouped by one integer key's stable sort: each band's rows
        # in their order, as `flatnonzero` gives them (`np.unique(axis=1)` over the pairs was ≈0.6
        # CPU s of a million parcels' comps, issue 17).
        width = int((hi - lo).max()) + 1
        key = (lo - lo.min()) * width + (hi - lo)
        order = np.argsort(key, kind="stable")
        starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
        for sel in np.split(order, starts[1:]):
            tree, at = self._band_tree(code, int(lo[sel[0]]), int(hi[sel[0]]))
            kb = min(k, len(at))
            whole[sel] = kb >= len(at)
            if tree is None or not kb:
                continue
            d, found = tree.query(xy[rows[sel]], k=kb, distance_upper_bound=bound, workers=workers)
            dist[sel, :kb] = d.reshape(len(sel), kb)
            found = found.reshape(len(sel), kb)
            nbr[sel, :kb] = np.where(found < len(at), at[np.minimum(found, len(at) - 1)], n)
        return dist, nbr, whole

    def _search_band(self, code: int, rows: np.ndarray, reach: np.ndarray, kept: np.ndarray, xy: np.ndarray,
                     t_sqft: np.ndarray, keep: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     take: Callable[[np.ndarray, np.ndarray, np.ndarray], None], workers: int = QUERY_WORKERS) -> None:
        """The comps of the rows (targets of use type `code`) that the first query left short: among
        the sales of the strata their size band overlaps, every sale within a ball around the target,
        the ball widened until the row's max_comps-th comp is inside it or it covers all the rule
        may look at (the radius, or every sale of the type). Then the rule as it stands: the sales
        `keep` accepts, strictly within the radius (the KD-tree query's own test, on the same
        squared distance), by (distance, newest, the sales' order), the first max_comps — the
        answer of a query fetching every candidate. `reach` (the last candidate's distance) and
        `kept` (comps among the candidates) size the first ball. Comps go to `take`."""
        s, m = self.settings, self.settings.max_comps
        if not len(rows):
            return
        numbers, strata = self._strata[code]
        mins, maxes = self._bounds[code]
        # What the rule may look at: the radius, or the farthest corner of the type's sales.
        corner = np.hypot(np.maximum(np.abs(xy[rows, 0] - mins[0]), np.abs(xy[rows, 0] - maxes[0])),
                          np.maximum(np.abs(xy[rows, 1] - mins[1]), np.abs(xy[rows, 1] - maxes[1])))
        if s.radius_m is not None:
            corner = np.minimum(corner, s.radius_m)
        cap = corner * (1 + BALL_MARGIN) + BALL_MARGIN_M
        bound2 = np.inf if s.radius_m is None else s.radius_m * s.radius_m  # the query's test: d² < bound²
        lo, hi = self._band_strata(t_sqft[rows])
        # The first ball: as many of the band's sales as the candidates held comps, twice over
        # (their density by the first query), at least a little wider than the last candidate.
        reach = np.maximum(reach, MIN_BALL_M)
        rho = np.minimum(reach * np.clip(np.sqrt(2 * m / np.maximum(kept, 1)), 1.25, 8.0), cap)
        expect = s.candidates * (rho / reach) ** 2  # sales the ball may hold, of any size: a bound
        todo = np.arange(len(rows))  # positions in `rows`
        # Sales gathered a batch (as Python lists first): a quarter of a query's cells, at least 65,536.
        budget = max(s.chunk_rows * s.candidates // 4, 1 << 16)
        while len(todo):  # a pass over the rows left, in batches of about `budget` sales
            wider = []
            start = np.cumsum(expect[todo]) - expect[todo]
            for batch in np.split(todo, np.flatnonzero(np.diff(start // budget)) + 1):
                b_rows, b_rho = rows[batch], rho[batch]
                parts_at, parts_pos = [], []
                for number, (stratum, positions) in zip(numbers, strata, strict=True):
                    sel = np.flatnonzero((lo[batch] <= number) & (number <= hi[batch]))
                    if not len(sel):
                        continue
                    found = stratum.query_ball_point(xy[b_rows[sel]], r=b_rho[sel], return_sorted=False,
                                                     workers=workers)
                    sizes = np.fromiter(map(len, found), dtype=np.intp, count=len(found))
                    parts_at.append(np.repeat(sel, sizes))
                    parts_pos.append(positions[np.fromiter(itertools.chain.from_iterable(found), dtype=np.intp,
                                                           count=int(sizes.sum()))])
                    del found
                at = np.concatenate(parts_at) if parts_at else np.array([], dtype=np.intp)  # position in batch
                pos = np.concatenate(parts_pos) if parts_pos else np.array([], dtype=np.intp)
                gathered = np.bincount(at, minlength=len(batch))
                # The tree's distance to the last bit: (sale - target) per axis, squared, summed.
                dx = self.xy[pos, 0] - xy[b_rows[at], 0]
                dy = self.xy[pos, 1] - xy[b_rows[at], 1]
                d2 = dx * dx + dy * dy
                del dx, dy
                hit = (d2 < bound2) & keep(b_rows[at], pos)
                at, pos, dist = at[hit], pos[hit], np.sqrt(d2[hit])
                del d2, hit
                order = self._by_row_in_rule_order(at, dist, pos)
                at, pos, dist = at[order], pos[order], dist[order]
                del order
                found_n = np.bincount(at, minlength=len(batch))
                rank = np.arange(len(at)) - (np.cumsum(found_n) - found_n)[at]
                last = np.full(len(batch), np.inf)  # each row's max_comps-th comp's distance
                last[at[rank == m - 1]] = dist[rank == m - 1]
                done = (last < b_rho * (1 - BALL_MARGIN) - BALL_MARGIN_M) | (b_rho >= cap[batch])
                first = (rank < m) & done[at]
                take(b_rows[at[first]], pos[first], dist[first])
                if not done.all():  # a wider ball, again sized by the comps found
                    w = batch[~done]
                    grow = widening(m, found_n[~done])
                    new_rho = np.minimum(rho[w] * grow, cap[w])
                    expect[w] = (gathered[~done] + 1) * (new_rho / rho[w]) ** 2
                    rho[w] = new_rho
                    wider.append(w)
            todo = np.concatenate(wider) if wider else todo[:0]

    def _factor(self, pool_pos: np.ndarray, to_day: np.ndarray, index: MarketIndex | None) -> np.ndarray:
        """Index factors from each comp's sale month to its target's as-of month: a table over
        (sale months × distinct as-of months) — a few thousand index look-ups, not millions."""
        if index is None or not len(pool_pos):
            return np.ones(len(pool_pos))
        from_m = self._month[pool_pos]
        if to_day.min() == to_day.max():  # one as-of date (enrichment's county facts): no sort
            first, column = self._factor_column(index, int(_months(to_day[:1])[0]))
            return column[from_m - first]
        to_months, to_col = np.unique(_months(to_day), return_inverse=True)
        from_months = np.arange(from_m.min(), from_m.max() + 1)
        grid_from, grid_to = (m.ravel().astype("datetime64[M]").astype("datetime64[ns]")
                              for m in np.meshgrid(from_months, to_months, indexing="ij"))
        table = np.asarray(index.factor(grid_from, grid_to), dtype=float).reshape(len(from_months), len(to_months))
        return table[from_m - from_months[0], to_col.ravel()]

    def _factor_column(self, index: MarketIndex, to_month: int) -> tuple[int, np.ndarray]:
        """(the pool's first month, the factors from each of the pool's months to `to_month`),
        kept for the next call with the same index and month: enrichment asks once per chunk of
        parcels, and the index's look-ups cost ≈10 ms a call whatever the months (issue 17). The
        same numbers as a table over fewer months: each factor is its two months' levels only."""
        cached = self._factor_cached
        if cached is None or cached[0] is not index or cached[1] != to_month:
            known = self._month[self.date != np.iinfo(np.int64).min]  # a comp's date is known (`keep`)
            first = int(known.min()) if len(known) else 0
            months = np.arange(first, int(known.max()) + 1 if len(known) else 1)
            grid_from = months.astype("datetime64[M]").astype("datetime64[ns]")
            grid_to = np.full(len(months), to_month).astype("datetime64[M]").astype("datetime64[ns]")
            cached = self._factor_cached = (index, to_month, first,
                                            np.asarray(index.factor(grid_from, grid_to), dtype=float))
        return cached[2], cached[3]

    @functools.cached_property
    def _month(self) -> np.ndarray:
        """Each pool sale's month (months since the epoch), converted once: converting every comp's
        date again per query chunk, and sorting the comps' as-of months, was ≈0.8 CPU s of the
        comps at a million parcels (issue 17)."""
        return _months(self.date)

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
