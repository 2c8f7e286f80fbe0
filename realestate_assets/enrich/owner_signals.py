"""Owner signals from enrichment values. Pure functions; None means "unknown", never False.

* absentee_owner: the owner's mailing address is not the property address, compared after
  normalization by the project's one normalizer, discovery.addresses.normalize_address (upper
  case, punctuation gone, USPS suffix/directional abbreviations, ZIP to 5 digits, the unit split
  off: another unit of the same building is not absentee). A PO Box in the property's own ZIP is
  unknown (None): rural owner-occupants often take mail at a box. A PO Box elsewhere is absentee.
* out_of_state_owner: the mailing state differs from the property state.
* years_owned: from the last sale date to `as_of`, in years (one decimal).
* corporate_owner: the owner name contains a business-entity word (see CORPORATE_PATTERNS).
  Trusts are NOT corporate: "SMITH FAMILY TRUST" / "J SMITH REVOCABLE LIVING TRUST" are
  estate-planning wrappers of people who behave like individual owners. They get their own
  signal, trust_owner, so scoring can weigh them separately. A name that is both ("ACME
  HOLDINGS LLC TRUSTEE", "XYZ LAND TRUST LLC") counts as corporate.
* government_owner: city/county/state/federal and housing authorities — excluded from outreach
  elsewhere, but worth knowing.
* assessed_to_market_ratio: assessed value / market value, the market value being the AVM when
  there is one, else the assessor's market value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from realestate_assets.discovery.addresses import NormalizedAddress, normalize_address, normalize_state

# Whole-word business markers. "CO" and "COMPANY" are matched only as whole words, so
# "COLEMAN" or "JACOBSON" never match.
CORPORATE_PATTERNS = [
    r"L\.?\s?L\.?\s?C\.?", r"L\.?\s?L\.?\s?P\.?", r"L\.?\s?P\.?", r"INC\.?", r"INCORPORATED", r"CORP\.?",
    r"CORPORATION", r"CO\.?", r"COMPANY", r"LTD\.?", r"LIMITED", r"PLLC", r"P\.?C\.?",
    r"HOLDINGS?", r"PROPERTIES", r"PROPERTY", r"INVESTMENTS?", r"INVESTORS?", r"PARTNERS(HIP)?",
    r"CAPITAL", r"REALTY", r"REAL\s+ESTATE", r"ENTERPRISES?", r"VENTURES?", r"GROUP", r"ASSOCIATES",
    r"ASSOCIATION", r"DEVELOPMENT", r"MANAGEMENT", r"HOMES", r"RENTALS?", r"FUND", r"REIT",
    r"BANK", r"N\.?A\.?", r"MORTGAGE", r"FINANCIAL", r"CHURCH", r"MINISTRIES",
]
TRUST_PATTERNS = [r"TRUST", r"TRUSTEES?", r"TR", r"TRS", r"REVOCABLE", r"LIVING\s+TR(UST)?", r"ESTATE\s+OF"]
GOVERNMENT_PATTERNS = [r"CITY\s+OF", r"COUNTY", r"STATE\s+OF", r"UNITED\s+STATES", r"HOUSING\s+AUTHORITY",
                       r"PORT\s+OF", r"SCHOOL\s+DIST(RICT)?", r"DEPT\.?\s+OF", r"DEPARTMENT\s+OF"]


def _rx(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Z0-9])(?:" + "|".join(patterns) + r")(?![A-Z0-9])")


_CORP, _TRUST, _GOV = _rx(CORPORATE_PATTERNS), _rx(TRUST_PATTERNS), _rx(GOVERNMENT_PATTERNS)


def _known(addr: NormalizedAddress | None) -> NormalizedAddress | None:
    """The address, or None when there is nothing to compare: normalize_address never returns None,
    it returns an address with neither street nor PO Box for empty input."""
    return addr if addr is not None and (addr.street or addr.po_box) else None


def is_absentee(property_addr: NormalizedAddress | None, mailing: NormalizedAddress | None) -> bool | None:
    property_addr, mailing = _known(property_addr), _known(mailing)
    if property_addr is None or mailing is None:
        return None
    if mailing.po_box:
        if mailing.zip and property_addr.zip:
            return None if mailing.zip == property_addr.zip else True
        return None
    if not property_addr.street or not mailing.street:
        return None
    if mailing.zip and property_addr.zip and mailing.zip != property_addr.zip:
        return True
    if mailing.state and property_addr.state and mailing.state != property_addr.state:
        return True
    return mailing.street != property_addr.street  # the unit is kept apart: another unit is not absentee


def is_out_of_state(property_state: str | None, mailing: NormalizedAddress | None) -> bool | None:
    p = normalize_state(property_state)
    if p is None or mailing is None or mailing.state is None:
        return None
    return mailing.state != p


def years_owned(last_sale_date: date | datetime | str | None, as_of: date) -> float | None:
    if last_sale_date is None:
        return None
    if isinstance(last_sale_date, str):
        try:
            last_sale_date = date.fromisoformat(last_sale_date[:10])
        except ValueError:
            return None
    if isinstance(last_sale_date, datetime):
        last_sale_date = last_sale_date.date()
    if last_sale_date > as_of:
        return None
    return round((as_of - last_sale_date).days / 365.25, 1)


def _names(owner_names: str | Sequence[str] | None) -> list[str]:
    if owner_names is None:
        return []
    items = [owner_names] if isinstance(owner_names, str) else list(owner_names)
    return [" ".join(str(n).upper().split()) for n in items if n and str(n).strip()]


def is_corporate(owner_names: str | Sequence[str] | None) -> bool | None:
    names = _names(owner_names)
    if not names:
        return None
    return any(_CORP.search(n) for n in names)


def is_trust(owner_names: str | Sequence[str] | None) -> bool | None:
    names = _names(owner_names)
    if not names:
        return None
    return any(_TRUST.search(n) and not _CORP.search(n) for n in names)


def is_government(owner_names: str | Sequence[str] | None) -> bool | None:
    names = _names(owner_names)
    if not names:
        return None
    return any(_GOV.search(n) for n in names)


def assessed_to_market_ratio(assessed: float | None, market: float | None) -> float | None:
    if assessed is None or market is None or market <= 0 or assessed < 0:
        return None
    return round(assessed / market, 4)


@dataclass(frozen=True)
class OwnerSignals:
    absentee_owner: bool | None
    out_of_state_owner: bool | None
    years_owned: float | None
    corporate_owner: bool | None
    trust_owner: bool | None
    government_owner: bool | None
    assessed_to_market_ratio: float | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SIGNAL_NAMES}  # flat: asdict's deep copy is not needed


SIGNAL_NAMES = tuple(f.name for f in fields(OwnerSignals))


# Every value `compute_owner_signals` reads; the property's address matters only with an owner
# mailing address to compare it with (enrich/local_columns.py groups prospects by these).
SIGNAL_INPUTS = ("owner_mailing_address", "owner_names", "owner_name", "avm_value", "market_value",
                 "assessed_value", "last_sale_date")


def compute_owner_signals(values: Mapping[str, Any], *, property_address: str | None,
                          property_city: str | None = None, property_state: str | None = None,
                          property_zip: str | None = None, as_of: date) -> OwnerSignals:
    """Signals from merged enrichment values (`owner_names`, `owner_mailing_address`,
    `last_sale_date`, `assessed_value`, `avm_value`/`market_value`) and the property address."""
    mailing = normalize_address(values.get("owner_mailing_address"))
    # Without a mailing street, box or state both address signals are unknown: the property's own
    # address is normalized only when there is something to compare it with (issue 17: most
    # prospects have no owner address).
    compared = _known(mailing) is not None or mailing.state is not None
    prop = normalize_address(property_address, city=property_city, state=property_state,
                             zip_code=property_zip) if compared else None
    names = values.get("owner_names") or values.get("owner_name")
    market = values.get("avm_value") if values.get("avm_value") is not None else values.get("market_value")
    return OwnerSignals(
        absentee_owner=is_absentee(prop, mailing),
        out_of_state_owner=is_out_of_state(property_state or (prop.state if prop else None), mailing),
        years_owned=years_owned(values.get("last_sale_date"), as_of),
        corporate_owner=is_corporate(names),
        trust_owner=is_trust(names),
        government_owner=is_government(names),
        assessed_to_market_ratio=assessed_to_market_ratio(values.get("assessed_value"), market),
    )
