"""US address normalization for matching: usaddress first, a token fallback when it cannot parse.

The normal form is upper case, USPS suffix and directional abbreviations (Publication 28), the
unit split from the street ("123 N MAIN ST" + unit "4B"), a 5-digit ZIP and a 2-letter state.
It is a matching key, not a mailing label: punctuation is dropped and nothing is looked up.
Never raises on any input; `parsed` says whether usaddress understood the text.

A PO Box ("P.O. Box 12, Austin, TX 78701") is no street: it comes back with street None (so no
matching key) and po_box "PO BOX 12", with its city, state and ZIP. This module is the one address
normalizer of the project; owner signals (enrich/owner_signals.py) use it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import usaddress

from realestate_assets.discovery.arrow_text import is_arrow_text

# USPS Publication 28 (C1) street suffixes: the common ones, plus identity for the abbreviations.
STREET_SUFFIXES: dict[str, str] = {
    "ALLEY": "ALY", "ANNEX": "ANX", "ARCADE": "ARC", "AVENUE": "AVE", "AV": "AVE", "AVEN": "AVE",
    "AVENU": "AVE", "AVN": "AVE", "AVNUE": "AVE", "BAYOU": "BYU", "BEACH": "BCH", "BEND": "BND",
    "BLUFF": "BLF", "BOULEVARD": "BLVD", "BOUL": "BLVD", "BOULV": "BLVD", "BRANCH": "BR",
    "BRIDGE": "BRG", "BROOK": "BRK", "BYPASS": "BYP", "CAMP": "CP", "CANYON": "CYN", "CAPE": "CPE",
    "CAUSEWAY": "CSWY", "CENTER": "CTR", "CENTRE": "CTR", "CIRCLE": "CIR", "CIRC": "CIR",
    "CLIFF": "CLF", "CLUB": "CLB", "COMMON": "CMN", "CORNER": "COR", "COURSE": "CRSE",
    "COURT": "CT", "COVE": "CV", "CREEK": "CRK", "CRESCENT": "CRES", "CROSSING": "XING",
    "DALE": "DL", "DAM": "DM", "DIVIDE": "DV", "DRIVE": "DR", "DRIV": "DR", "DRV": "DR",
    "ESTATE": "EST", "ESTATES": "ESTS", "EXPRESSWAY": "EXPY", "EXTENSION": "EXT", "FALLS": "FLS",
    "FERRY": "FRY", "FIELD": "FLD", "FIELDS": "FLDS", "FLAT": "FLT", "FOREST": "FRST",
    "FORK": "FRK", "FORT": "FT", "FREEWAY": "FWY", "GARDEN": "GDN", "GARDENS": "GDNS",
    "GATEWAY": "GTWY", "GLEN": "GLN", "GREEN": "GRN", "GROVE": "GRV", "HARBOR": "HBR",
    "HAVEN": "HVN", "HEIGHTS": "HTS", "HIGHWAY": "HWY", "HILL": "HL", "HILLS": "HLS",
    "HOLLOW": "HOLW", "ISLAND": "IS", "JUNCTION": "JCT", "KEY": "KY", "KNOLL": "KNL",
    "LAKE": "LK", "LAKES": "LKS", "LANDING": "LNDG", "LANE": "LN", "LOOP": "LOOP", "MANOR": "MNR",
    "MEADOW": "MDW", "MEADOWS": "MDWS", "MILL": "ML", "MISSION": "MSN", "MOUNT": "MT",
    "MOUNTAIN": "MTN", "ORCHARD": "ORCH", "OVAL": "OVAL", "PARKWAY": "PKWY", "PARKWY": "PKWY",
    "PKY": "PKWY", "PASSAGE": "PSGE", "PIKE": "PIKE", "PINE": "PNE", "PINES": "PNES",
    "PLACE": "PL", "PLAIN": "PLN", "PLAINS": "PLNS", "PLAZA": "PLZ", "POINT": "PT",
    "POINTE": "PT", "PORT": "PRT", "PRAIRIE": "PR", "RANCH": "RNCH", "RIDGE": "RDG",
    "RIVER": "RIV", "ROAD": "RD", "ROUTE": "RTE", "ROW": "ROW", "RUN": "RUN", "SHORE": "SHR",
    "SHORES": "SHRS", "SPRING": "SPG", "SPRINGS": "SPGS", "SQUARE": "SQ", "STATION": "STA",
    "STREET": "ST", "STR": "ST", "STRT": "ST", "SUMMIT": "SMT", "TERRACE": "TER", "TERR": "TER",
    "TRACE": "TRCE", "TRAIL": "TRL", "TRAILS": "TRL", "TURNPIKE": "TPKE", "UNION": "UN",
    "VALLEY": "VLY", "VIEW": "VW", "VILLAGE": "VLG", "VISTA": "VIS", "WALK": "WALK", "WAY": "WAY",
    "WELLS": "WLS",
}
STREET_SUFFIXES.update({v: v for v in set(STREET_SUFFIXES.values())})

DIRECTIONALS: dict[str, str] = {
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
    "SOUTHEAST": "SE", "SOUTHWEST": "SW", "N": "N", "S": "S", "E": "E", "W": "W", "NE": "NE",
    "NW": "NW", "SE": "SE", "SW": "SW", "N.": "N", "S.": "S", "E.": "E", "W.": "W",
}

UNIT_DESIGNATORS = {
    "APARTMENT": "APT", "APT": "APT", "UNIT": "UNIT", "SUITE": "STE", "STE": "STE", "#": "#",
    "NUMBER": "#", "NO": "#", "FLOOR": "FL", "FL": "FL", "BUILDING": "BLDG", "BLDG": "BLDG",
    "ROOM": "RM", "RM": "RM", "SPACE": "SPC", "SPC": "SPC", "LOT": "LOT", "TRAILER": "TRLR",
    "PH": "PH", "PENTHOUSE": "PH", "DEPT": "DEPT",
}

STATES: dict[str, str] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN",
    "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR",
    "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA",
    "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR",
}
STATE_CODES = set(STATES.values())

_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^A-Z0-9#/\- ]")
_ZIP = re.compile(r"\b(\d{5})(?:-?\d{4})?\b")
_UNIT_FALLBACK = re.compile(
    r"\s(?:(APARTMENT|APT|UNIT|SUITE|STE|NUMBER|NO|FLOOR|FL|BLDG|BUILDING|ROOM|RM|SPACE|SPC|LOT|PH)"
    r"\.?\s*|#\s*)([A-Z0-9\-]+)\s*$")


@dataclass(frozen=True)
class NormalizedAddress:
    street: str | None  # "123 N MAIN ST", no unit
    unit: str | None  # "4B"
    city: str | None
    state: str | None
    zip: str | None  # 5 digits
    parsed: bool  # usaddress understood it; False means the fallback produced it
    po_box: str | None = None  # "PO BOX 12"; the street is None when the address is only a box

    @property
    def key(self) -> str | None:
        """A matching key: street + unit + (zip, else city+state). None without a street."""
        if not self.street:
            return None
        where = self.zip or "|".join(p for p in (self.city, self.state) if p)
        return "|".join((self.street, self.unit or "", where))

    def one_line(self) -> str:
        parts = [self.street or ""]
        if self.unit:
            parts[0] += f" UNIT {self.unit}"
        tail = " ".join(p for p in (self.state, self.zip) if p)
        return ", ".join(p for p in (parts[0], self.city, tail) if p)


def _clean(text: object) -> str:
    if text is None or (isinstance(text, float) and text != text):
        return ""
    value = str(text).upper().replace(",", " ").replace(".", " ")
    value = _NOT_WORD.sub(" ", value)
    return _SPACES.sub(" ", value).strip()


def _unit_id(text: str) -> str | None:
    words = _clean(text).replace("#", " ").split()
    words = [w for w in words if w not in UNIT_DESIGNATORS]
    return "".join(words) or None


def _state(text: object) -> str | None:
    value = _clean(text)
    if not value:
        return None
    if value in STATE_CODES:
        return value
    return STATES.get(value)


def normalize_state(text: object) -> str | None:
    """Two-letter code for a state name or code ("Texas", "tx" -> "TX"); None when it is neither."""
    return _state(text)


def _zip(text: str | None) -> str | None:
    match = _ZIP.search(str(text or ""))
    return match.group(1) if match else None


def _street_tokens(words: list[str]) -> list[str]:
    """Abbreviate directionals and the suffix without touching the street name itself.

    "NORTH" is a directional only in the first or last position (or right after the house number);
    a street suffix is abbreviated only as the last word ("PARK AVENUE" -> "PARK AVE", but
    "AVENUE OF THE AMERICAS" keeps its words). A name would otherwise be mangled.
    """
    out = list(words)
    if not out:
        return out
    start = 1 if out[0][:1].isdigit() else 0
    if len(out) > start + 1 and out[start] in DIRECTIONALS:
        out[start] = DIRECTIONALS[out[start]]
    if len(out) > start + 1 and out[-1] in DIRECTIONALS:
        out[-1] = DIRECTIONALS[out[-1]]
        if len(out) > start + 2 and out[-2] in STREET_SUFFIXES:
            out[-2] = STREET_SUFFIXES[out[-2]]
    elif len(out) > start + 1 and out[-1] in STREET_SUFFIXES:
        out[-1] = STREET_SUFFIXES[out[-1]]
    return out


def _fallback(text: str, city: str | None, state: str | None, zip_code: str | None) -> NormalizedAddress:
    value = _clean(text)
    zip_found = _zip(value)
    # Cut at the first comma-like boundary is lost by _clean; use the raw text's first segment.
    first = _clean(str(text).split(",")[0]) if text else ""
    unit = None
    match = _UNIT_FALLBACK.search(" " + first)
    if match:
        unit = _unit_id(match.group(2))
        first = (" " + first)[: match.start()].strip()
    street = " ".join(_street_tokens(first.split())) or None
    return NormalizedAddress(street, unit, _clean(city) or None, _state(state), _zip(zip_code) or zip_found,
                             parsed=False)


@lru_cache(maxsize=200_000)
def _normalize(text: str, city: str, state: str, zip_code: str) -> NormalizedAddress:
    try:
        tagged, kind = usaddress.tag(text)
    except Exception:  # usaddress raises RepeatedLabelError and, on odd input, others
        return _fallback(text, city, state, zip_code)
    box_id = _clean(tagged.get("USPSBoxID", "")).replace("#", "").replace(" ", "")
    po_box = f"PO BOX {box_id}" if box_id else None
    if kind == "PO Box" and po_box:
        return NormalizedAddress(
            street=None,
            unit=None,
            city=_clean(tagged.get("PlaceName") or city) or None,
            state=_state(tagged.get("StateName") or state) or _state(state),
            zip=_zip(tagged.get("ZipCode")) or _zip(zip_code),
            parsed=True,
            po_box=po_box,
        )
    if kind not in ("Street Address", "Ambiguous") or "AddressNumber" not in tagged:
        return _fallback(text, city, state, zip_code)
    if any(k.startswith("Intersection") or k.startswith("SecondStreet") for k in tagged):
        return _fallback(text, city, state, zip_code)

    def part(label: str) -> str:
        return _clean(tagged.get(label, ""))

    name = part("StreetNamePreModifier") + " " + part("StreetName")
    pre_type = part("StreetNamePreType")
    post_type = part("StreetNamePostType")
    words = [
        part("AddressNumberPrefix") + part("AddressNumber") + part("AddressNumberSuffix"),
        DIRECTIONALS.get(part("StreetNamePreDirectional"), part("StreetNamePreDirectional")),
        pre_type,  # "AVENUE" in "AVENUE OF THE AMERICAS" stays spelled out: it is part of the name
        name.strip(),
        STREET_SUFFIXES.get(post_type, post_type),
        DIRECTIONALS.get(part("StreetNamePostDirectional"), part("StreetNamePostDirectional")),
    ]
    street = _SPACES.sub(" ", " ".join(w for w in words if w)).strip() or None
    unit_text = " ".join(tagged.get(k, "") for k in ("OccupancyType", "OccupancyIdentifier",
                                                   "SubaddressType", "SubaddressIdentifier"))
    unit = _unit_id(unit_text)
    return NormalizedAddress(
        street=street,
        unit=unit,
        city=_clean(tagged.get("PlaceName") or city) or None,
        state=_state(tagged.get("StateName") or state) or _state(state),
        zip=_zip(tagged.get("ZipCode")) or _zip(zip_code),
        parsed=True,
        po_box=po_box,  # "123 MAIN ST PO BOX 5": both are kept
    )


def normalize_address(text: object, city: object = None, state: object = None,
                      zip_code: object = None) -> NormalizedAddress:
    """Normalize one address; `city`/`state`/`zip_code` fill what the text lacks. Never raises."""

    def s(v: object) -> str:
        return "" if v is None or (isinstance(v, float) and v != v) else str(v)

    raw = s(text).strip()
    if not raw:
        return NormalizedAddress(None, None, _clean(s(city)) or None, _state(s(state)), _zip(s(zip_code)),
                                 parsed=False)
    try:
        return _normalize(raw[:500], s(city), s(state), s(zip_code))
    except Exception:  # the last line of defence: a matching key is never worth a crash
        return _fallback(raw[:500], s(city), s(state), s(zip_code))


def normalize_addresses(address: pd.Series, city: pd.Series | None = None, state: pd.Series | None = None,
                        zip_code: pd.Series | None = None) -> pd.DataFrame:
    """Normalize a column; each distinct input is parsed once. Columns: street, unit, city, state,
    zip, parsed, address_key; same index as `address`."""
    n = len(address)
    parts = [_text(values, n) for values in (address, city, state, zip_code)]
    # Each row's distinct (address, city, state, zip) as a code, numbered in order of first
    # appearance, and the rows' results taken by code (issue 17: a MultiIndex of the county's
    # rows and a reindex on it were most of this function at a million parcels, ≈0.7–0.9 CPU s
    # where no record had an address).
    codes = _row_codes(parts)
    firsts = np.unique(codes, return_index=True)[1]
    parsed = [normalize_address(a, c, s, z) for a, c, s, z in zip(*(part[firsts] for part in parts), strict=True)]
    table = pd.DataFrame(
        [(p.street, p.unit, p.city, p.state, p.zip, p.parsed, p.key) for p in parsed],
        columns=["street", "unit", "city", "state", "zip", "parsed", "address_key"],
    )
    return table.take(codes).set_axis(address.index)


def address_keys(address: pd.Series, city: pd.Series | None = None, state: pd.Series | None = None,
                 zip_code: pd.Series | None = None) -> np.ndarray:
    """`normalize_addresses(...)["address_key"]` as objects (None: no key). A row whose address
    is missing or empty has no street, so no key, whatever its city, state or ZIP: only the rows
    with an address's text are normalized (issue 17: a county's parcel records often carry none,
    and their four columns' factorization was ≈0.25–0.5 CPU s at a million, twice a run — the
    match's and the prospects' rows')."""
    keys = np.full(len(address), None, dtype=object)
    rows = np.flatnonzero(_has_text(address))
    if rows.size:
        def part(values: pd.Series | None) -> pd.Series | None:
            return None if values is None else values.iloc[rows]
        keys[rows] = normalize_addresses(address.iloc[rows], part(city), part(state),
                                         part(zip_code))["address_key"].to_numpy(dtype=object)
    return keys


