"""ATTOM Property API client and parser.

Endpoints (all GET, header `apikey`, base `https://api.gateway.attomdata.com`):
`/propertyapi/v1.0.0/property/detail`, `/attomavm/detail`, `/saleshistory/detail`,
`/assessment/detail`. A property is addressed by `address1` (street) + `address2`
("City, ST ZIP"), or by `attomid`, or by `apn` + `fips`.

Envelope: `{"status": {"version", "code", "msg", "total", ...}, "property": [...]}`.
"No match" is `msg == "SuccessWithoutResult"`; ATTOM has answered it with `code` 1 and with
HTTP 400 / `code` 400 in the wild, so the message — not the code — decides, and an HTTP 400
carrying it is an answer (not retried, not a failure, not billed). 429 is the quota.

ATTOM's JSON keys vary in case between endpoints and API versions (`assdTtlValue` vs
`assdttlvalue`), so the parser lower-cases keys first and reads lower-case paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from realestate_assets.enrich.clients.base import ApiResponse, MalformedResponseError, SourceClient, SourceError

PREFIX = "/propertyapi/v1.0.0"
ENDPOINTS = {
    "property_detail": f"{PREFIX}/property/detail",
    "avm_detail": f"{PREFIX}/attomavm/detail",
    "saleshistory_detail": f"{PREFIX}/saleshistory/detail",
    "assessment_detail": f"{PREFIX}/assessment/detail",
}
NO_MATCH_MSG = "successwithoutresult"


@dataclass(frozen=True)
class AttomQuery:
    """How to find one property: street+city line, ATTOM id, or APN + county FIPS."""

    address1: str | None = None
    address2: str | None = None
    attom_id: str | int | None = None
    apn: str | None = None
    fips: str | None = None

    def params(self) -> dict[str, Any]:
        if self.attom_id:
            return {"attomid": str(self.attom_id)}
        if self.apn and self.fips:
            return {"apn": self.apn, "fips": self.fips}
        if self.address1 and self.address2:
            return {"address1": self.address1, "address2": self.address2}
        raise ValueError("an ATTOM query needs attom_id, apn+fips, or address1+address2")


@dataclass
class AttomProperty:
    """What ATTOM told us about one property. Only fields the answer had are set."""

    attom_id: str | None = None
    apn: str | None = None
    fips: str | None = None
    owner_names: list[str] | None = None
    owner_mailing_address: str | None = None
    owner_corporate_indicator: bool | None = None
    owner_absentee_status: str | None = None  # ATTOM's own "A"/"O" code, kept for comparison
    assessed_value: float | None = None
    market_value: float | None = None  # the assessor's market value, not the AVM
    tax_amount: float | None = None
    tax_year: int | None = None
    last_sale_price: float | None = None
    last_sale_date: date | None = None
    year_built: int | None = None
    living_sqft: float | None = None
    lot_sqft: float | None = None
    beds: float | None = None
    baths: float | None = None
    avm_value: float | None = None
    avm_high: float | None = None
    avm_low: float | None = None
    avm_confidence_score: float | None = None
    avm_fsd: float | None = None
    avm_date: date | None = None
    endpoints: list[str] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """Set fields only, as canonical enrichment field names (for provenance.merge)."""
        return {k: v for k, v in asdict(self).items() if v is not None and k != "endpoints"}

    def update(self, other: AttomProperty) -> None:
        """Fill fields still None from `other` (several endpoints describe one property)."""
        for k, v in asdict(other).items():
            if k == "endpoints":
                self.endpoints.extend(other.endpoints)
            elif getattr(self, k) is None and v is not None:
                setattr(self, k, v)


@dataclass(frozen=True)
class AttomResult:
    """`property` is None when ATTOM had no match (SuccessWithoutResult)."""

    property: AttomProperty | None
    cache_hits: int = 0
    calls: int = 0
    fetched_at: datetime | None = None  # the oldest answer's time

    @property
    def matched(self) -> bool:
        return self.property is not None


# --------------------------------------------------------------------------- parsing


def _lower_keys(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower_keys(v) for v in obj]
    return obj


def _get(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(p)
    return obj


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None and v != "":
            return v
    return None


def _num(v: Any, *, zero_is_missing: bool = True) -> float | None:
    """ATTOM uses 0 for 'unknown' in value and size fields, so 0 becomes None there."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(str(v).replace(",", "").replace("$", "").strip())
    except ValueError:
        return None
    if zero_is_missing and x == 0:
        return None
    return x


