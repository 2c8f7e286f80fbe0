"""A property's market: the comparable sales of its valuation, its own sales and the county's index.

Nothing here is a second rule. The comps are the one rule of `market.comps` with the `comps:`
settings of config/scoring.yaml, prices moved along the county's hedonic index to the score's
as-of month — exactly what the enrichment counted and the memo lists (`docs.context.pool_comps`;
enrichment stores only the summary, not the comps themselves, so they are found again here).

No county's sales are held in the API process (market/stored.py): the index is the one the
pipeline fitted and stored (`market_indexes`, one small row per county, read per request), the
comps' candidates are the sales in the rule's window inside a box covering its radius (an indexed
query), projected with the reference latitude of the rule's whole pool — one aggregate per county
and as-of date, kept per process (`MarketCache`) while the stored index's `fitted_at` is unchanged.
Row-level security admits `sales` and `market_indexes` rows of the tenant's subscribed counties only
(migrations 0021, 0045).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.security import Context, needs

router = APIRouter(tags=["properties"])
ERRORS = (401, 403, 422, 404)
PropertyId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# The subject of the comps search, as the memo reads it (docs/context.MEMO_ROWS_SQL).
SUBJECT_SQL = """
SELECT p.county, p.prospect_key, p.parcel_id, p.latitude, p.longitude,
       e.use_type, e.living_sqft, coalesce(s.as_of_date, e.as_of_date) AS as_of_date
FROM prospects p
LEFT JOIN enrichment e ON e.county = p.county AND e.prospect_key = p.prospect_key
LEFT JOIN scores s ON s.county = p.county AND s.prospect_key = p.prospect_key
WHERE p.id = %s
"""


class MarketCache:
    """The comps pool's reference latitude per (county, as-of date), kept while the county's stored
    index is the same fit (its `fitted_at`): the one per-county aggregate of a comps request."""

    def __init__(self, scoring: Any, size: int = 64) -> None:
        self.scoring, self.size = scoring, size
        self._lock = threading.Lock()
        self._data: OrderedDict[tuple[str, date], tuple[datetime, float | None]] = OrderedDict()

    def reference_latitude(self, cur: Any, county: str, as_of: date, fitted_at: datetime) -> float | None:
        from realestate_assets.market.stored import reference_latitude

        key = (county, as_of)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] == fitted_at:
                self._data.move_to_end(key)
                return hit[1]
        value = reference_latitude(cur, county, as_of, self.scoring.comps)
        with self._lock:
            self._data[key] = (fitted_at, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


def subject(ctx: Context, property_id: int) -> dict[str, Any]:
    """The property as the comps search sees it; 404 when the tenant may not see it."""
    ctx.cur.execute(SUBJECT_SQL, (property_id,))
    row = ctx.cur.fetchone()
    if row is None:
        raise Problem(404, f"no property {property_id} in the counties this tenant follows")
    return dict(zip([c.name for c in ctx.cur.description], row, strict=True))


def comps_of(cur: Any, market: MarketCache, found: dict[str, Any]) -> tuple[list[dict[str, Any]],
                                                                           dict[str, Any]] | str:
    """The subject's comps and summary by the one rule, or why there are none."""
    import pandas as pd  # imported when first needed: the API starts without pandas

    from realestate_assets.docs.context import listed_comps, subject_comps
    from realestate_assets.market.comps import SalesPool
    from realestate_assets.market.stored import FIRST_BOX_SHARE, comps_candidates, next_box, stored_index

    county, settings = found["county"], market.scoring.comps
    stored = stored_index(cur, county)
    if stored is None:
        return f"no comps yet: no market index is stored for {county} (the pipeline's next enrichment run stores it)"
    index, fitted_at = stored
    as_of = pd.Timestamp(found["as_of_date"])
    ref_lat = market.reference_latitude(cur, county, as_of.date(), fitted_at)
    if ref_lat is None:  # no sale in the rule's window at all
        return "no recorded sale matches the comparable-sales rule"
    box = settings.radius_m * FIRST_BOX_SHARE if settings.radius_m is not None else None
    while True:  # a box around the property, widened until the rule's comps in it are complete
        sales = comps_candidates(cur, county, found, as_of, settings, ref_lat, box)
        sales = sales.assign(sale_date=pd.to_datetime(sales["sale_date"]))
        comps = subject_comps(SalesPool(sales, settings, as_of, as_of, ref_lat=ref_lat), found, as_of, index)
        distances = comps.chosen["distance_m"].to_numpy()
        # Complete: the box covers the radius, or the rule took its max_comps all within the box's
        # half width, nearer than any sale outside it (the listed distance_m is rounded to 0.1 m:
        # + 0.05). Only the complete box's comps are listed.
        if box is None or box >= settings.radius_m or (
                len(distances) == settings.max_comps and round(float(distances[-1]), 1) + 0.05 <= box):
            return listed_comps(comps, sales)
        box = next_box(box, len(distances), settings)


# ---- bodies ---------------------------------------------------------------------------------

class CompSale(BaseModel):
    parcel_id: str
    sale_date: date
    sale_price: float = Field(description="Recorded price")
    adjusted_price: float = Field(description="The price moved along the county index to the as-of month")
    price_per_sqft: float = Field(description="Adjusted price per square foot of living area")
    living_sqft: float
    beds: float | None
    baths: float | None
    distance_m: float = Field(description="Straight-line distance from the property, metres")
    latitude: float
    longitude: float


