"""Collect a county's rows from its enabled sources, and merge them into one prospect per property."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from realestate_assets.config_models import CountyConfig, FieldMap, SourceBase
from realestate_assets.discovery.addresses import address_keys
from realestate_assets.discovery.matching import match_prospects, sorted_codes
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
    become rejects with a reason; nothing stops the other rows and sources. `collect_pages`
    gives the same rows a page at a time.
    """
    collected = Collected(rows=pd.DataFrame())
    frames = list(collect_pages(collected, county, provides, required, key, reader, default_fields))
    collected.rows = (pd.concat(frames, ignore_index=True) if frames
                      else pd.DataFrame(columns=["source", key, "source_ref"]))
    return collected


def collect_pages(collected: Collected, county: CountyConfig, provides: str, required: tuple[str, ...],
                  key: str, reader: Reader = iter_source,
                  default_fields: dict[str, FieldMap] | None = None) -> Iterator[pd.DataFrame]:
    """`collect`'s rows a source page at a time (issue 17: a million sales are never one frame).

    The rejects, rows read and cleaned values are added to `collected` as the pages pass; the
    rejects of rows repeating a (source, key) of an earlier row, in any page, come last, when
    the last page has been taken, as `collect` has always listed them. `collected.rows` is not
    touched. Pages left with no row are not yielded.
    """
    seen: dict[str, set[object]] = {}
    repeated: list[Reject] = []
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
            rows = result.rows
            if rows.empty:
                continue
            again = _repeated(rows, key, seen.setdefault(item.source, set()))
            if again.any():
                for record in rows.loc[again].to_dict("records"):
                    repeated.append(Reject(record["source"], record["source_ref"], record,
                                           f"duplicate {key} {record[key]!r} in the source"))
                rows = rows.loc[~again].reset_index(drop=True)
            yield rows
    collected.rejects.extend(repeated)


def _repeated(rows: pd.DataFrame, key: str, seen: set[object]) -> np.ndarray:
    """Rows of one source's page whose key an earlier row had (this page's or an earlier one's,
    `seen`, which learns this page's keys). A missing key is one value, as `duplicated` has it."""
    values = [None if pd.isna(v) else v for v in rows[key].to_numpy(dtype=object)] \
        if rows[key].hasnans else rows[key].tolist()
    page = set(values)
    if len(page) == len(values) and seen.isdisjoint(page):
        # No repeat (a page's usual case): the set's C loops only, not pandas' `duplicated` and
        # a lookup per row (issue 17: at 1M sales 0.36-0.45 -> 0.21 CPU s)
        again = np.zeros(len(values), dtype=bool)
    else:
        again = rows.duplicated([key]).to_numpy() | np.fromiter((v in seen for v in values), bool, len(values))
    seen |= page
    return again


def _safely(source: SourceBase, reader: Reader) -> Iterator[Page | Reject]:
    try:
        yield from reader(source)
    except Exception as exc:  # an adapter bug or an unreachable source: report it, keep going
        yield Reject(source.name, source.name, None, f"source failed: {type(exc).__name__}: {exc}")


def collect_sales(county: CountyConfig, reader: Reader = iter_source) -> Collected:
    return collect(county, "sales", SALE_REQUIRED, "sale_id", reader)


def sale_pages(collected: Collected, county: CountyConfig, reader: Reader = iter_source) -> Iterator[pd.DataFrame]:
    """`collect_sales`' rows a page at a time (`collect_pages`)."""
    return collect_pages(collected, county, "sales", SALE_REQUIRED, "sale_id", reader)


def collect_listings(county: CountyConfig, reader: Reader = iter_source) -> Collected:
    return collect(county, "listings", LISTING_REQUIRED, "source_id", reader, DEFAULT_LISTING_FIELDS)


