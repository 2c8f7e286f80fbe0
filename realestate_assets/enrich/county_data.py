"""Enrichment from the county's own sales file: building facts, sale history, comparables."""

from __future__ import annotations

import pandas as pd

from realestate_assets.enrich.market import CompsSettings, PriceIndex, comparable_sales, latest_sale_facts

ENRICHMENT_COLUMNS = [
    "prospect_key", "as_of_date", "status", "failure_reason", "use_type", "neighborhood",
    "living_sqft", "lot_sqft", "beds", "baths", "bldg_grade", "year_built", "effective_year_built",
    "waterfront", "sale_count", "last_sale_price", "last_sale_date", "prior_sale_price",
    "prior_sale_date", "comps_count", "comps_median_price_per_sqft", "comps_estimated_value",
    "comps_value_spread_pct", "market_trend_12m_pct", "provenance",
]


def as_of_date(sales: pd.DataFrame) -> pd.Timestamp:
    """The county's market date: its newest recorded sale (the data describes that moment)."""
    return pd.Timestamp(pd.to_datetime(sales["sale_date"]).max())


def enrich_from_county_sales(
    prospects: pd.DataFrame, sales: pd.DataFrame, settings: CompsSettings,
) -> pd.DataFrame:
    """One enrichment row per prospect (`prospect_key`, `parcel_id`).

    Prospects with no sale record in the county file get status `failed` and a reason: the
    county file is this stage's required source, and nothing is filled in for them.
    """
    as_of = as_of_date(sales)
    index = PriceIndex.from_sales(sales)
    facts = latest_sale_facts(sales)
    comps = comparable_sales(facts, sales, index, as_of, settings)
    joined = prospects[["prospect_key", "parcel_id"]].join(facts, on="parcel_id").join(comps, on="parcel_id")
    found = joined["last_sale_date"].notna()
    joined["status"] = found.map({True: "enriched", False: "failed"})
    joined["failure_reason"] = None
    joined.loc[~found, "failure_reason"] = "no sale record for this parcel in the county sales file"
    joined["as_of_date"] = as_of.date()
    joined["market_trend_12m_pct"] = index.trend_pct(as_of)
    joined["provenance"] = [
        _provenance(row, settings, as_of) if ok else {}
        for ok, row in zip(found, joined.itertuples(index=False), strict=True)
    ]
    return joined[ENRICHMENT_COLUMNS].reset_index(drop=True)


def _provenance(row: object, settings: CompsSettings, as_of: pd.Timestamp) -> dict[str, object]:
    building = {"source": row.last_sale_source, "record": f"sale {row.last_sale_id}",
                "observed_at": str(row.last_sale_date), "confidence": "recorded"}
    comps = {"source": "market:county_sales", "method": "nearest similar sales, time-adjusted",
             "radius_m": settings.radius_m, "window_months": settings.window_months,
             "as_of": as_of.date().isoformat(), "confidence": "estimated"}
    fields = {name: building for name in (
        "use_type", "neighborhood", "living_sqft", "lot_sqft", "beds", "baths", "bldg_grade",
        "year_built", "effective_year_built", "waterfront", "sale_count", "last_sale_price",
        "last_sale_date", "prior_sale_price", "prior_sale_date")}
    fields.update({name: comps for name in (
        "comps_count", "comps_median_price_per_sqft", "comps_estimated_value",
        "comps_value_spread_pct", "market_trend_12m_pct")})
    return fields
