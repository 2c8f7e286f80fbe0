"""Shared helpers for the scoring tests (imported as tests.scoring.helpers_scoring)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from realestate_assets.config_models import ScoringConfig, load_counties
from realestate_assets.discovery.collect import collect_sales
from realestate_assets.market.index import HedonicIndex
from realestate_assets.settings import repo_root


def fast_scoring(**overrides: object) -> ScoringConfig:
    """Small Optuna budgets: the tests check the machinery, `make bench` the accuracy."""
    return ScoringConfig(**{"avm_trials": 3, "deal_trials": 3, "propensity_trials": 3, **overrides})


@cache
def king_sales() -> pd.DataFrame:
    """The bundled King County sales, validated with the county's own mapping."""
    counties = load_counties(repo_root() / "config")
    return collect_sales(counties["king_wa"]).rows


def sale(parcel: str, sale_id: str, date: str, price: float, sqft: float = 1000, lat: float = 47.6,
         lon: float = -122.3, use: str = "sfr", age: float = 10, eff_age: float | None = None) -> dict:
    return {"source": "s", "sale_id": sale_id, "parcel_id": parcel, "sale_price": price,
            "sale_date": pd.Timestamp(date).date(), "use_type": use, "neighborhood": "15",
            "lot_sqft": 4000.0, "waterfront": 0.0, "bldg_grade": 7.0, "living_sqft": sqft, "beds": 3.0,
            "baths": 2.0, "age_at_sale": age, "eff_age_at_sale": age if eff_age is None else eff_age,
            "latitude": lat, "longitude": lon}


def prospect_features(n: int = 300) -> pd.DataFrame:
    """Feature rows for the last sale of `n` parcels, as of the newest sale; the first ten listed."""
    sales = king_sales()
    last = sales.sort_values("sale_date").groupby("parcel_id").tail(1).head(n).reset_index(drop=True)
    as_of = pd.Timestamp(sales["sale_date"].max())
    index = HedonicIndex.from_sales(sales)
    return pd.DataFrame({
        "prospect_key": last["parcel_id"], "as_of_date": as_of.date(), "use_type": last["use_type"],
        "neighborhood": last["neighborhood"], "latitude": last["latitude"], "longitude": last["longitude"],
        "living_sqft": last["living_sqft"], "lot_sqft": last["lot_sqft"], "beds": last["beds"],
        "baths": last["baths"], "bldg_grade": last["bldg_grade"], "waterfront": last["waterfront"].astype(float),
        "age_years": last["age_at_sale"], "eff_age_years": last["eff_age_at_sale"], "sale_count": 1.0,
        "last_sale_price_indexed": last["sale_price"] * index.level(pd.Series([as_of] * len(last))) /
        index.level(last["sale_date"]),
        "years_since_last_sale": (as_of - pd.to_datetime(last["sale_date"])).dt.days / 365.25,
        "comps_count": 5.0, "comps_median_price_per_sqft": 300.0, "comps_value_spread_pct": 10.0,
        "market_trend_12m_pct": index.trend_pct(as_of),
        # Ten listed properties: the deal model judges their asking price.
        "list_price": [float(p) * 0.8 if i < 10 else np.nan for i, p in enumerate(last["sale_price"])],
    })
