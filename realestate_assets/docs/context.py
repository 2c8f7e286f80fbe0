"""The facts a memo shows, gathered from one scored property. Only recorded or modelled values.

`memo_context` is plain data (JSON-safe): its hash decides whether a packet is regenerated.
Charts and photos are derived from it at render time. A column an upstream source did not
fill (e.g. the ACS `tract_*` fields without a Census key) stays None, and the templates say
"not available" — nothing here invents a value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import CountyConfig, FinancialAssumptions, ScoringConfig, Sender
from realestate_assets.db.warehouse import json_safe
from realestate_assets.docs.finance import financials
from realestate_assets.market.comps import Comps, SalesPool
from realestate_assets.market.index import HedonicIndex, month_start
from realestate_assets.ml.scoring import (
    LAST_SALE_FLAGS_SQL,
    SALE_FLAG_COLUMNS,
    SUSPECT_SALE,
    score_components_sql,
    score_composition,
    suspect_sale_reason,
)

# The query a memo's facts come from: one row per scored prospect of a county.
MEMO_ROWS_SQL = f"""
SELECT s.prospect_key, s.as_of_date, s.estimated_value, s.estimated_value_low, s.estimated_value_high,
       s.value_gap_pct, s.bird_dog_score,
       s.score_rank, s.score_breakdown, {score_components_sql('s')} AS score_components, s.model_version,
       p.parcel_id, p.address, p.city, p.zip, p.latitude, p.longitude, p.sources, p.photos, p.list_price,
       p.listing_url, p.listing_status,
       e.use_type, e.living_sqft, e.lot_sqft, e.beds, e.baths, e.bldg_grade, e.year_built,
       e.effective_year_built, e.waterfront, e.last_sale_price::float8 AS last_sale_price,
       e.last_sale_date, e.comps_count, e.comps_median_price_per_sqft, e.comps_estimated_value,
       e.comps_value_spread_pct, e.market_trend_12m_pct, e.neighborhood,
       e.tax_amount, e.tax_year, e.rent_estimate_monthly,
       e.tract_geoid, e.tract_name, e.tract_population, e.tract_median_household_income,
       e.tract_median_home_value, e.tract_median_gross_rent, e.tract_vacancy_rate,
       e.tract_owner_occupied_share, e.tract_renter_occupied_share,
       f.last_sale_price_indexed, ls.last_sale_instrument, ls.last_sale_reason, ls.last_sale_warnings,
       (m.metrics ->> 'mdape_pct')::float8 AS model_mdape_pct
FROM scores s
JOIN prospects p USING (county, prospect_key)
JOIN enrichment e USING (county, prospect_key)
JOIN features f USING (county, prospect_key)
LEFT JOIN ({LAST_SALE_FLAGS_SQL}) ls ON ls.parcel_id = p.parcel_id
LEFT JOIN ml_models m ON m.county = s.county AND m.version = s.model_version
LEFT JOIN score_model_versions v ON v.county = s.county
WHERE s.county = :county
  AND (s.bird_dog_score >= :threshold OR s.prospect_key = ANY(CAST(:requested AS text[])))
