"""A property's market: the comparable sales of its valuation, its own sales and the county's index.

Nothing here is a second rule. The comps are `docs.context.MarketData.comps_result` — the one rule
of `market.comps` with the `comps:` settings of config/scoring.yaml, prices moved along the
county's hedonic index to the score's as-of month — exactly what the enrichment counted and the
memo lists (enrichment stores only the summary, not the comps themselves, so they are found again
here). The index is `market.index.HedonicIndex` fitted on the county's recorded sales.

Loading a county's sales and fitting its index takes about a second for King County, so one
`MarketData` per county is kept per API process (`MarketCache`) while the county's sales are
unchanged (row count and newest `updated_at`, checked on every request with one indexed query).
Row-level security admits `sales` rows of the tenant's subscribed counties only (migration 0021).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.security import Context, needs

router = APIRouter(tags=["properties"])
ERRORS = (401, 403, 422, 404)
PropertyId = Annotated[int, Path(ge=1, le=2**63 - 1)]
NUMERIC_SALES_COLUMNS = ("sale_price", "lot_sqft", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale",
                         "eff_age_at_sale", "latitude", "longitude")

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
    """`MarketData` per county, rebuilt when the county's sales change; a few counties kept."""

    def __init__(self, scoring: Any, size: int = 4) -> None:
        self.scoring, self.size = scoring, size
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._data: OrderedDict[str, tuple[tuple[Any, ...], Any]] = OrderedDict()

    def get(self, cur: Any, county: str) -> Any | None:
        """The county's MarketData, or None when it has no recorded sales."""
        import pandas as pd

        from realestate_assets.docs.context import MARKET_SALES_COLUMNS, MarketData

        key = county
        cur.execute("SELECT count(*), max(updated_at) FROM sales WHERE county = %s", (county,))
        stamp = tuple(cur.fetchone())
        if stamp[0] == 0:
            return None
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per county at a time: concurrent first requests wait for it
            with self._lock:
                hit = self._data.get(key)
                if hit is not None and hit[0] == stamp:
                    self._data.move_to_end(key)
                    return hit[1]
            cur.execute(f"SELECT {MARKET_SALES_COLUMNS} FROM sales WHERE county = %s "
                        "ORDER BY sale_date, sale_id", (county,))
            frame = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
            for column in NUMERIC_SALES_COLUMNS:
                frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
            frame["waterfront"] = frame["waterfront"].map({True: 1.0, False: 0.0}).astype(float)
            data = MarketData(frame, self.scoring)
            with self._lock:
                self._data[key] = (stamp, data)
                self._data.move_to_end(key)
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
            return data


def subject(ctx: Context, property_id: int) -> dict[str, Any]:
    """The property as the comps search sees it; 404 when the tenant may not see it."""
    ctx.cur.execute(SUBJECT_SQL, (property_id,))
    row = ctx.cur.fetchone()
    if row is None:
        raise Problem(404, f"no property {property_id} in the counties this tenant follows")
    return dict(zip([c.name for c in ctx.cur.description], row, strict=True))


def market_for(request: Request, ctx: Context, found: dict[str, Any]) -> Any | None:
    return request.app.state.reos.market.get(ctx.cur, found["county"])


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
    missing = [k for k in ("latitude", "living_sqft", "use_type", "as_of_date") if found[k] is None]
    if missing:
        body["detail"] = f"no comps: the property has no {', '.join(missing)} on record"
        return body
    market = market_for(request, ctx, found)
    if market is None:
        body["detail"] = f"no comps: no recorded sales for {found['county']}"
        return body
    comps, summary = market.comps_result(found, found["as_of_date"])
    body.update(comps=comps, summary=summary)
    if not comps:
        body["detail"] = "no recorded sale matches the comparable-sales rule"
    return body


@router.get("/properties/{property_id}/price-history", response_model=PriceHistory, responses=responses(*ERRORS),
            summary="The property's recorded sales and the county's monthly market index")
def price_history(property_id: PropertyId, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    import pandas as pd  # imported when first needed: the API starts without pandas

    found = subject(ctx, property_id)
    body: dict[str, Any] = {"property_id": property_id, "county": found["county"], "as_of_date": found["as_of_date"],
                            "sales": [], "index_method": None, "index": []}
    market = market_for(request, ctx, found)
    if market is None:
        return body
    as_of = pd.Timestamp(found["as_of_date"] or market.sales["sale_date"].max())
    body["sales"] = market.history(found["parcel_id"], as_of)["sales"] if found["parcel_id"] else []
    if market.index is not None:
        levels = market.index.by_month[market.index.by_month.index <= as_of]
        body["index_method"] = market.index.method
        body["index"] = [{"month": m.date(), "level": round(float(v), 5)} for m, v in levels.items()]
    return body