def _has_text(values: pd.Series) -> np.ndarray:
    """Whether each value is text other than "" (`_text(values) != ""`); Arrow's text is compared
    on its array, without an object made for each value (issue 17: a county's parcel records
    often carry no address — a million missing ones)."""
    if is_arrow_text(values):
        text = values.array.__arrow_array__()
        return pc.fill_null(pc.not_equal(text, ""), False).to_numpy().astype(bool, copy=False)
    return _text(values, len(values)) != ""


def _text(values: pd.Series | None, n: int) -> np.ndarray:
    """The column as text objects, missing values as "" — `astype("string").fillna("")`, which
    also turns other values to their `str`; text alone (the usual column) without its copies."""
    if values is None:
        return np.full(n, "", dtype=object)
    array = values.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(array, skipna=True) not in ("string", "empty"):
        return values.astype("string").fillna("").to_numpy(dtype=object)
    missing = pd.isna(array)
    if missing.any():
        array = array.copy()
        array[missing] = ""
    return array


def _row_codes(columns: list[np.ndarray]) -> np.ndarray:
    """A code per row for its combination of the columns' values, numbered in order of first
    appearance (what `drop_duplicates` keeps, in its order). Combined a column at a time and
    renumbered, so a code stays below the row count (no overflow however many columns)."""
    codes = np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
    for values in columns:
        column, uniques = pd.factorize(values)
        codes = pd.factorize(codes * len(uniques) + column)[0]
    return codes
