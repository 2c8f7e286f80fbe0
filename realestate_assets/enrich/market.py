"""A parcel's own sale history as property facts; comps and the index live in `realestate_assets.market`.

`CompsSettings` is re-exported here because the enrichment and scoring assets import it from
this module; the rule itself is `realestate_assets.market.comps`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realestate_assets.config_models import CompsSettings
from realestate_assets.discovery.collect import sale_order

__all__ = ["CompsSettings", "latest_sale_facts"]


def latest_sale_facts(sales: pd.DataFrame) -> pd.DataFrame:
    """One row per parcel (in parcel order; a sale without one is left out): the building as
    described at its latest sale by (sale_date, sale_id), and its sale history.

    Only the last and next-to-last rows of each parcel are taken from `sales`, at positions found
    on the key columns in `sale_order` (a sorted copy of the county's sales was most of this
    function's time at a million parcels: issue 17)."""
    order = sale_order(sales)
    parcels = sales["parcel_id"].to_numpy(dtype=object)[order]
    known = pd.notna(parcels)
    order, parcels = order[known], parcels[known]
    first = np.ones(len(parcels), dtype=bool)
    first[1:] = parcels[1:] != parcels[:-1]
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(parcels))[:len(starts)] - 1  # each parcel's last position
    counts = ends - starts + 1
    last = sales.iloc[order[ends]].set_index("parcel_id")
    prior = sales.iloc[order[ends[counts >= 2] - 1]].set_index("parcel_id")
    sale_year = pd.to_datetime(last["sale_date"]).dt.year
    # Each parcel's prior sale by position (the parcels with two or more sales, in the same
    # order), not by looking the parcels up in `last`'s index (reindex: a hash of a million texts).
    at_prior = np.full(len(ends), -1, dtype=np.intp)
    at_prior[counts >= 2] = np.arange(len(prior))

    def prior_of(values: pd.Series) -> pd.Series:  # `values.reindex(last.index)`
        array = values.array if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) else values.to_numpy()
        return pd.Series(pd.api.extensions.take(array, at_prior, allow_fill=True),
                         index=last.index, dtype=values.dtype, name=values.name, copy=False)

    # copy=False: each column its own block, as the columns added next leave the frame anyway; not
    # stacked into blocks by type (≈0.5 CPU s at a million parcels, issue 17).
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
        "sale_count": pd.Series(counts, index=last.index),
        "last_sale_id": last["sale_id"],
        "last_sale_source": last["source"],
        "last_sale_price": last["sale_price"].astype(float),
        "last_sale_date": last["sale_date"],
        "prior_sale_price": prior_of(prior["sale_price"].astype(float)),
        "prior_sale_date": prior_of(prior["sale_date"]),
    }, copy=False)
    facts.index.name = "parcel_id"
    return facts