class CompsSummary(BaseModel):
    comps_count: int
    comps_median_price_per_sqft: float | None
    comps_estimated_value: float | None = Field(description="Median adjusted $/sqft × the property's living area; "
                                                "null with fewer comps than the rule's minimum")
    comps_value_spread_pct: float | None = Field(description="Interquartile range of the comps' $/sqft, "
                                                 "% of the median")


class CompsRule(BaseModel):
    radius_m: float | None
    window_months: int | None
    sqft_tolerance: float | None
    max_comps: int
    min_comps: int


class PropertyComps(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "property_id": 1842, "county": "king_wa", "as_of_date": "2015-05-27",
        "subject": {"latitude": 47.6512, "longitude": -122.3421, "living_sqft": 1480.0, "use_type": "single_family"},
        "rule": {"radius_m": 1600.0, "window_months": 12, "sqft_tolerance": 0.3, "max_comps": 10, "min_comps": 3},
        "summary": {"comps_count": 2, "comps_median_price_per_sqft": None, "comps_estimated_value": None,
                    "comps_value_spread_pct": None},
        "comps": [{"parcel_id": "0007600057", "sale_date": "2014-11-03", "sale_price": 455000.0,
                   "adjusted_price": 471300.0, "price_per_sqft": 330.5, "living_sqft": 1426.0, "beds": 3.0,
                   "baths": 1.75, "distance_m": 212.4, "latitude": 47.6521, "longitude": -122.3440}],
        "detail": None}]}}
    property_id: int
    county: str
    as_of_date: date | None = Field(description="The valuation's date: comps are sales strictly before it")
    subject: dict[str, Any] = Field(description="Location, living area and use type the comps are matched on")
    rule: CompsRule = Field(description="config/scoring.yaml `comps:` (market/comps.py)")
    summary: CompsSummary
    comps: list[CompSale] = Field(description="Nearest first")
    detail: str | None = Field(description="Why there are no comps, when there are none")


class SalePoint(BaseModel):
    date: date
    price: float


class IndexPoint(BaseModel):
    month: date
    level: float = Field(description="Index level (first month with sales = 1.0)")


class PriceHistory(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "property_id": 1842, "county": "king_wa", "as_of_date": "2015-05-27",
        "sales": [{"date": "2009-06-02", "price": 310000.0}, {"date": "2014-06-02", "price": 415000.0}],
        "index_method": "hedonic",
        "index": [{"month": "2014-05-01", "level": 1.0}, {"month": "2014-06-01", "level": 1.0123}]}]}}
    property_id: int
    county: str
    as_of_date: date | None
    sales: list[SalePoint] = Field(description="The parcel's recorded sales (the county's sales file), oldest first")
    index_method: str | None = Field(description="hedonic | median_ppsf | empty (market/index.py); null: no sales")
    index: list[IndexPoint] = Field(description="The county's monthly market index up to the as-of date")


# ---- routes ---------------------------------------------------------------------------------

@router.get("/properties/{property_id}/comps", response_model=PropertyComps, responses=responses(*ERRORS),
            summary="The comparable sales of the property's valuation (the enrichment's rule and settings)")
def property_comps(property_id: PropertyId, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    found = subject(ctx, property_id)
    settings = request.app.state.reos.scoring.comps
    body: dict[str, Any] = {
        "property_id": property_id, "county": found["county"], "as_of_date": found["as_of_date"],
        "subject": {k: found[k] for k in ("latitude", "longitude", "living_sqft", "use_type")},
        "rule": {k: getattr(settings, k) for k in CompsRule.model_fields},
        "summary": {"comps_count": 0, "comps_median_price_per_sqft": None, "comps_estimated_value": None,
                    "comps_value_spread_pct": None}, "comps": [], "detail": None}
    missing = [k for k in ("latitude", "longitude", "living_sqft", "use_type", "as_of_date") if found[k] is None]
    if missing:
        body["detail"] = f"no comps: the property has no {', '.join(missing)} on record"
        return body
    found_comps = comps_of(ctx.cur, request.app.state.reos.market, found)
    if isinstance(found_comps, str):
        body["detail"] = found_comps
        return body
    comps, summary = found_comps
    body.update(comps=comps, summary=summary)
    if not comps:
        body["detail"] = "no recorded sale matches the comparable-sales rule"
    return body


@router.get("/properties/{property_id}/price-history", response_model=PriceHistory, responses=responses(*ERRORS),
            summary="The property's recorded sales and the county's monthly market index")
def price_history(property_id: PropertyId, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    from realestate_assets.market.stored import parcel_sales, stored_index

    found = subject(ctx, property_id)
    body: dict[str, Any] = {"property_id": property_id, "county": found["county"], "as_of_date": found["as_of_date"],
                            "sales": [], "index_method": None, "index": []}
    body["sales"] = parcel_sales(ctx.cur, found["county"], found["parcel_id"]) if found["parcel_id"] else []
    stored = stored_index(ctx.cur, found["county"])
    if stored is None:
        return body
    index = stored[0]
    # Without an as-of date every level: the index ends with the month of the county's newest sale.
    levels = index.by_month if found["as_of_date"] is None else \
        index.by_month[index.by_month.index.date <= found["as_of_date"]]
    body["index_method"] = index.method
    body["index"] = [{"month": m.date(), "level": round(float(v), 5)} for m, v in levels.items()]
    return body
