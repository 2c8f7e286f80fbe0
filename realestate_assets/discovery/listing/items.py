"""The crawl's items (Scrapy's `items.py`): what the spider found, what passed, what was rejected.

* `Candidate` — raw fields the spider extracted from a page, not yet trusted.
* `ListingItem` — a validated listing; `validate_candidate` makes one or says why not.
* `ListingRecord` — a `ListingItem` as plain JSON values: one line of the items feed.
* `RejectedItem` — a candidate, page or download that failed, with the reason (the rejects feed).

Text from a web page is hostile until proven otherwise: tags (and the content of <script> and
<style>) are removed, entities decoded, control characters dropped, whitespace collapsed and
length capped at the field's limit in `validate.TEXT_LIMITS` (free text is cut, ending in "…";
an id longer than its limit rejects the item, as cutting it could merge two listings).
Numbers arrive as "$1,250,000", "2,100 sq ft" or "1.2M"; a value that is not a number or is
outside a plausible range rejects the item with the reason (nothing is repaired).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from w3lib.html import remove_tags, remove_tags_with_content, replace_entities
from w3lib.url import canonicalize_url

from realestate_assets.discovery.addresses import STATE_CODES, STATES, normalize_address
from realestate_assets.discovery.validate import TEXT_LIMITS

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ufffd]")
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")

RANGES: dict[str, tuple[float, float]] = {
    "list_price": (1_000, 500_000_000),
    "beds": (0, 50),
    "baths": (0, 50),
    "living_sqft": (100, 100_000),
    "lot_sqft": (1, 50_000_000),
    "year_built": (1600, date.today().year + 3),
    "latitude": (-90, 90),
    "longitude": (-180, 180),
}
STATUS_WORDS = {
    "instock": "active", "forsale": "active", "active": "active", "for_sale": "active",
    "outofstock": "off_market", "discontinued": "off_market", "soldout": "sold", "sold": "sold",
    "preorder": "coming_soon", "presale": "coming_soon", "comingsoon": "coming_soon",
    "pending": "pending", "undercontract": "pending", "contingent": "pending",
    "limitedavailability": "active", "onlineonly": "active",
}


def clean_text(value: Any, limit: int | None = 300) -> str | None:
    """Plain text from anything a page may put in a field, at most `limit` characters (cut text
    ends in "…"; None: no cut); None if nothing is left."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value if v is not None)
    text = str(value)
    if "<" in text:
        text = remove_tags(remove_tags_with_content(text, which_ones=("script", "style", "noscript",
                                                                      "iframe", "object", "template")))
    text = replace_entities(text)
    if "<" in text:  # entities that decoded into markup (&lt;script&gt;): strip once more
        text = remove_tags(remove_tags_with_content(text, which_ones=("script", "style")))
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return text or None


def parse_number(value: Any) -> float | None:
    """A number from 1250000, "$1,250,000", "2,100 sq ft", "1.2M", "950K"; None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = clean_text(value, limit=100)
        if text is None:
            return None
        match = _NUMBER.search(text)
        if not match:
            raise ValueError(f"not a number: {text[:40]!r}")
        number = float(match.group(0).replace(",", ""))
        tail = text[match.end():].strip()[:1].upper()
        if tail == "K":
            number *= 1_000
        elif tail == "M" and not text[match.end():].strip().upper().startswith(("M2", "M²", "MO")):
            number *= 1_000_000
    if math.isnan(number) or math.isinf(number):
        raise ValueError("not a finite number")
    return number


def _in_range(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    low, high = RANGES[name]
    if not low <= value <= high:
        raise ValueError(f"{value:g} outside {low:g}..{high:g}")
    return value


def _http_url(value: Any, base: str | None) -> str | None:
    text = clean_text(value, limit=TEXT_LIMITS["listing_url"])
    if not text:
        return None
    url = urljoin(base or "", text)
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


class ListingItem(BaseModel):
    """One listing as the site states it. Field names follow the canonical ones where they exist."""

    model_config = ConfigDict(extra="forbid")

    source_id: str = Field(min_length=1, max_length=TEXT_LIMITS["source_id"])
    listing_url: str
    page_url: str
    address: str = Field(min_length=3)
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    list_price: float | None = None
    beds: float | None = None
    baths: float | None = None
    living_sqft: float | None = None
    lot_sqft: float | None = None
    year_built: int | None = None
    property_type: str | None = None
    description: str | None = None
    photos: list[str] = Field(default_factory=list)
    owner_name: str | None = None
    owner_mailing_address: str | None = None
    listing_status: str | None = None
    list_date: date | None = None
    latitude: float | None = None
    longitude: float | None = None
    extracted_by: str

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> str:
        text = clean_text(value, limit=TEXT_LIMITS["address"])
        if text is None:
            raise ValueError("missing")
        return text

    @field_validator("city", "property_type", "owner_name", "owner_mailing_address",
                     mode="before")
    @classmethod
    def _short_text(cls, value: Any, info) -> str | None:
        return clean_text(value, limit=TEXT_LIMITS[info.field_name])

    @field_validator("description", mode="before")
    @classmethod
    def _long_text(cls, value: Any) -> str | None:
        return clean_text(value, limit=TEXT_LIMITS["description"])

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> str | None:
        text = clean_text(value, limit=TEXT_LIMITS["state"])
        if text is None:
            return None
        upper = text.upper().replace(".", "")
        if upper in STATE_CODES:
            return upper
        if upper in STATES:
            return STATES[upper]
        raise ValueError(f"not a US state: {text!r}")

    @field_validator("zip", mode="before")
    @classmethod
    def _zip(cls, value: Any) -> str | None:
        if isinstance(value, int):
            value = f"{value:05d}"
        text = clean_text(value, limit=TEXT_LIMITS["zip"])
        if text is None:
            return None
        match = _ZIP.match(text.replace(" ", ""))
        if not match:
            raise ValueError(f"not a ZIP code: {text!r}")
        return match.group(1)

    @field_validator("list_price", "beds", "baths", "living_sqft", "lot_sqft", "latitude", "longitude",
                     mode="before")
    @classmethod
    def _number(cls, value: Any, info) -> float | None:
        return _in_range(info.field_name, parse_number(value))

    @field_validator("year_built", mode="before")
    @classmethod
    def _year(cls, value: Any) -> int | None:
        number = _in_range("year_built", parse_number(value))
        return None if number is None else int(number)

    @field_validator("listing_status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str | None:
        text = clean_text(value, limit=TEXT_LIMITS["listing_status"])
        if text is None:
            return None
        word = text.rstrip("/").rsplit("/", 1)[-1]  # https://schema.org/InStock -> InStock
        squashed = re.sub(r"[^a-z_]", "", word.lower().replace(" ", "").replace("-", ""))
        return STATUS_WORDS.get(squashed.replace("_", ""), STATUS_WORDS.get(squashed, word.lower()))

    @field_validator("list_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date | None:
        text = clean_text(value, limit=40)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            try:
                parsed = datetime.strptime(text, "%m/%d/%Y").date()
            except ValueError as exc:
                raise ValueError(f"not a date: {text!r}") from exc
        if parsed > date.today():
            raise ValueError(f"{parsed} is in the future")
        return parsed


@dataclass
class Candidate:
    """Fields one extractor read from one page; `ValidateListingPipeline` turns it into an item or a reject."""

    raw: dict[str, Any]
    page_url: str
    extracted_by: str


class ListingRecord(dict):
    """A validated listing's JSON values (`ListingItem.model_dump(mode="json")`), as the items feed
    writes it. A dict, not the pydantic model: the feed exporter reads a dict's fields cheaply."""


