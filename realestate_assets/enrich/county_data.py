"""Facts about each parcel from the county's own sales file: building, sale history, comparables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from realestate_assets.enrich.market import latest_sale_facts
from realestate_assets.market.comps import QUERY_WORKERS, CompsSettings, SalesPool
from realestate_assets.market.index import HedonicIndex

# What the county file says about a parcel's building and sale history.
COUNTY_FACTS = ["use_type", "neighborhood", "living_sqft", "lot_sqft", "beds", "baths", "bldg_grade",
                "year_built", "effective_year_built", "waterfront", "sale_count", "last_sale_price",
                "last_sale_date", "prior_sale_price", "prior_sale_date"]
# What the county's other sales say about its market value.
MARKET_FACTS = ["comps_count", "comps_median_price_per_sqft", "comps_estimated_value", "comps_value_spread_pct",
                "market_trend_12m_pct"]
COMPS_FACTS = MARKET_FACTS[:4]  # the comps' summary (`SalesPool.find`); the index's trend is the county's
TARGET_COLUMNS = ["latitude", "longitude", "living_sqft", "use_type"]  # with the parcel: a comps target


def as_of_date(sales: pd.DataFrame) -> pd.Timestamp:
    """The county's market date: its newest recorded sale (the data describes that moment)."""
    return pd.Timestamp(pd.to_datetime(sales["sale_date"]).max())


def county_facts(sales: pd.DataFrame, settings: CompsSettings) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Per parcel (index): COUNTY_FACTS and MARKET_FACTS, and the as-of date they describe.

    Comps are sales strictly before the as-of date (so the newest day's sales are not comps of
    anything), prices moved along the county's hedonic index to the as-of month.
    """
    market = CountyMarket(sales, settings)
    market.fill()
    return market.facts, market.as_of


class CountyMarket:
    """`county_facts` with the comps found on demand: `facts` holds every parcel's COUNTY_FACTS
    and `market_trend_12m_pct` from the start, and each parcel's other MARKET_FACTS once `fill`
    was asked for it (before: `comps_count` 0, the others NaN).

    Streamed enrichment fills a chunk's parcels just before it enriches them, so the comps'
    queries run while the server parses the previous chunk's COPY instead of before the first
    chunk, when nothing else runs (issue 17: ≈11 CPU s at a million parcels). The same values as
    one county-wide call: a target's comps do not depend on the other targets of its query
    (`SalesPool.find`, tests/scoring/test_comps_rule.py). `sales` is not kept."""

    def __init__(self, sales: pd.DataFrame, settings: CompsSettings) -> None:
        self.as_of = as_of = as_of_date(sales)
        self.index = HedonicIndex.from_sales(sales)
        facts = latest_sale_facts(sales)
        # The pool `comparable_sales` makes for one as-of date given to every parcel.
        dated = len(facts) > 0 and pd.notna(as_of)
        self.pool = SalesPool(sales, settings, as_of if dated else None, as_of if dated else None)
        for column, empty in zip(COMPS_FACTS, (0, np.nan, np.nan, np.nan), strict=True):  # find's summary types
            facts[column] = np.full(len(facts), empty, dtype=np.int64 if column == "comps_count" else float)
        facts["market_trend_12m_pct"] = self.index.trend_pct(as_of)
        self.facts = facts
        # Each parcel's code in the pool, once for the county: a chunk's fill takes its rows' (coding
        # the chunk's parcel texts again was ≈0.5 CPU s a million, issue 17).
        self._pool_parcel = self.pool.parcel_codes(facts.index)
        self._filled = np.zeros(len(facts), dtype=bool)

    def fill(self, rows: np.ndarray | None = None) -> None:
        """The comps of the parcels at these positions in `facts` (every parcel without `rows`;
        -1: a parcel without facts, left out; repeats allowed) into `facts`, where not yet there.
        A chunk's positions are the ones its enrichment looked up (`ByParcel.positions`)."""
        facts = self.facts
        whole = rows is None
        rows = np.arange(len(facts)) if rows is None else np.unique(rows)
        rows = rows[rows >= 0]
        rows = rows[~self._filled[rows]]
        if not len(rows):
            return
        # `facts.iloc[rows][TARGET_COLUMNS].reset_index()`: only these columns' rows taken (the
        # facts' columns are a block each, latest_sale_facts; a row take of every column was ≈0.7
        # CPU s a million parcels, issue 17).
        targets = pd.DataFrame({facts.index.name: facts.index[rows],
                                **{column: facts[column].array.take(rows) for column in TARGET_COLUMNS}})
        # A chunk's queries on one thread: the other core is parsing the previous chunk's COPY (a
        # thread per core for each of a chunk's small queries cost ≈1-2 CPU s more at 1M). The
        # whole county at once: one per core, as nothing else runs.
        summary = self.pool.find(targets, np.asarray(self.as_of, dtype="datetime64[ns]"), self.index,
                                 chosen=False, workers=QUERY_WORKERS if whole else 1,
                                 parcel_codes=self._pool_parcel[rows]).summary
        for column in COMPS_FACTS:
            facts.iloc[rows, facts.columns.get_loc(column)] = summary[column].to_numpy()
        self._filled[rows] = True