def _int(v: Any) -> int | None:
    x = _num(v)
    return int(x) if x is not None else None


def _date(v: Any) -> date | None:
    """ATTOM dates: "2015-06-10", "2015-06-10T00:00:00", "2015/06/10" or "06/10/2015"."""
    if not v or not isinstance(v, str):
        return None
    s = v.strip()
    try:
        return date.fromisoformat(s[:10])
    except ValueError:
        pass
    for fmt in ("%Y/%m/%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(s[:10], fmt).date()
        except ValueError:
            continue
    return None


def _owner_name(o: Any) -> str | None:
    if not isinstance(o, Mapping):
        return None
    full = _first(o.get("fullname"))
    if full:
        return " ".join(str(full).split())
    parts = [o.get("firstnameandmi"), o.get("lastname")]
    name = " ".join(str(p).strip() for p in parts if p)
    return name or None


def _yn(v: Any) -> bool | None:
    if isinstance(v, str) and v.strip().upper() in {"Y", "N"}:
        return v.strip().upper() == "Y"
    return None


def is_no_match(body: Any) -> bool:
    status = _get(_lower_keys(body), "status") if isinstance(body, Mapping) else None
    return isinstance(status, Mapping) and str(status.get("msg", "")).strip().lower() == NO_MATCH_MSG


def parse_property(record: Mapping[str, Any], endpoint: str = "") -> AttomProperty:
    """One element of ATTOM's `property` array -> AttomProperty (any of the four endpoints)."""
    r = _lower_keys(record)
    ident = r.get("identifier") or {}
    assessment = r.get("assessment") or {}
    # The owner block sits at the top level (property/detailowner, expanded profile) or under
    # assessment (assessment/detail).
    owner = r.get("owner") or assessment.get("owner") or {}
    owners = [_owner_name(owner.get(f"owner{i}")) for i in range(1, 5)]
    owners = [o for o in owners if o]

    # Last sale: the `sale` block, or the newest entry of `salehistory`.
    sale = r.get("sale") or {}
    history = r.get("salehistory") or []
    if isinstance(history, list) and history:
        def _sale_key(s: Mapping[str, Any]) -> date:
            d = _date(_first(s.get("saletransdate"), _get(s, "amount", "salerecdate"), s.get("salesearchdate")))
            return d or date.min
        valid = [s for s in history if isinstance(s, Mapping) and _num(_get(s, "amount", "saleamt"))]
        if valid and not _num(_get(sale, "amount", "saleamt")):
            sale = max(valid, key=_sale_key)
    sale_amount = sale.get("amount") or {}
    avm = r.get("avm") or {}
    avm_amount = avm.get("amount") or {}
    building = r.get("building") or {}
    size = building.get("size") or {}
    rooms = building.get("rooms") or {}
    lot = r.get("lot") or {}
    summary = r.get("summary") or {}

    lot_sqft = _num(lot.get("lotsize2"))
    if lot_sqft is None and _num(lot.get("lotsize1")) is not None:
        lot_sqft = round(_num(lot.get("lotsize1")) * 43_560.0, 1)  # lotsize1 is acres

    return AttomProperty(
        attom_id=str(_first(ident.get("attomid"), ident.get("id"))) if _first(ident.get("attomid"),
                                                                               ident.get("id")) else None,
        apn=_first(ident.get("apn")),
        fips=_first(ident.get("fips")),
        owner_names=owners or None,
        owner_mailing_address=_first(owner.get("mailingaddressoneline")),
        owner_corporate_indicator=_yn(owner.get("corporateindicator")),
        owner_absentee_status=_first(owner.get("absenteeownerstatus"), summary.get("absenteeind")),
        assessed_value=_num(_get(assessment, "assessed", "assdttlvalue")),
        market_value=_num(_get(assessment, "market", "mktttlvalue")),
        tax_amount=_num(_get(assessment, "tax", "taxamt")),
        tax_year=_int(_get(assessment, "tax", "taxyear")),
        last_sale_price=_num(_first(sale_amount.get("saleamt"), sale.get("saleamt"))),
        last_sale_date=_date(_first(sale.get("saletransdate"), sale_amount.get("saletransdate"),
                                    sale_amount.get("salerecdate"), sale.get("salesearchdate"))),
        year_built=_int(_first(summary.get("yearbuilt"), _get(building, "summary", "yearbuilt"))),
        living_sqft=_num(_first(size.get("livingsize"), size.get("universalsize"), size.get("bldgsize"))),
        lot_sqft=lot_sqft,
        beds=_num(rooms.get("beds")),
        baths=_num(_first(rooms.get("bathstotal"), rooms.get("bathsfull"))),
        avm_value=_num(avm_amount.get("value")),
        avm_high=_num(avm_amount.get("high")),
        avm_low=_num(avm_amount.get("low")),
        avm_confidence_score=_num(avm_amount.get("scr"), zero_is_missing=False),
        avm_fsd=_num(avm_amount.get("fsd"), zero_is_missing=False),
        avm_date=_date(avm.get("eventdate")),
        endpoints=[endpoint] if endpoint else [],
    )


def parse_envelope(body: Any, endpoint: str = "") -> AttomProperty | None:
    """The whole answer -> the first property, or None for SuccessWithoutResult / empty list."""
    if not isinstance(body, Mapping) or "status" not in {str(k).lower() for k in body}:
        raise MalformedResponseError("attom", f"{endpoint}: no status envelope")
    if is_no_match(body):
        return None
    lowered = _lower_keys(body)
    code = _get(lowered, "status", "code")
    props = lowered.get("property")
    if code not in (0, "0", None) and not props:
        raise MalformedResponseError("attom", f"{endpoint}: status {code} {_get(lowered, 'status', 'msg')!r}")
    if not props:
        return None
    if not isinstance(props, list) or not isinstance(props[0], Mapping):
        raise MalformedResponseError("attom", f"{endpoint}: `property` is not a list of objects")
    return parse_property(props[0], endpoint)


# --------------------------------------------------------------------------- client


class AttomClient(SourceClient):
    """`lookup(query)` calls the configured endpoints and merges them into one AttomProperty."""

    def __init__(self, settings, *, endpoints: list[str] | None = None, **kw: Any) -> None:  # type: ignore[no-untyped-def]
        kw.setdefault("api_key_header", "apikey")
        kw.setdefault("answer_statuses", frozenset({400}))  # 400 + SuccessWithoutResult is an answer
        kw.setdefault("is_answer", lambda body: b"successwithoutresult" in body.lower())
        super().__init__(settings, **kw)
        self.endpoints = list(endpoints or ENDPOINTS)
        unknown = set(self.endpoints) - set(ENDPOINTS)
        if unknown:
            raise ValueError(f"unknown ATTOM endpoints {sorted(unknown)}; known: {sorted(ENDPOINTS)}")

    def fetch(self, endpoint_name: str, query: AttomQuery) -> tuple[AttomProperty | None, ApiResponse]:
        path = ENDPOINTS[endpoint_name]
        parsed: list[AttomProperty | None] = []

        def validate(resp: ApiResponse) -> None:
            if resp.status_code == 400 and not is_no_match(resp.body):
                # a real bad request (e.g. unparseable address): an error, but not retried
                raise SourceError(self.name, f"HTTP 400 from {endpoint_name}: "
                                  f"{_get(_lower_keys(resp.body), 'status', 'msg')!r}", status_code=400)
            parsed.append(parse_envelope(resp.body, endpoint_name))

        resp = self.get_json(path, query.params(), validate=validate)
        return parsed[0], resp

    def lookup(self, query: AttomQuery) -> AttomResult:
        merged: AttomProperty | None = None
        hits = calls = 0
        fetched: datetime | None = None
        for name in self.endpoints:
            prop, resp = self.fetch(name, query)
            calls += 1
            hits += int(resp.cache_hit)
            fetched = resp.fetched_at if fetched is None else min(fetched, resp.fetched_at)
            if prop is None:
                if name == self.endpoints[0] and merged is None:
                    # The first endpoint found nothing: the address is unknown to ATTOM. Skip the
                    # rest rather than paying for three more no-matches.
                    return AttomResult(None, hits, calls, fetched)
                continue
            if merged is None:
                merged = prop
            else:
                merged.update(prop)
        return AttomResult(merged, hits, calls, fetched)