ORDER BY s.score_rank
"""

NEIGHBORHOOD_FIELDS = {
    "tract_name": "tract", "tract_population": "population",
    "tract_median_household_income": "median_household_income",
    "tract_median_home_value": "median_home_value", "tract_median_gross_rent": "median_gross_rent",
    "tract_vacancy_rate": "vacancy_rate", "tract_owner_occupied_share": "owner_occupied_share",
    "tract_renter_occupied_share": "renter_occupied_share",
}
COMPONENT_LABELS = {"equity": "Equity (last sale in today's market vs estimate)", "tenure": "Years owned",
                    "confidence": "Valuation confidence (AVM agrees with comps)",
                    "upside": "Renovation upside (effective age)",
                    "deal": "Deal probability (asking price vs market)",
                    "propensity": "Chance of a sale within 12 months"}
COMPONENT_SHORT = {"equity": "Equity", "tenure": "Years owned", "confidence": "Valuation confidence",
                   "upside": "Renovation upside", "deal": "Deal probability", "propensity": "Sale within 12 months"}


def _value(row: pd.Series | dict, name: str) -> Any:
    value = row.get(name)
    if value is None or isinstance(value, list | dict):
        return value
    return None if pd.isna(value) else value


def sender_context(sender: Sender) -> dict[str, Any]:
    b = sender.branding
    return {"name": sender.name, "email": sender.email, "postal_address": sender.postal_address,
            "company": b.company, "color": b.color, "phone": b.phone, "website": b.website, "tagline": b.tagline,
            "logo_url": b.logo_url}


class MarketData:
    """A county's recorded sales, market index and comps pool, loaded once per packets run.

    The memo's comps are the enrichment's: the one rule of `market.comps` with the
    `comps:` settings, prices moved along the county's hedonic index to the as-of month.
    """

    def __init__(self, sales: pd.DataFrame, scoring: ScoringConfig) -> None:
        self.sales = sales.assign(sale_date=pd.to_datetime(sales["sale_date"])).reset_index(drop=True)
        self.scoring = scoring
        self.index = HedonicIndex.from_sales(self.sales) if len(self.sales) else None
        self._pools: dict[pd.Timestamp, SalesPool] = {}  # one KD-tree per as-of date, shared by every memo
        self._by_parcel = self.sales.groupby("parcel_id").indices

    def comps(self, subject: dict[str, Any], as_of: Any) -> list[dict[str, Any]]:
        """The subject's comparable sales as of `as_of`, nearest first (parcel, date, price, distance...)."""
        return self.comps_result(subject, as_of)[0]

    def comps_result(self, subject: dict[str, Any], as_of: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The subject's comps and their summary (count, median $/sqft, estimate, spread) from ONE
        search: every page of a memo states this one result."""
        empty = {"comps_count": 0, "comps_median_price_per_sqft": None, "comps_estimated_value": None,
                 "comps_value_spread_pct": None}
        if subject.get("latitude") is None or not subject.get("living_sqft") or self.sales.empty:
            return [], empty
        as_of = pd.Timestamp(as_of)
        if as_of not in self._pools:
            self._pools[as_of] = SalesPool(self.sales, self.scoring.comps, as_of, as_of)
        return pool_comps(self._pools[as_of], self.sales, subject, as_of, self.index)

    def history(self, parcel_id: Any, as_of: Any) -> dict[str, Any]:
        """The parcel's recorded sales and the county index (monthly) from its first sale to as-of."""
        rows = self._by_parcel.get(parcel_id)
        if rows is None or self.index is None:
            return {"sales": [], "index": []}
        sales = self.sales.iloc[rows].sort_values("sale_date")
        first = month_start(sales["sale_date"].iloc[0])
        levels = self.index.by_month[(self.index.by_month.index >= first)
                                     & (self.index.by_month.index <= pd.Timestamp(as_of))]
        return {"sales": [{"date": d.date().isoformat(), "price": float(p)}
                          for d, p in zip(sales["sale_date"], sales["sale_price"], strict=True)],
                "index": [{"month": m.date().isoformat(), "level": round(float(v), 5)} for m, v in levels.items()]}


def pool_comps(pool: SalesPool, sales: pd.DataFrame, subject: dict[str, Any], as_of: pd.Timestamp,
               index: HedonicIndex | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The subject's comps from `pool` (built on `sales`) and their summary, as a memo and the API
    list them: the parcel, date and price of each, its adjusted price and distance."""
    return listed_comps(subject_comps(pool, subject, as_of, index), sales)


def subject_comps(pool: SalesPool, subject: dict[str, Any], as_of: pd.Timestamp, index: HedonicIndex | None) -> Comps:
    """The rule's search for one subject (`pool_comps` without the listing: the API tests a candidate
    box's completeness on it and lists only the last box's comps)."""
    target = pd.DataFrame([{k: subject.get(k) for k in ("parcel_id", "latitude", "longitude", "living_sqft",
                                                          "use_type")}])
    return pool.find(target, as_of, index)


def listed_comps(found: Comps, sales: pd.DataFrame) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One subject's `Comps` (from a pool built on `sales`) as `pool_comps` lists them."""
    chosen = found.chosen
    summary = {k: (None if pd.isna(v) else float(v)) for k, v in found.summary.iloc[0].items()}
    summary["comps_count"] = int(summary["comps_count"] or 0)
    rows = sales.iloc[chosen["sale"].to_numpy()]
    return [{"parcel_id": r.parcel_id, "sale_date": r.sale_date.date().isoformat(),
             "sale_price": float(r.sale_price), "living_sqft": float(r.living_sqft),
             "beds": None if pd.isna(r.beds) else float(r.beds),
             "baths": None if pd.isna(r.baths) else float(r.baths),
             "price_per_sqft": float(c.adjusted_price_per_sqft), "adjusted_price": float(c.adjusted_price),
             "distance_m": round(float(c.distance_m), 1),
             "latitude": float(r.latitude), "longitude": float(r.longitude)}
            for r, c in zip(rows.itertuples(), chosen.itertuples(), strict=True)], summary


def risks(context: dict[str, Any]) -> list[str]:
    """Plain-language risks, each derived from a recorded or modelled value."""
    v, p, out = context["valuation"], context["property"], []
    if v.get("suspect_sale"):
        out.append(f"{v['suspect_sale']}: it is not used for the value gap or the equity score; "
                   "check the deed before relying on it")
    if v.get("comps_count") is not None and v["comps_count"] < 3:
        out.append(f"only {_comps_phrase(v['comps_count'])} nearby: the comparable-sales estimate is weak")
    if v.get("comps_value_spread_pct") is not None and v["comps_value_spread_pct"] > 25:
        out.append(f"comparable sales disagree (spread {v['comps_value_spread_pct']:.0f}% of the estimate)")
    if v.get("model_mdape_pct") is not None:  # the range itself is stated beside the estimate
        out.append(f"the AVM's median error on unseen sales is {v['model_mdape_pct']:.1f}%: "
                   "treat the estimate as a range, not a price")
    if v.get("estimated_value") and v.get("comps_estimated_value"):
        gap = abs(v["estimated_value"] / v["comps_estimated_value"] - 1) * 100
        if gap > 15:
            out.append(f"the AVM and the comparable sales differ by {gap:.0f}%")
    if p.get("effective_year_built") and context["score"].get("as_of_date"):
        age = int(str(context["score"]["as_of_date"])[:4]) - int(p["effective_year_built"])
        if age >= 40:
            out.append(f"effective age about {age} years: budget for renovation")
    if v.get("market_trend_12m_pct") is not None and v["market_trend_12m_pct"] < 0:
        out.append(f"county prices fell {-v['market_trend_12m_pct']:.1f}% over the last 12 months")
    if p.get("waterfront"):
        out.append("waterfront: check flood zone, shoreline permits and insurance")
    if not context["financials"].get("rent_available"):
        out.append("no rent figure in the data: rental income is unverified")
    as_of = context["score"].get("as_of_date")
    if as_of:
        out.append(f"figures use data as of {as_of}; confirm current condition, title and liens before an offer")
    return out


def _comps_phrase(count: int) -> str:
    return f"{count} comparable sale" + ("" if count == 1 else "s")


def _legacy_fact(text: str) -> str | None:
    """The fact of a reason stored before `reason_facts` existed (scores not yet re-run)."""
    if text.startswith("last sale, moved to today's market"):
        return "value_gap"
    if text.endswith("comparable sales nearby support the value"):
        return "comps"
    return None


def memo_reasons(breakdown: dict[str, Any], valuation: dict[str, Any]) -> list[str]:
    """The score's reasons, one per fact, restated from the memo's own facts where the memo states
    that fact elsewhere (its comps count, a suspect last sale), so every page agrees."""
    texts = list(breakdown.get("reasons") or [])
    facts = list(breakdown.get("reason_facts") or [_legacy_fact(t) for t in texts])
    out: list[str] = []
    for fact, text in zip(facts, texts, strict=False):
        if fact == "comps":
            count = valuation.get("comps_count") or 0
            text = f"{_comps_phrase(count)} nearby support the value" if count else None
        elif fact == "value_gap" and valuation.get("suspect_sale"):
            text = f"{valuation['suspect_sale']}: not used for the equity score or the value gap"
        if text and text not in out:  # rows scored before reason_facts existed: exact repeats only
            out.append(text)
    return out


def parcel_viewer_url(county: CountyConfig, parcel_id: Any) -> str | None:
    if not county.parcel_viewer_url or not parcel_id:
        return None
    from urllib.parse import quote

    return county.parcel_viewer_url.format(parcel_id=quote(str(parcel_id), safe=""))


def memo_context(row: pd.Series | dict, county: CountyConfig, sender: Sender, *,
                 market: MarketData | None = None, assumptions: FinancialAssumptions | None = None,
                 scoring: ScoringConfig | None = None) -> dict[str, Any]:
    breakdown = _value(row, "score_breakdown") or {}
    components = _value(row, "score_components") or {}
    assumptions = assumptions or FinancialAssumptions()
    scoring = scoring or (market.scoring if market is not None else ScoringConfig())
    prop = {k: _value(row, k) for k in (
        "parcel_id", "address", "city", "zip", "latitude", "longitude", "use_type", "living_sqft", "lot_sqft",
        "beds", "baths", "bldg_grade", "year_built", "effective_year_built", "waterfront", "neighborhood",
        "list_price", "listing_url", "listing_status")}
    prop["photos"] = [p for p in (_value(row, "photos") or []) if isinstance(p, str)][:3]
    prop["parcel_viewer_url"] = parcel_viewer_url(county, prop["parcel_id"])
    valuation = {k: _value(row, k) for k in (
        "estimated_value", "estimated_value_low", "estimated_value_high", "comps_estimated_value", "comps_count",
        "comps_median_price_per_sqft",
        "comps_value_spread_pct", "last_sale_price", "last_sale_date", "last_sale_price_indexed",
        "value_gap_pct", "market_trend_12m_pct", "model_mdape_pct")}
    as_of = _value(row, "as_of_date")
    # One comps result for the whole memo: the comps listed are the comps counted and valued.
    comps, history = [], {"sales": [], "index": []}
    if market is not None and as_of:
        comps, summary = market.comps_result(prop, as_of)
        valuation.update(summary)
        history = market.history(prop["parcel_id"], as_of)
    listed = bool(prop["list_price"])
    suspect = breakdown.get("suspect_sale") or suspect_sale_reason(
        valuation["last_sale_price_indexed"], valuation["comps_estimated_value"], scoring.suspect_sale,
        {c: _value(row, c) for c in SALE_FLAG_COLUMNS})
    valuation["suspect_sale"] = suspect
    if suspect and not listed:  # the headline gap would be measured from a sale that says nothing
        valuation["value_gap_pct"] = None
    neighborhood = {label: _value(row, column) for column, label in NEIGHBORHOOD_FIELDS.items()}
    neighborhood["available"] = any(v is not None for v in neighborhood.values())
    rent, rent_source = _value(row, "rent_estimate_monthly"), "rent estimate on record for the property"
    if rent is None and _value(row, "tract_median_gross_rent") is not None:
        rent, rent_source = _value(row, "tract_median_gross_rent"), "ACS median gross rent of the census tract"
    if prop["list_price"]:
        price, basis = prop["list_price"], f"the asking price (${prop['list_price']:,.0f})"
    elif valuation["estimated_value"]:
        price, basis = valuation["estimated_value"], (
            f"the estimated value (${valuation['estimated_value']:,.0f}); an offer below it improves every figure")
    else:
        price, basis = None, "no price basis"
    tax = _value(row, "tax_amount")
    composition = score_composition(components, listed=listed, suspect=suspect,
                                    has_sale=valuation["last_sale_price"] is not None)
    context = {
        "county": {"key": county.key, "name": county.name, "state": county.state},
        "sender": sender_context(sender),
        "property": prop,
        "valuation": valuation,
        "neighborhood": neighborhood,
        "score": {
            "bird_dog_score": _value(row, "bird_dog_score"), "rank": _value(row, "score_rank"),
            "as_of_date": as_of, "model_version": _value(row, "model_version"),
            "reasons": memo_reasons(breakdown, valuation), "value_factors": breakdown.get("value_factors", []),
            "components": [{**c, "label": COMPONENT_LABELS.get(c["name"], c["name"]),
                            "short": COMPONENT_SHORT.get(c["name"], c["name"])} for c in composition],
            "stale_after_days": scoring.data_stale_after_days,
        },
        "financials": financials(
            price=price, price_basis=basis, rent_monthly=rent, rent_source=rent_source if rent is not None else None,
            tax_annual=tax, tax_source=(f"{_value(row, 'tax_year') or 'latest'} tax bill on record"
                                        if tax is not None else None),
            trend_pct=valuation["market_trend_12m_pct"], assumptions=assumptions),
        "comps": comps,
        "price_history": history,
        # The templates end the list with a period: an attribution's own is left to them.
        "sources": [(s.attribution or s.name).rstrip(". ") for s in county.sources if s.enabled
                    and s.name in (_value(row, "sources") or [])] or ["county records"],
    }
    context = json_safe(context)
    context["risks"] = risks(context)
    # The one-page summary states a suspect sale once, in its callout: not again as a reason or risk.
    context["score"]["key_reasons"] = [r for r in context["score"]["reasons"] if not r.startswith(SUSPECT_SALE)][:3]
    context["key_risks"] = [r for r in context["risks"] if not r.startswith(SUSPECT_SALE)][:3]
    return context


def portfolio_context(contexts: list[dict[str, Any]], county: CountyConfig, sender: Sender) -> dict[str, Any]:
    properties = []
    for c in contexts:
        v, p, s = c["valuation"], c["property"], c["score"]
        properties.append({
            "rank": s["rank"], "parcel_id": p["parcel_id"], "address": p["address"], "use_type": p["use_type"],
            "latitude": p["latitude"], "longitude": p["longitude"], "living_sqft": p["living_sqft"],
            "beds": p["beds"], "baths": p["baths"], "bird_dog_score": s["bird_dog_score"],
            "estimated_value": v["estimated_value"], "value_gap_pct": v["value_gap_pct"],
            "comps_count": v["comps_count"], "cap_rate_pct": c["financials"].get("cap_rate_pct"),
            "suspect_sale": bool(v.get("suspect_sale")), "top_reason": (s["reasons"] or ["—"])[0]})
    values = [p["estimated_value"] for p in properties if p["estimated_value"]]
    scores = [p["bird_dog_score"] for p in properties if p["bird_dog_score"] is not None]
    return json_safe({
        "county": {"key": county.key, "name": county.name, "state": county.state},
        "sender": sender_context(sender), "properties": properties,
        "as_of_date": contexts[0]["score"]["as_of_date"] if contexts else None,
        "stale_after_days": contexts[0]["score"].get("stale_after_days") if contexts else None,
        "suspect_sales": sum(p["suspect_sale"] for p in properties),
        "summary": {"count": len(properties), "total_estimated_value": sum(values) if values else None,
                    "median_score": float(np.median(scores)) if scores else None,
                    "median_value_gap_pct": float(np.median([p["value_gap_pct"] for p in properties
                                                             if p["value_gap_pct"] is not None]))
                    if any(p["value_gap_pct"] is not None for p in properties) else None},
    })
