"""The bird-dog score, first definition: transparent, rule-based, 0-100.

A bird dog looks for owners who could sell below market value and still walk away well:
lots of equity, long ownership, a valuation we trust, and room to add value. Each component
is the property's percentile within its county (0 = lowest, 1 = highest):

  equity      45%  estimated value minus the last sale price moved to today along the county
                   index, as a share of the estimated value (value_gap_pct)
  tenure      25%  years since the last sale
  confidence  15%  agreement between the AVM and the comparable-sales estimate
  upside      15%  effective age (older effective age: renovation upside)

bird_dog_score = 100 × Σ weight × percentile, over the components the data supports, with
the weights of missing components spread over the others. Issue 5 replaces this rule with a
trained deal model; the rule stays documented in docs/scoring.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realestate_assets.ml.avm import FEATURE_LABELS, MODEL_FEATURES

WEIGHTS = {"equity": 0.45, "tenure": 0.25, "confidence": 0.15, "upside": 0.15}


def value_gap_pct(estimated_value: pd.Series, last_sale_price_indexed: pd.Series) -> pd.Series:
    return (estimated_value - last_sale_price_indexed) / estimated_value * 100.0


def score_components(features: pd.DataFrame, estimated_value: pd.Series) -> pd.DataFrame:
    """Each component as a county percentile in [0, 1]; NaN where the data cannot say."""
    gap = value_gap_pct(estimated_value, features["last_sale_price_indexed"])
    comps_value = features["comps_median_price_per_sqft"] * features["living_sqft"]
    disagreement = (estimated_value / comps_value - 1.0).abs()
    raw = pd.DataFrame({
        "equity": gap,
        "tenure": features["years_since_last_sale"],
        "confidence": -disagreement,
        "upside": features["eff_age_years"],
    }, index=features.index)
    return raw.rank(pct=True, method="average")


def bird_dog_score(components: pd.DataFrame) -> pd.Series:
    weights = pd.Series(WEIGHTS)
    present = components.notna()
    weighted = components.fillna(0.0).mul(weights, axis=1).sum(axis=1)
    total_weight = present.mul(weights, axis=1).sum(axis=1)
    score = (weighted / total_weight.where(total_weight > 0)) * 100.0
    return score.fillna(0.0).clip(0.0, 100.0).round(2)


def top_factors(contributions: pd.DataFrame, inputs: pd.DataFrame, n: int = 5) -> list[list[dict]]:
    """Plain-language top value factors per row from SHAP contributions (log-price space)."""
    out: list[list[dict]] = []
    for row_index, row in contributions[MODEL_FEATURES].iterrows():
        ranked = row.abs().sort_values(ascending=False).index[:n]
        factors = []
        for feature in ranked:
            effect = float(np.expm1(row[feature]) * 100.0)
            value = inputs.at[row_index, feature]
            label = FEATURE_LABELS.get(feature, feature)
            direction = "raises" if effect >= 0 else "lowers"
            factors.append({
                "feature": feature, "value": None if pd.isna(value) else (
                    value if isinstance(value, str) else float(value)),
                "effect_pct": round(effect, 2),
                "text": f"{label} {_describe(feature, value)} {direction} the estimate by {abs(effect):.1f}%",
            })
        out.append(factors)
    return out


def _describe(feature: str, value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "(unknown)"
    if feature in ("living_sqft", "lot_sqft"):
        return f"of {float(value):,.0f} sqft"
    if feature in ("age_years", "eff_age_years"):
        return f"of {float(value):.0f} years"
    if feature == "waterfront":
        return "(yes)" if float(value) >= 1 else "(no)"
    if feature in ("latitude", "longitude", "sale_months"):
        return ""
    if isinstance(value, str):
        return f"'{value}'"
    return f"of {float(value):g}"


def component_reasons(components: pd.Series, features: pd.Series, gap_pct: float) -> list[str]:
    """Why the rule scored this property as it did, in an investor's words."""
    reasons = []
    if pd.notna(gap_pct):
        reasons.append(f"last sale, moved to today's market, is {gap_pct:.0f}% below the estimated value"
                       if gap_pct >= 0 else
                       f"last sale, moved to today's market, is {-gap_pct:.0f}% above the estimated value")
    if pd.notna(features.get("years_since_last_sale")):
        reasons.append(f"owned for {features['years_since_last_sale']:.1f} years since the last sale")
    if pd.notna(features.get("comps_count")) and features["comps_count"] > 0:
        reasons.append(f"{int(features['comps_count'])} comparable sales nearby support the value")
    if pd.notna(features.get("eff_age_years")):
        reasons.append(f"effective age {features['eff_age_years']:.0f} years "
                       f"({components.get('upside', float('nan')) * 100:.0f}th percentile in the county)")
    return reasons
