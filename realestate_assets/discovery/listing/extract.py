"""Find listing candidates in a page: JSON-LD, `__NEXT_DATA__`-style embedded JSON, or selectors.

Pure functions over a parsel/Scrapy selector, so they are tested without a crawl. Each yields
`("candidate", fields, extracted_by)`, `("reject", raw, reason)` or `("covered", fields, reason)` (a
selector card that describes a listing the page's structured data already gave: counted, not
yielded twice); a candidate is a flat dict of raw values with ListingItem's field names (plus
`url`, `photos`, `site_id`) that `items.validate_candidate` then checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

from parsel import Selector
from w3lib.url import canonicalize_url

from realestate_assets.config_models import ListingSiteSource

Extracted = tuple[str, Any, str]

LISTING_TYPES = {"realestatelisting", "singlefamilyresidence", "house", "residence", "apartment",
                 "accommodation", "offer"}
RESIDENCE_TYPES = {"singlefamilyresidence", "house", "residence", "apartment", "accommodation"}
PROPERTY_TYPE_NAMES = {"singlefamilyresidence": "single_family", "house": "house",
                       "apartment": "apartment", "residence": "residence", "accommodation": "residence"}
SQM_TO_SQFT = 10.763910416709722
ACRE_TO_SQFT = 43_560.0
MAX_NODES = 20_000  # walking a hostile JSON document stops here

# Embedded-JSON key aliases (compared case-insensitively), most specific first.
ALIASES: dict[str, tuple[str, ...]] = {
    "address": ("streetaddress", "address", "street", "address1", "addressline1", "line1", "fulladdress",
                "formattedaddress", "displayaddress"),
    "city": ("city", "addresslocality", "locality"),
    "state": ("state", "statecode", "addressregion", "region"),
    "zip": ("zipcode", "zip", "postalcode", "postal_code", "zip_code"),
    "list_price": ("listprice", "list_price", "price", "askingprice", "unformattedprice", "listingprice"),
    "beds": ("beds", "bedrooms", "numberofbedrooms", "bedroomcount", "bd"),
    "baths": ("baths", "bathrooms", "bathroomstotal", "numberofbathroomstotal", "bathroomcount", "ba"),
    "living_sqft": ("livingarea", "livingareasqft", "living_sqft", "sqft", "squarefeet", "floorsize",
                    "area"),
    "lot_sqft": ("lotsqft", "lot_sqft", "lotsize", "lotareavalue", "lotsizesqft"),
    "year_built": ("yearbuilt", "year_built", "built"),
    "property_type": ("propertytype", "property_type", "hometype", "type"),
    "url": ("url", "detailurl", "href", "permalink", "canonicalurl", "link"),
    "description": ("description", "remarks", "publicremarks"),
    "photos": ("photos", "images", "imageurls", "photourls", "image", "photo"),
    "site_id": ("listingid", "listing_id", "mlsid", "zpid", "propertyid", "id"),
    "listing_status": ("listingstatus", "status", "homestatus", "listing_status"),
    "list_date": ("listdate", "list_date", "listedat", "dateposted", "listeddate", "onmarketdate"),
    "owner_name": ("ownername", "owner_name", "owner"),
    "owner_mailing_address": ("ownermailingaddress", "owner_mailing_address", "mailingaddress"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lng", "lon", "long"),
}
_ADDRESS_KEYS = set(ALIASES["address"])
_SIGNAL_KEYS = set(ALIASES["list_price"]) | set(ALIASES["beds"]) | set(ALIASES["living_sqft"])


# ----------------------------------------------------------------------------- JSON-LD


def _types(node: dict) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {re.split(r"[/:#]", str(v))[-1].lower() for v in values if v}


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return next((v for v in value if v not in (None, "", [], {})), None)
    return value


def _quantity(value: Any, default_unit: str = "sqft") -> float | str | None:
    """A QuantitativeValue ({value, unitCode}) or a plain value, in square feet."""
    value = _first(value)
    if isinstance(value, dict):
        amount = value.get("value")
        unit = str(value.get("unitCode") or value.get("unitText") or default_unit).upper()
        if amount in (None, ""):
            return None
        try:
            number = float(str(amount).replace(",", ""))
        except ValueError:
            return str(amount)
        if unit in ("MTK", "M2", "M²", "SQM", "SQUARE METERS"):
            return number * SQM_TO_SQFT
        if unit in ("ACR", "AC", "ACRE", "ACRES"):
            return number * ACRE_TO_SQFT
        return number
    return value


def _image_urls(value: Any) -> list[str]:
    out = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            url = v.get("url") or v.get("contentUrl") or v.get("src") or v.get("href")
            if isinstance(url, str):
                out.append(url)
    return out


def _jsonld_candidate(root: dict) -> dict[str, Any] | None:
    related: list[dict] = [root]
    for key in ("about", "mainEntity", "itemOffered", "offers", "containsPlace"):
        inner = _first(root.get(key))
        if isinstance(inner, dict):
            related.append(inner)
            offered = _first(inner.get("itemOffered"))
            if isinstance(offered, dict):
                related.append(offered)
            offers = _first(inner.get("offers"))
            if isinstance(offers, dict):
                related.append(offers)

    def pick(*keys: str) -> Any:
        for node in related:
            for key in keys:
                value = node.get(key)
                if value not in (None, "", [], {}):
                    return value
        return None

    residence_types = set().union(*(_types(n) for n in related)) & RESIDENCE_TYPES
    address = _first(pick("address"))
    if address is None and not residence_types:
        return None  # an Offer for something that is not a property
    candidate: dict[str, Any] = {}
    if isinstance(address, dict):
        candidate.update(address=address.get("streetAddress"), city=address.get("addressLocality"),
                         state=address.get("addressRegion"), zip=address.get("postalCode"))
    else:
        candidate["address"] = address
    price = pick("price")
    if price is None:
        spec = _first(pick("priceSpecification"))
        price = spec.get("price") if isinstance(spec, dict) else None
    baths = pick("numberOfBathroomsTotal")
    if baths is None:
        full, partial = pick("numberOfFullBathrooms"), pick("numberOfPartialBathrooms")
        try:
            baths = None if full is None else float(full) + 0.5 * float(partial or 0)
        except (TypeError, ValueError):
            baths = full
    geo = _first(pick("geo"))
    site_id = pick("identifier", "sku", "productID")
    if isinstance(site_id, dict):
        site_id = site_id.get("value")
    if site_id is None and isinstance(root.get("@id"), str):
        site_id = root["@id"]
    property_type = pick("additionalType", "propertyType")
    if property_type is None and residence_types:
        property_type = PROPERTY_TYPE_NAMES[sorted(residence_types)[0]]
    candidate.update(
        list_price=price,
        beds=pick("numberOfBedrooms", "numberOfBedroomsTotal"),
        baths=baths,
        living_sqft=_quantity(pick("floorSize")),
        lot_sqft=_quantity(pick("lotSize"), "sqft"),
        year_built=pick("yearBuilt"),
        property_type=property_type,
        url=pick("url"),
        description=pick("description"),
        photos=_image_urls(pick("image", "photo")),
        site_id=site_id,
        listing_status=pick("availability", "listingStatus"),
        list_date=pick("datePosted", "availabilityStarts", "validFrom"),
        latitude=geo.get("latitude") if isinstance(geo, dict) else None,
        longitude=geo.get("longitude") if isinstance(geo, dict) else None,
    )
    return candidate


def _walk_jsonld(node: Any, out: list[dict], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(node, list):
        for inner in node:
            _walk_jsonld(inner, out, budget)
    elif isinstance(node, dict):
        if _types(node) & LISTING_TYPES:
            candidate = _jsonld_candidate(node)
            if candidate is not None:
                out.append(candidate)
                return  # its nested House/Offer are part of this listing, not others
        for key, inner in node.items():
            if isinstance(inner, dict | list) and key != "@context":
                _walk_jsonld(inner, out, budget)


def jsonld_candidates(selector: Selector, page_url: str) -> Iterator[Extracted]:
    for i, text in enumerate(selector.xpath('//script[@type="application/ld+json"]/text()').getall()):
        found: list[dict] = []
        try:
            document = json.loads(text.strip().rstrip(";"), strict=False)
        except ValueError as exc:
            yield ("reject", text[:10_000], f"JSON-LD block {i} is not valid JSON: {exc}")
            continue
        except RecursionError:
            yield ("reject", text[:10_000], f"JSON-LD block {i} is nested too deeply to read")
            continue
        try:
            _walk_jsonld(document, found, [MAX_NODES])
        except RecursionError:
            yield ("reject", text[:10_000], f"JSON-LD block {i} is nested too deeply to read")
        for candidate in found:
            yield ("candidate", candidate, "json-ld")


# ----------------------------------------------------------------------------- embedded JSON


def _lookup(node: dict, field: str) -> Any:
    lowered = {str(k).lower(): v for k, v in node.items()}
    for alias in ALIASES[field]:
        value = lowered.get(alias)
        if value not in (None, "", [], {}):
            return value
    return None


def _embedded_candidate(node: dict) -> dict[str, Any]:
    candidate: dict[str, Any] = {field: _lookup(node, field) for field in ALIASES}
    address = candidate["address"]
    if isinstance(address, dict):  # {"streetAddress": ..., "city": ..., ...}
        candidate["address"] = _lookup(address, "address") if _lookup(address, "address") is not None \
            else None
        for field in ("city", "state", "zip"):
            candidate[field] = candidate[field] or _lookup(address, field)
        for field in ("latitude", "longitude"):
            candidate[field] = candidate[field] or _lookup(address, field)
    for field in ("latitude", "longitude"):
        if candidate[field] is None:
            for holder in ("geo", "location", "coordinates", "latlong"):
                inner = {str(k).lower(): v for k, v in node.items()}.get(holder)
                if isinstance(inner, dict) and _lookup(inner, field) is not None:
                    candidate[field] = _lookup(inner, field)
                    break
    for field in ("living_sqft", "lot_sqft"):
        candidate[field] = _quantity(candidate[field])
    candidate["photos"] = _image_urls(candidate["photos"]) if candidate["photos"] else []
    if isinstance(candidate["property_type"], dict | list):
        candidate["property_type"] = None
    return candidate


def _walk_embedded(node: Any, out: list[dict], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(node, list):
        for inner in node:
            _walk_embedded(inner, out, budget)
    elif isinstance(node, dict):
        keys = {str(k).lower() for k in node}
        if keys & _ADDRESS_KEYS and keys & _SIGNAL_KEYS:
            out.append(_embedded_candidate(node))
            return
        for inner in node.values():
            if isinstance(inner, dict | list):
                _walk_embedded(inner, out, budget)


def embedded_json_candidates(selector: Selector) -> Iterator[Extracted]:
    scripts = selector.xpath('//script[@id="__NEXT_DATA__" or @id="__NUXT_DATA__" '
                             'or @type="application/json"][@id]/text()').getall()
    for i, text in enumerate(scripts):
        found: list[dict] = []
        try:
            document = json.loads(text, strict=False)
            _walk_embedded(document, found, [MAX_NODES])
        except ValueError as exc:
            yield ("reject", text[:10_000], f"embedded JSON block {i} is not valid JSON: {exc}")
            continue
        except RecursionError:
            yield ("reject", text[:10_000], f"embedded JSON block {i} is nested too deeply to read")
            continue
        for candidate in found:
            yield ("candidate", candidate, "embedded-json")


# ----------------------------------------------------------------------------- selectors


def select(node: Selector, expression: str):
    """CSS by default; XPath when the expression starts with `/`, `./`, `(` or `xpath:`."""
    if expression.startswith("xpath:"):
        return node.xpath(expression[6:])
    if expression.startswith(("/", "./", "(")):
        return node.xpath(expression)
    return node.css(expression)


def _values(matches, field: str) -> list[str]:
    out = []
    for match in matches:
        if isinstance(match.root, str):  # ::text, ::attr(...), /text(), /@attr
            out.append(match.get())
        elif field in ("url",):
            out.append(match.attrib.get("href") or match.xpath("string()").get())
        elif field == "photos":
            out.append(match.attrib.get("src") or match.attrib.get("data-src") or match.attrib.get("href")
                       or "")
        else:
            # The element's text without its <script>/<style> children.
            parts = match.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]").getall()
            out.append(" ".join(parts))
    return [v for v in out if v is not None]


def selector_candidates(selector: Selector, source: ListingSiteSource, *,
                        whole_page: bool = False) -> Iterator[Extracted]:
    """One candidate per `item_selector` card, or one for the whole page (a detail page)."""
    if not source.selectors:
        return
    cards = source.item_selector and not whole_page
    nodes = select(selector, source.item_selector) if cards else [selector]
    for node in nodes:
        candidate: dict[str, Any] = {}
        for field, expression in source.selectors.items():
            values = _values(select(node, expression), field)
            if field == "photos":
                candidate[field] = values
            else:
                candidate[field] = " ".join(v.strip() for v in values if v.strip()) or None
        if "source_id" in candidate:
            candidate["site_id"] = candidate.pop("source_id")
        yield ("candidate", candidate, "selectors")


def _identities(candidate: dict[str, Any], page_url: str) -> set[str]:
    """What makes two candidates of one page the same listing: its own URL, its street address."""
    out = set()
    url = candidate.get("url")
    if isinstance(url, str) and url.strip():
        absolute = canonicalize_url(urljoin(page_url, url.strip()))
        if absolute != canonicalize_url(page_url):
            out.add("url:" + absolute)
    address = candidate.get("address")
    if isinstance(address, str) and address.strip():
        out.add("address:" + " ".join(address.split(",")[0].upper().split()))
    return out


def extract(selector: Selector, source: ListingSiteSource, page_url: str, *,
            whole_page: bool = False) -> Iterator[Extracted]:
    """Structured data (when enabled) and the selectors' cards, both.

    A page may describe some listings in JSON-LD and show others only as cards: every card the
    structured data does not already describe (same listing URL or street address) is a
    candidate too; a card it does describe is reported as "covered", so nothing vanishes unseen.
    `whole_page` (a property's detail page) reads the selectors over the whole page, as the
    listing's fallback when the page has no structured data.
    """
    known: set[str] = set()
    if source.structured_data:
        for kind, payload, how in [*jsonld_candidates(selector, page_url),
                                   *embedded_json_candidates(selector)]:
            if kind == "candidate":
                known |= _identities(payload, page_url)
            yield kind, payload, how
    for kind, payload, how in selector_candidates(selector, source, whole_page=whole_page):
        # A detail page is one property: with structured data, its selectors read the same one.
        if known and (whole_page or _identities(payload, page_url) & known):
            yield "covered", payload, "described by the page's structured data"
        else:
            yield kind, payload, how


def detail_links(selector: Selector, source: ListingSiteSource) -> list[str]:
    """The detail-page links `detail_link_selector` matches, in page order, each once."""
    if not source.detail_link_selector:
        return []
    links: list[str] = []
    for match in select(selector, source.detail_link_selector):
        value = match.get() if isinstance(match.root, str) else match.attrib.get("href")
        value = (value or "").strip()
        if value and not value.lower().startswith(("javascript:", "#", "mailto:", "tel:")) and value not in links:
            links.append(value)
    return links


def next_page_url(selector: Selector, source: ListingSiteSource) -> str | None:
    if not source.next_page_selector:
        return None
    for match in select(selector, source.next_page_selector):
        value = match.get() if isinstance(match.root, str) else match.attrib.get("href")
        if value and value.strip() and not value.strip().lower().startswith(("javascript:", "#")):
            return value.strip()
    return None
