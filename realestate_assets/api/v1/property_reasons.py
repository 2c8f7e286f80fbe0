"""A property's score reasons on demand (issue #11): `GET /properties/{id}/reasons`.

The detail answers the reasons the pipeline stored (`scores.score_breakdown`: the packet
candidates and the county's top, `explain_top_n`), `null` for the rest. This route answers the
stored ones as they are, and computes the others from the property's feature row, the models that
made its score and its stored percentiles — `ml/on_demand.py`, what `reos explain` runs, the
`scores` asset's own wording and SHAP code (`pipeline.explain_rows`). The detail stays one fast
statement; the dashboard asks this route only when the detail's `reasons` is null.

Kept in the API process, never written back: the API role may only read `scores` (a public table
the pipeline owns, migration 0008). The process keeps the models (by county and version) and the
explanations (by county, property, model versions and the score row's `updated_at`), each an LRU
(`on_demand.Explainer`). Tenancy and quota as the detail: 404 outside the followed counties (row
-level security on prospects, scores, features, ml_models, sales), and the property is received
(`quota.receive`, via "detail": counted once a month with the detail, 402 past the plan).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from realestate_assets.api.v1 import quota
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.properties import property_key
from realestate_assets.api.v1.security import Context, needs

router = APIRouter(tags=["properties"])
PropertyId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class PropertyReasons(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "property_id": 1842, "county": "king_wa", "prospect_key": "kc-0007600046", "source": "computed",
        "model_versions": {"avm": "avm-king_wa-3f9a1c", "sale_propensity": "sale_propensity-king_wa-77b0e2"},
        "reasons": ["last sale, moved to today's market, is 18% below the estimated value",
                    "owned for 12.5 years since the last sale",
                    "years since the last sale 12.5 raises the chance of a sale within 12 months"],
        "value_factors": [{"feature": "living_sqft", "value": 1480.0, "effect_pct": 9.41,
                           "text": "living area 1,480 sqft raises the estimate by 9.4%"}],
        "deal_drivers": [],
        "sale_drivers": [{"feature": "years_since_last_sale", "value": 12.5, "log_odds": 0.3121,
                          "text": "years since the last sale 12.5 raises the chance of a sale within 12 months"}],
        "suspect_sale": None, "base_value": 612000.0}]}}
    property_id: int
    county: str
    prospect_key: str
    source: Literal["stored", "computed"] = Field(
        description="stored: written by the pipeline (or `reos explain`); computed: by this API process now "
                    "(kept in its memory, not written back)")
    model_versions: dict[str, str] = Field(description="The models that made the score, which the reasons explain")
    reasons: list[str] = Field(description="Plain-language score drivers, one per fact (the memo's wording)")
    value_factors: list[dict[str, Any]] = Field(description="SHAP factors of the estimated value, strongest first")
    deal_drivers: list[dict[str, Any]] = Field(description="What moves the deal probability (listed properties)")
    sale_drivers: list[dict[str, Any]] = Field(description="What moves the 12-month sale probability")
    suspect_sale: str | None = Field(description="Why the last sale was kept out of equity and the value gap")
    base_value: float | None = Field(description="The AVM's value before any factor (SHAP base)")


@router.get("/properties/{property_id}/reasons", response_model=PropertyReasons,
            responses=responses(401, 403, 422, 402, 404, 503),
            summary="The property's score reasons: stored, else computed now from its features and the models "
                    "that scored it")
def property_reasons(property_id: PropertyId, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    from realestate_assets.ml.on_demand import Unexplainable

    county, key = property_key(ctx, property_id)
    # The tenant receives the property, as with the detail: once a month (402 past the plan).
    quota.receive(ctx, county, key, via="detail")
    state = request.app.state.reos
    try:
        found = state.explainer.explain(ctx.cur, state.object_store(str(request.base_url)), county, [key]).get(key)
    except Unexplainable as exc:
        raise Problem(503, f"reasons of property {property_id} cannot be computed now: {exc}") from exc
    if found is None:
        raise Problem(404, f"property {property_id} is not scored yet: no reasons")
    breakdown = found.breakdown
    return {"property_id": property_id, "county": county, "prospect_key": key, "source": found.source,
            "model_versions": found.model_versions, "reasons": breakdown.get("reasons") or [],
            **{name: breakdown.get(name) or [] for name in ("value_factors", "deal_drivers", "sale_drivers")},
            "suspect_sale": breakdown.get("suspect_sale"), "base_value": breakdown.get("base_value")}
