"""A parcel's own sale history as property facts; comps and the index live in `realestate_assets.market`.

`CompsSettings` is re-exported here because the enrichment and scoring assets import it from
this module; the rule itself is `realestate_assets.market.comps`.
"""

from __future__ import annotations

import pandas as pd

from realestate_assets.config_models import CompsSettings

__all__ = ["CompsSettings", "latest_sale_facts"]


def latest_sale_facts(sales: pd.DataFrame) -> pd.DataFrame:
    """One row per parcel: the building as described at its latest sale, and its sale history."""
    ordered = sales.sort_values(["parcel_id", "sale_date", "sale_id"])
    grouped = ordered.groupby("parcel_id", sort=False)
    last = grouped.tail(1).set_index("parcel_id")
    prior = grouped.nth(-2).set_index("parcel_id") if len(ordered) else ordered.set_index("parcel_id")
    sale_year = pd.to_datetime(last["sale_date"]).dt.year
    facts = pd.DataFrame({
        "use_type": last["use_type"],
        "neighborhood": last["neighborhood"],
        "living_sqft": last["living_sqft"],
        "lot_sqft": last["lot_sqft"],
        "beds": last["beds"],
        "baths": last["baths"],
        "bldg_grade": last["bldg_grade"],
        "year_built": sale_year - last["age_at_sale"],
        "effective_year_built": sale_year - last["eff_age_at_sale"],
        "waterfront": last["waterfront"].map({1.0: True, 0.0: False}),
        "latitude": last["latitude"],
        "longitude": last["longitude"],
        "sale_count": grouped.size(),
        "last_sale_id": last["sale_id"],
        "last_sale_source": last["source"],
        "last_sale_price": last["sale_price"].astype(float),
        "last_sale_date": last["sale_date"],
        "prior_sale_price": prior["sale_price"].astype(float).reindex(last.index),
        "prior_sale_date": prior["sale_date"].reindex(last.index),
    })
    facts.index.name = "parcel_id"
    return facts
