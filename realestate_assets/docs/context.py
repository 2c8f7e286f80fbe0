"""The facts a memo shows, gathered from one scored property. Only recorded or modelled values."""

from __future__ import annotations

from typing import Any

import pandas as pd

from realestate_assets.config_models import CountyConfig
from realestate_assets.db.warehouse import json_safe

# The query a memo's facts come from: one row per scored prospect of a county.
MEMO_ROWS_SQL = """
SELECT s.prospect_key, s.as_of_date, s.estimated_value, s.value_gap_pct, s.bird_dog_score,
       s.score_rank, s.score_breakdown, s.model_version,
       p.parcel_id, p.address, p.latitude, p.longitude, p.sources,
       e.use_type, e.living_sqft, e.lot_sqft, e.beds, e.baths, e.bldg_grade, e.year_built,
       e.effective_year_built, e.waterfront, e.last_sale_price::float8 AS last_sale_price,
       e.last_sale_date, e.comps_count, e.comps_median_price_per_sqft, e.comps_estimated_value,
       e.comps_value_spread_pct, e.market_trend_12m_pct,
       f.last_sale_price_indexed,
       (m.metrics ->> 'mdape_pct')::float8 AS model_mdape_pct
FROM scores s
JOIN prospects p USING (tenant_id, county, prospect_key)
JOIN enrichment e USING (tenant_id, county, prospect_key)
JOIN features f USING (tenant_id, county, prospect_key)
LEFT JOIN ml_models m ON m.tenant_id = s.tenant_id AND m.county = s.county AND m.version = s.model_version
WHERE s.tenant_id = :tenant AND s.county = :county AND s.bird_dog_score >= :threshold
ORDER BY s.score_rank
"""


def _value(row: pd.Series, name: str) -> Any:
    value = row.get(name)
    return None if value is None or (not isinstance(value, list | dict) and pd.isna(value)) else value


def memo_context(row: pd.Series, county: CountyConfig, sender_name: str) -> dict[str, Any]:
    breakdown = _value(row, "score_breakdown") or {}
    context = {
        "county": {"key": county.key, "name": county.name, "state": county.state},
        "sender": {"name": sender_name},
        "property": {k: _value(row, k) for k in (
            "parcel_id", "address", "latitude", "longitude", "use_type", "living_sqft", "lot_sqft",
            "beds", "baths", "bldg_grade", "year_built", "effective_year_built", "waterfront")},
        "valuation": {k: _value(row, k) for k in (
            "estimated_value", "comps_estimated_value", "comps_count", "comps_median_price_per_sqft",
            "comps_value_spread_pct", "last_sale_price", "last_sale_date", "last_sale_price_indexed",
            "value_gap_pct", "market_trend_12m_pct", "model_mdape_pct")},
        "score": {
            "bird_dog_score": _value(row, "bird_dog_score"), "rank": _value(row, "score_rank"),
            "as_of_date": _value(row, "as_of_date"), "model_version": _value(row, "model_version"),
            "reasons": breakdown.get("reasons", []), "value_factors": breakdown.get("value_factors", []),
        },
        "sources": [s.attribution or s.name for s in county.sources if s.enabled
                    and s.name in (_value(row, "sources") or [])] or ["county records"],
    }
    return json_safe(context)
