"""Facts about each parcel from the county's own sales file: building, sale history, comparables."""

from __future__ import annotations

import pandas as pd

from realestate_assets.enrich.market import latest_sale_facts
from realestate_assets.market.comps import CompsSettings, comparable_sales
from realestate_assets.market.index import HedonicIndex

# What the county file says about a parcel's building and sale history.
COUNTY_FACTS = ["use_type", "neighborhood", "living_sqft", "lot_sqft", "beds", "baths", "bldg_grade",
                "year_built", "effective_year_built", "waterfront", "sale_count", "last_sale_price",
                "last_sale_date", "prior_sale_price", "prior_sale_date"]
# What the county's other sales say about its market value.
MARKET_FACTS = ["comps_count", "comps_median_price_per_sqft", "comps_estimated_value", "comps_value_spread_pct",
                "market_trend_12m_pct"]


def as_of_date(sales: pd.DataFrame) -> pd.Timestamp:
    """The county's market date: its newest recorded sale (the data describes that moment)."""
    return pd.Timestamp(pd.to_datetime(sales["sale_date"]).max())


def county_facts(sales: pd.DataFrame, settings: CompsSettings) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Per parcel (index): COUNTY_FACTS and MARKET_FACTS, and the as-of date they describe.

    Comps are sales strictly before the as-of date (so the newest day's sales are not comps of
    anything), prices moved along the county's hedonic index to the as-of month.
    """
    as_of = as_of_date(sales)
    index = HedonicIndex.from_sales(sales)
    facts = latest_sale_facts(sales)
    comps = comparable_sales(facts.reset_index(), sales, as_of, settings, index, chosen=False).summary
    joined = facts.join(comps.set_axis(facts.index))
    joined["market_trend_12m_pct"] = index.trend_pct(as_of)
    return joined, as_of