def _sources_by_code(codes: np.ndarray, count: int, source: pd.Series) -> np.ndarray:
    """Each prospect's sources, distinct and sorted, as a list: one object array in the order of
    the prospects' codes (`count` of them; each row's code in `codes`, its source in `source`).

    By column: each prospect's set of sources is a bit mask (a county has a few sources) OR-ed
    from its rows, one vectorized pass per source, without hashing the (prospect, source) pairs
    (issue 17); the prospects with the same set share one list (written once as jsonb, copy_io).
    A county with more sources than a mask holds is grouped the slow way."""
    names_codes, names = pd.factorize(source, sort=True)
    if len(names) > 62:
        pairs = pd.DataFrame({"code": codes, "source": source.to_numpy()}).drop_duplicates()
        lists = pairs.sort_values("source").groupby("code")["source"].agg(list)
        return lists.reindex(range(count)).to_numpy()
    masks = np.zeros(count, dtype=np.int64)
    for i in range(len(names)):
        seen = np.zeros(count, dtype=bool)
        seen[codes[names_codes == i]] = True
        masks |= seen.astype(np.int64) << i
    distinct, which = np.unique(masks, return_inverse=True)
    lists = np.empty(len(distinct), dtype=object)
    for j, mask in enumerate(distinct.tolist()):
        lists[j] = [str(names[i]) for i in range(len(names)) if mask >> i & 1]
    return lists[which]


SALE_ORDER = ["parcel_id", "sale_date", "sale_id"]


def sale_order(sales: pd.DataFrame) -> np.ndarray:
    """The positions of `sales` in a stable sort by (parcel_id, sale_date, sale_id), missing values
    last: the order in which each parcel's sales are its history, its last sale last.

    Arrow sorts the keys (pandas compares text keys as Python objects: most of a county-wide sort's
    time, issue 17). The same order: both stable, text by code point (UTF-8 bytes order as code
    points do), missing values last; keys Arrow cannot hold are sorted by pandas as before."""
    return _sale_order(sales)[0]


def _sale_order(sales: pd.DataFrame) -> tuple[np.ndarray, pa.Table | None]:
    """`sale_order`, and the key columns as Arrow sorted it (None when pandas sorted them)."""
    try:
        table = pa.Table.from_pandas(sales[SALE_ORDER], preserve_index=False)
    except (pa.ArrowException, UnicodeError):
        return sales[SALE_ORDER].reset_index(drop=True).sort_values(SALE_ORDER).index.to_numpy(), None
    return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in SALE_ORDER]).to_numpy(), table


def _last_sales(sales: pd.DataFrame) -> pd.Index:
    """Each (source, parcel)'s last sale by (sale_date, sale_id): its index labels, in `sale_order`.
    Found on the key columns alone (a sorted copy of the county's sales is not made: issue 17)."""
    order, table = _sale_order(sales)
    last = _last_of_one_source(sales, order, table)
    if last is None:
        groups = sales[["source", "parcel_id"]].iloc[order]
        # The last row of each group in that order, as `groupby(...).tail(1)` (which drops a
        # group with a missing key).
        last = ~groups.duplicated(keep="last").to_numpy() & groups.notna().all(axis=1).to_numpy()
    return sales.index[order[last]]


def _last_of_one_source(sales: pd.DataFrame, order: np.ndarray, table: pa.Table | None) -> np.ndarray | None:
    """`_last_sales`' rule when every sale has the same source (one sales source per county, as
    most have): in `sale_order` a parcel's sales are one run (parcel id is the first key), so its
    last sale is where the next row's parcel id differs, found on Arrow's sorted ids instead of
    hashing a million (source, parcel) pairs (≈0.7–1.0 CPU s at a million sales, issue 17).
    None when the rule has to be applied as `duplicated` does (several sources, or keys that
    Arrow did not sort)."""
    source = sales["source"]
    if table is None or not len(source) or not isinstance(source.iloc[0], str) or source.isna().any() \
            or not source.eq(source.iloc[0]).all():
        return None
    parcel = table.column("parcel_id").take(pa.array(order))
    try:
        # Missing ids sort last (and are no group); the last row of the order closes its run.
        ends = pc.fill_null(pc.not_equal(parcel[:-1], parcel[1:]), True)
    except pa.ArrowException:  # ids of a type Arrow does not compare (all missing: a null column)
        return None
    last = np.append(ends.to_numpy(zero_copy_only=False).astype(bool), True)
    return last & pc.is_valid(parcel).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class Prospects:
    frame: pd.DataFrame  # one row per prospect
    links: pd.DataFrame  # source, source_id, prospect_key, matched_on, source_ref
    duplicate_rate: float  # share of source records that describe a property another one does


