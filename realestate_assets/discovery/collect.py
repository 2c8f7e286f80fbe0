"""Collect a county's rows from its enabled sources, and merge them into one prospect per property."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from realestate_assets.config_models import CountyConfig, FieldMap, SourceBase
from realestate_assets.discovery.addresses import normalize_addresses
from realestate_assets.discovery.matching import match_prospects
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import LISTING_REQUIRED, iter_source
from realestate_assets.discovery.validate import SALE_REQUIRED, canonicalize

Reader = Callable[[SourceBase], Iterable[Page | Reject]]

# A listing source's default field map: the crawler's items already use canonical names.
DEFAULT_LISTING_FIELDS = {name: FieldMap(column=name) for name in (
    "source_id", "listing_url", "address", "city", "state", "zip", "list_price", "beds", "baths", "living_sqft",
    "lot_sqft", "year_built", "property_type", "listing_status", "list_date", "description", "photos",
    "owner_name", "owner_mailing_address", "latitude", "longitude")}
LISTING_FACTS = ["list_price", "listing_status", "list_date", "listing_url", "description", "photos", "beds",
                 "baths", "living_sqft", "lot_sqft", "year_built", "property_type", "owner_name",
                 "owner_mailing_address"]


@dataclass
class Collected:
    rows: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    source_rows: Counter[str] = field(default_factory=Counter)  # rows read per source, before validation
    cleaned: Counter[str] = field(default_factory=Counter)  # values cleaned, by "field: what" (NUL, …)

    @property
    def reject_rate(self) -> float:
        seen = sum(self.source_rows.values()) + sum(1 for r in self.rejects if r.raw is None)
        return len(self.rejects) / seen if seen else 0.0


def collect(county: CountyConfig, provides: str, required: tuple[str, ...], key: str,
            reader: Reader = iter_source, default_fields: dict[str, FieldMap] | None = None) -> Collected:
    """Validated rows of every enabled source that `provides` this kind, unique on (source, key).

    A row that cannot be used, a page that cannot be read and a source that fails entirely all
    become rejects with a reason; nothing stops the other rows and sources.
    """
    frames: list[pd.DataFrame] = []
    collected = Collected(rows=pd.DataFrame())
    for source in county.sources_providing(provides):
        fields = source.field_map() or default_fields or {}
        for item in _safely(source, reader):
            if isinstance(item, Reject):
                collected.rejects.append(item)
                continue
            collected.source_rows[item.source] += len(item.frame)
            result = canonicalize(item, fields, required, county.bounding_box)
            collected.rejects.extend(result.rejects)
            collected.cleaned.update(result.cleaned)
            frames.append(result.rows)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["source", key, "source_ref"])
    duplicated = rows.duplicated(["source", key], keep="first")
    for record in rows.loc[duplicated].to_dict("records"):
        collected.rejects.append(Reject(record["source"], record["source_ref"], record,
                                        f"duplicate {key} {record[key]!r} in the source"))
    collected.rows = rows.loc[~duplicated].reset_index(drop=True)
    return collected


def _safely(source: SourceBase, reader: Reader) -> Iterator[Page | Reject]:
    try:
        yield from reader(source)
    except Exception as exc:  # an adapter bug or an unreachable source: report it, keep going
        yield Reject(source.name, source.name, None, f"source failed: {type(exc).__name__}: {exc}")


def collect_sales(county: CountyConfig, reader: Reader = iter_source) -> Collected:
    return collect(county, "sales", SALE_REQUIRED, "sale_id", reader)


def collect_listings(county: CountyConfig, reader: Reader = iter_source) -> Collected:
    return collect(county, "listings", LISTING_REQUIRED, "source_id", reader, DEFAULT_LISTING_FIELDS)


@dataclass(frozen=True)
class Prospects:
    frame: pd.DataFrame  # one row per prospect
    links: pd.DataFrame  # source, source_id, prospect_key, matched_on, source_ref
    duplicate_rate: float  # share of source records that describe a property another one does


def build_prospects(sales: pd.DataFrame, listings: pd.DataFrame) -> Prospects:
    """One prospect per property across sources (parcel id, then address + unit, then ~5 m).

    Location and use come from the county's parcel records when the property has one (listing
    coordinates are the seller's); listing facts come from the newest listing that has them.
    """
    parcels = (sales.sort_values(["parcel_id", "sale_date", "sale_id"])
               .groupby(["source", "parcel_id"], as_index=False).tail(1))
    parcel_records = pd.DataFrame({
        "source": parcels["source"], "source_id": parcels["parcel_id"], "parcel_id": parcels["parcel_id"],
        "source_ref": parcels["source_ref"], "latitude": parcels["latitude"], "longitude": parcels["longitude"],
        "use_type": parcels["use_type"], "rank": 0,
        **{c: parcels[c] for c in ("address", "city", "state", "zip") if c in parcels.columns},
    })
    listing_records = listings.assign(rank=1).sort_values("list_date", ascending=False, na_position="last") \
        if len(listings) else pd.DataFrame(columns=["source", "source_id", "rank"])
    records = pd.concat([parcel_records, listing_records], ignore_index=True)
    if records.empty:
        empty = pd.DataFrame(columns=["prospect_key"])
        return Prospects(empty, pd.DataFrame(columns=["source", "source_id", "prospect_key"]), 0.0)
    match = match_prospects(records)
    records["prospect_key"] = match.keys
    ordered = records.sort_values("rank", kind="stable")  # parcel records first, newest listing next
    columns = [c for c in ("parcel_id", "address", "unit", "city", "state", "zip", "latitude", "longitude",
                           "use_type", *LISTING_FACTS) if c in ordered.columns]
    frame = ordered.groupby("prospect_key", sort=True)[columns].first()  # first non-null per column
    frame["sources"] = (ordered.drop_duplicates(["prospect_key", "source"]).sort_values("source")
                        .groupby("prospect_key")["source"].agg(list))
    if "address" in frame.columns:
        frame["address_key"] = normalize_addresses(
            frame["address"], frame.get("city"), frame.get("state"), frame.get("zip"))["address_key"].to_numpy()
    if "photos" in frame.columns:  # text JSON from the crawler → a list for the jsonb column
        frame["photos"] = [json.loads(p) if isinstance(p, str) else p for p in frame["photos"]]
    links = match.links.merge(records[["source", "source_id", "source_ref"]].astype({"source_id": str}),
                              on=["source", "source_id"], how="left")
    return Prospects(frame.reset_index(), links, match.duplicate_rate)
