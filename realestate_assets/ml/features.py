"""Property features for scoring, from the enrichment row and the county price index.

Missing values stay missing (NaN): LightGBM routes them natively and the score rule skips a
component it cannot compute. Nothing is imputed, so a feature never claims a fact the data
does not hold. Each feature is described in FEATURES (the registry shown in the UI).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realestate_assets.enrich.market import PriceIndex

FEATURES: dict[str, str] = {
    "age_years": "years since built, at the as-of date",
    "eff_age_years": "years since the effective (renovation-adjusted) build year",
    "living_sqft": "finished living area, sqft",
    "lot_sqft": "lot area, sqft",
    "lot_to_building_ratio": "lot area / living area",
    "beds": "bedrooms",
    "baths": "bathrooms",
    "baths_per_bed": "bathrooms per bedroom (missing when 0 bedrooms)",
    "bldg_grade": "county building grade (1-13)",
    "waterfront": "1 when waterfront",
    "last_sale_price": "last recorded sale price, USD",
    "last_sale_price_per_sqft": "last sale price / living area, USD per sqft",
    "last_sale_price_indexed": "last sale price moved to the as-of date along the county index, USD",
    "years_since_last_sale": "years from the last sale to the as-of date",
    "last_price_to_comps_value": "indexed last sale price / comparable-sales estimate",
    "comps_count": "comparable sales found",
    "comps_median_price_per_sqft": "median time-adjusted comparable price per sqft, USD",
    "comps_value_spread_pct": "interquartile range of comparable values, % of the estimate",
    "market_trend_12m_pct": "county price index change over the last 12 months, %",
}

PASSTHROUGH = ["use_type", "neighborhood", "latitude", "longitude"]


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    denominator = denominator.astype(float).where(denominator.astype(float) > 0)
    return numerator.astype(float) / denominator


def build_features(enrichment: pd.DataFrame, locations: pd.DataFrame, index: PriceIndex) -> pd.DataFrame:
    """Feature rows for enriched prospects. `locations`: prospect_key → latitude, longitude."""
    rows = enrichment.loc[enrichment["status"] == "enriched"].merge(
        locations[["prospect_key", "latitude", "longitude"]], on="prospect_key", how="left")
    as_of = pd.to_datetime(rows["as_of_date"])
    as_of_year = as_of.dt.year
    last_date = pd.to_datetime(rows["last_sale_date"])
    out = pd.DataFrame({"prospect_key": rows["prospect_key"], "as_of_date": rows["as_of_date"]})
    for column in PASSTHROUGH:
        out[column] = rows[column]
    out["age_years"] = (as_of_year - rows["year_built"]).astype(float)
    out["eff_age_years"] = (as_of_year - rows["effective_year_built"]).astype(float)
    for column in ("living_sqft", "lot_sqft", "beds", "baths", "bldg_grade",
                   "comps_count", "comps_median_price_per_sqft", "comps_value_spread_pct",
                   "market_trend_12m_pct", "last_sale_price"):
        out[column] = rows[column].astype(float)
    out["lot_to_building_ratio"] = _ratio(rows["lot_sqft"], rows["living_sqft"])
    out["baths_per_bed"] = _ratio(rows["baths"], rows["beds"])
    out["waterfront"] = rows["waterfront"].map({True: 1.0, False: 0.0}).astype(float)
    out["last_sale_price_per_sqft"] = _ratio(rows["last_sale_price"], rows["living_sqft"])
    indexed = np.full(len(rows), np.nan)
    has_sale = last_date.notna().to_numpy()
    if has_sale.any():
        indexed[has_sale] = index.level(as_of[has_sale]) / index.level(last_date[has_sale]) * \
            rows.loc[has_sale, "last_sale_price"].astype(float).to_numpy()
    out["last_sale_price_indexed"] = indexed
    out["years_since_last_sale"] = (as_of - last_date).dt.days / 365.25
    out["last_price_to_comps_value"] = _ratio(out["last_sale_price_indexed"], rows["comps_estimated_value"])
    return out.replace([np.inf, -np.inf], np.nan).reset_index(drop=True)