@dataclass
class RejectedItem:
    """A candidate, page or download that gave no listing, and why. One line of the rejects feed."""

    source: str
    ref: str
    raw: Any
    reason: str


def stable_source_id(site_id: Any, listing_url: str | None, page_url: str, address: str | None) -> str | None:
    """The site's own id when it gives one, else a hash of the canonical listing URL, else (items
    that have no page of their own) a hash of the page URL and the address."""
    text = clean_text(site_id, limit=None)  # never cut an id: too long rejects the item
    if text:
        return text
    if listing_url and canonicalize_url(listing_url) != canonicalize_url(page_url):
        return "u" + hashlib.sha1(canonicalize_url(listing_url).encode()).hexdigest()[:24]
    if address:
        key = canonicalize_url(page_url) + "|" + _SPACES.sub(" ", address.upper()).strip()
        return "a" + hashlib.sha1(key.encode()).hexdigest()[:24]
    return None


def validate_candidate(candidate: dict[str, Any], page_url: str, extracted_by: str
                       ) -> tuple[ListingItem | None, str | None]:
    """(item, None) or (None, reason) for one extracted candidate."""
    try:
        listing_url = _http_url(candidate.get("url"), page_url) or page_url
        photos_raw = candidate.get("photos") or []
        if not isinstance(photos_raw, list):
            photos_raw = [photos_raw]
        photos = []
        for photo in photos_raw[:50]:
            url = _http_url(photo, page_url)
            if url and url not in photos:
                photos.append(url)
        address = clean_text(candidate.get("address"))
        data = {k: candidate.get(k) for k in (
            "city", "state", "zip", "list_price", "beds", "baths", "living_sqft", "lot_sqft", "year_built",
            "property_type", "description", "owner_name", "owner_mailing_address", "listing_status",
            "list_date", "latitude", "longitude")}
        if address and not (data["city"] or data["state"] or data["zip"]) and "," in address:
            # "77 Cedar Ave Unit 5, Seattle, WA 98109": the site gave one line; read its parts.
            parts = normalize_address(address)
            data.update(city=parts.city, state=parts.state, zip=parts.zip)
        source_id = stable_source_id(candidate.get("site_id"), listing_url, page_url, address)
        item = ListingItem(source_id=source_id or "", listing_url=listing_url, page_url=page_url,
                           address=address or "", photos=photos, extracted_by=extracted_by, **data)
        return item, None
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "item"
            message = error["msg"].removeprefix("Value error, ")
            if where in ("address", "source_id") and error["type"] == "string_too_short":
                message = "missing"
            elif error["type"] == "string_too_long":
                message = f"longer than {error['ctx']['max_length']} characters"
            reasons.append(f"{where}: {message}")
        return None, "; ".join(reasons)
    except Exception as exc:  # a candidate of a shape nobody expected: a reject, not a crash
        return None, f"could not validate: {type(exc).__name__}: {exc}"