@dataclass(frozen=True)
class Matched:
    """The source records matched into prospects, before the prospects' rows are made: the links
    are final here, so they can be written while `prospect_frame` builds the rows (issue 17)."""
    records: pd.DataFrame  # parcel records first, then listings newest first; with prospect_key
    links: pd.DataFrame  # as `Prospects.links`
    duplicate_rate: float


def build_prospects(sales: pd.DataFrame, listings: pd.DataFrame) -> Prospects:
    """One prospect per property across sources (parcel id, then address + unit, then ~5 m).

    Location and use come from the county's parcel records when the property has one (listing
    coordinates are the seller's); listing facts come from the newest listing that has them.
    """
    matched = match_sources(sales, listings)
    return Prospects(prospect_frame(matched), matched.links, matched.duplicate_rate)


def match_sources(sales: pd.DataFrame, listings: pd.DataFrame) -> Matched:
    """`build_prospects`' first half: each source record's prospect and link."""
    address = [c for c in ("address", "city", "state", "zip") if c in sales.columns]
    # Only the columns the records use are taken, and the frame made of them is not consolidated
    # into one block here (`copy=False`; a later copy does it once): ≈0.4–0.8 CPU s less at 1M
    # sales (issue 17). `parcels` is this function's own take, so nothing else shares its arrays.
    parcels = sales.loc[_last_sales(sales), ["source", "parcel_id", "source_ref", "latitude", "longitude",
                                             "use_type", *address]]
    # The columns as arrays: the records are numbered from 0 without a copy (a `reset_index`
    # copied and consolidated all of them: ≈0.4–0.9 CPU s at a million parcels, issue 17), but
    # for `source_id`, which must not share `parcel_id`'s array (a caller may change one).
    parcel_records = pd.DataFrame({
        "source": _values(parcels["source"]), "source_id": _values(parcels["parcel_id"]).copy(),
        "parcel_id": _values(parcels["parcel_id"]), "source_ref": _values(parcels["source_ref"]),
        "latitude": _values(parcels["latitude"]), "longitude": _values(parcels["longitude"]),
        "use_type": _values(parcels["use_type"]), "rank": 0, **{c: _values(parcels[c]) for c in address},
    }, copy=False)
    listing_records = listings.assign(rank=1).sort_values("list_date", ascending=False, na_position="last") \
        if len(listings) else pd.DataFrame(columns=["source", "source_id", "rank"])
    # Without listings the parcel records are the records (a concat with an empty frame checks
    # every value of the columns it adds: seconds at a million parcels).
    records = pd.concat([parcel_records, listing_records], ignore_index=True) if len(listing_records) \
        else parcel_records
    if records.empty:
        return Matched(records, pd.DataFrame(columns=["source", "source_id", "prospect_key"]), 0.0)
    match = match_prospects(records)
    records["prospect_key"] = match.keys
    # Parcel records alone are unique on (source, parcel id) (`_last_sales` keeps one per pair);
    # with every id text, its text is the id itself, so the links' keys need no check.
    unique = not len(listing_records) and pd.api.types.infer_dtype(records["source_id"], skipna=False) == "string"
    return Matched(records, _with_refs(match.links, records, unique=unique), match.duplicate_rate)


