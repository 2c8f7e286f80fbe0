"""Shared helpers for the scoring tests (imported as tests.scoring.helpers_scoring)."""

from __future__ import annotations

from functools import cache

import pandas as pd

from realestate_assets.config_models import ScoringConfig, load_counties
from realestate_assets.discovery.collect import collect_sales
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