def _values(column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A column's own array, not copied, to make another frame's column of: a NumPy column's
    ndarray itself (its `.array` wrapper is unwrapped by the frame with a missing-value check of
    every value, never used: ≈0.1 CPU s for each text column of a million parcels, issue 17), an
    extension column's array (Arrow's text) as it is."""
    return column.array if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else column.to_numpy()


def _with_refs(links: pd.DataFrame, records: pd.DataFrame, unique: bool = False) -> pd.DataFrame:
    """`links` (one row per record, in the records' order: `match_prospects`) with each record's
    `source_ref`, as a left merge on (source, source_id as text) finds it. When no two records
    share that key, each link's match is its own record: its ref taken by position, not by a
    merge that hashes the keys of both sides (≈0.9 CPU s at a million records, issue 17; the
    check ≈0.3, skipped when the caller knows the keys are `unique`). Records sharing a key (a
    source name giving both parcels and listings) merge."""
    if unique or not links.duplicated(["source", "source_id"]).any():
        return links.assign(source_ref=_values(records["source_ref"]))
    return links.merge(records[["source", "source_id", "source_ref"]].astype({"source_id": str}),
                       on=["source", "source_id"], how="left")


def prospect_frame(matched: Matched) -> pd.DataFrame:
    """`build_prospects`' second half: one row per prospect from its matched records."""
    if matched.records.empty:
        return pd.DataFrame(columns=["prospect_key"])
    # Parcel records first, newest listing next: `match_sources` made them in that order, so the
    # stable sort is only paid when a caller's records are not (a copy of every column).
    ordered = matched.records if matched.records["rank"].is_monotonic_increasing \
        else matched.records.sort_values("rank", kind="stable")
    columns = [c for c in ("parcel_id", "address", "unit", "city", "state", "zip", "latitude", "longitude",
                           "use_type", *LISTING_FACTS) if c in ordered.columns]
    # The keys are factorized once, in their sorted order (Arrow sorts the text): the rows are
    # grouped and their sources collected on those codes, and the frame's index is the sorted
    # keys (the groupby hashed and sorted the million keys as Python objects, the sources'
    # pairs and groupby twice more, the assignment aligned them once more: issue 17).
    if ordered["prospect_key"].hasnans:  # no prospect (as the groupby on the keys dropped them)
        ordered = ordered.loc[ordered["prospect_key"].notna().to_numpy()]
    codes, keys = sorted_codes(ordered["prospect_key"].to_numpy(dtype=object))
    # The frame is made of its columns' arrays (not consolidated: `reset_index` copied every
    # column once more, ≈0.2 CPU s at 1M, issue 17); the key first, as `reset_index` put it.
    frame = pd.DataFrame({"prospect_key": keys, **_first_of_each(ordered, columns, codes, len(keys))}, copy=False)
    frame["sources"] = _sources_by_code(codes, len(keys), ordered["source"])
    if "address" in frame.columns:
        frame["address_key"] = address_keys(frame["address"], frame.get("city"), frame.get("state"), frame.get("zip"))
    if "photos" in frame.columns:  # text JSON from the crawler → a list for the jsonb column
        frame["photos"] = [json.loads(p) if isinstance(p, str) else p for p in frame["photos"]]
    return frame


def _first_of_each(rows: pd.DataFrame, columns: list[str], codes: np.ndarray,
                   count: int) -> dict[str, np.ndarray | pd.api.extensions.ExtensionArray]:
    """`rows.groupby(codes, sort=True)[columns].first()`'s columns (each code's first non-null value
    per column; every code in 0..count-1 has a row), as arrays. A code with one row is that row:
    taken, not grouped (most prospects have one record — with parcel records alone, every one;
    the groupby's first of a million one-row groups was ≈0.5–1 CPU s at 1M, issue 17); the codes
    with several rows are grouped as before and their values put in their places."""
    first = np.empty(count, dtype=np.intp)
    if len(codes) == count:  # one row a code: the codes are a permutation of the rows
        first[codes] = np.arange(len(codes), dtype=np.intp)
        grouped = None
    else:
        sizes = np.bincount(codes, minlength=count)
        order = np.argsort(codes, kind="stable")
        first[:] = order[np.cumsum(sizes) - sizes]
        several = (sizes > 1)[codes]
        grouped = rows.loc[several, columns].groupby(codes[several], sort=True).first()
    out: dict[str, np.ndarray | pd.api.extensions.ExtensionArray] = {}
    for column in columns:
        values = _values(rows[column]).take(first)
        if grouped is not None:
            firsts = grouped[column]
            values[firsts.index.to_numpy()] = _values(firsts)
        out[column] = values
    return out
