"""One prospect per property across sources.

Records are linked, in order of trust, by parcel id, by normalized address (+ unit), and by
coordinates within `radius_m` metres. A weaker link is refused when both records carry a
stronger identifier that disagrees (two parcels at one address, two condo units at one point),
so a shared rooftop never merges different units. Linked records form connected components
(scipy's sparse graph), one prospect each.

The prospect key comes from the component's strongest identifier (its smallest parcel id as is,
else a hash of its smallest address key, else of its coordinates rounded to ~1 m), so the same
property keeps its key from run to run while sources come and go. Pure functions, no Dagster.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from realestate_assets.discovery.addresses import address_keys
from realestate_assets.discovery.arrow_text import arrow_text, is_arrow_text, string_series
from realestate_assets.geo import to_xy

_PARCEL_JUNK = re.compile(r"[^0-9A-Z]")
MATCHED_ON = ["none", "parcel_id", "address", "coordinates"]  # by a record's strongest edge kind (0: alone)


@dataclass(frozen=True)
class MatchResult:
    keys: pd.Series  # prospect key per input row (same index as the input)
    links: pd.DataFrame  # source, source_id, prospect_key, matched_on
    prospects: int
    records: int

    @property
    def duplicate_rate(self) -> float:
        """Share of records that describe a property another record already describes."""
        return 0.0 if self.records == 0 else 1.0 - self.prospects / self.records


def normalize_parcel_ids(values: pd.Series) -> pd.Series:
    """Upper case, punctuation and spaces dropped ("..0007600046" and "0007600046" agree)."""
    ascii_ids = _ascii_parcel_ids(values)
    if ascii_ids is not None:
        return string_series(ascii_ids, values.index, values.name)
    return _parcel_ids_by_pandas(values)


def _parcel_ids_by_pandas(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.upper().str.replace(_PARCEL_JUNK, "", regex=True)
    return text.mask(text.isna() | (text == "") | text.str.fullmatch("0+").fillna(False))


def _parcel_id_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """`sorted_codes_of(normalize_parcel_ids(values))`, as the match uses the ids: their sorted
    codes (-1 where missing) and the distinct ids as text objects. Arrow's ids are coded on
    Arrow's array itself — not made a pandas "string" column whose every conversion checks a
    million values for missing ones (issue 17: ≈0.4 CPU s at a million parcels), nor a million
    objects converted back to Arrow for the sort (≈0.3–0.5 CPU s, with the server idle)."""
    ascii_ids = _ascii_parcel_ids(values)
    if ascii_ids is not None:
        return sorted_text_codes(ascii_ids)
    ids = _parcel_ids_by_pandas(values)
    return sorted_codes_where(ids.to_numpy(dtype=object, na_value=None), ids.notna().to_numpy())


def _ascii_parcel_ids(values: pd.Series) -> pa.Array | None:
    """`normalize_parcel_ids` by Arrow's kernels (issue 17: pandas' string methods are a Python
    call per value, ≈1 CPU s at a million parcels), for text that is all ASCII — where Arrow's
    upper case and RE2's classes are exactly Python's (`str.upper` maps some other letters to
    several, e.g. ß → SS). None for anything else (other values, other text): the pandas path."""
    text = arrow_text(values)
    if text is None or pc.all(pc.string_is_ascii(text)).as_py() is False:
        return None
    text = pc.ascii_upper(text)
    # Ids that are letters and digits already (most counties' every id) keep them all: the
    # regex replace is skipped (≈0.25 CPU s at a million parcels, issue 17). An empty id is not
    # alphanumeric, so it takes the regex path, which keeps it empty.
    if pc.all(pc.ascii_is_alnum(text)).as_py() is False:
        text = pc.replace_substring_regex(text, _PARCEL_JUNK.pattern, "")
    # Empty or only zeros: nothing is left once the leading zeros are trimmed.
    unusable = pc.equal(pc.ascii_ltrim(text, "0"), "")
    return pc.if_else(pc.fill_null(unusable, True), pa.scalar(None, pa.large_string()), text)


def _prospect_key(kind: str, value: str) -> str:
    """A parcel's key is its normalized parcel id (readable in memos and the UI); other
    identifiers are hashed, prefixed by what they are."""
    if kind == "parcel":
        return value
    return f"{kind}-" + hashlib.sha1(f"{kind}:{value}".encode()).hexdigest()[:16]


def _prospect_keys(kind: str, values: np.ndarray) -> list[str]:
    """`_prospect_key` of each value; a parcel's is its text, made without a call per value
    (a million parcels, issue 17)."""
    if kind == "parcel":
        # Text already (the usual ids): the objects themselves, without a `str` call for each of a
        # million (≈0.15 CPU s, issue 17).
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            return values.tolist()
        return [str(value) for value in values]
    return [_prospect_key(kind, str(value)) for value in values]


def _group_edges(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges joining each row to the first row of its group (codes < 0 mean no group)."""
    rows = np.flatnonzero(codes >= 0)
    if rows.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    first = pd.Series(rows).groupby(codes[rows]).transform("first").to_numpy()
    keep = first != rows
    return rows[keep], first[keep]


def _arrow_or_objects(column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A text column held by Arrow as its array (not copied), any other as objects."""
    return column.array if is_arrow_text(column) else column.to_numpy()


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    return frame[name] if name in frame.columns else None


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize(values, sort=True)` of text, the uniques as objects. The distinct values are
    sorted by Arrow (issue 17: pandas sorts them comparing Python objects, ≈1–2 CPU s for a
    million parcel ids); the same order — UTF-8 bytes order as code points, as Python compares
    text. Values Arrow cannot hold as text (a lone surrogate, a non-text value) go through pandas."""
    try:
        encoded = pa.array(values, type=pa.large_string()).dictionary_encode()
    except (pa.ArrowException, ValueError, TypeError):
        codes, uniques = pd.factorize(values, sort=True)
        return codes, np.asarray(uniques, dtype=object)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order), dtype=np.intp)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    # The dictionary numbers the values in order of first appearance: each one's first row is
    # where the running maximum grows. The uniques are those rows' own objects (no new text).
    grows = np.ones(len(indices), dtype=bool)
    grows[1:] = indices[1:] > np.maximum.accumulate(indices)[:-1]
    return rank[indices], values[np.flatnonzero(grows)][order]


def sorted_text_codes(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`sorted_codes_of` of Arrow text, on the array: -1 for a null, the uniques as objects."""
    encoded = text.dictionary_encode()  # a null keeps a null index
    if not len(encoded.dictionary):
        return np.full(len(text), -1, dtype=np.intp), np.empty(0, dtype=object)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order), dtype=np.intp)
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    codes = np.where(indices >= 0, rank[indices], -1).astype(np.intp, copy=False)
    return codes, encoded.dictionary.take(pa.array(order)).to_numpy(zero_copy_only=False)


def sorted_codes_of(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """`sorted_codes` of a column with missing values: their code is -1 (as `pd.factorize`'s)."""
    return sorted_codes_where(values.to_numpy(dtype=object), values.notna().to_numpy())


def sorted_codes_where(values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`sorted_codes_of` of objects whose missing ones are known (`present` false): -1 for those."""
    codes = np.full(len(values), -1, dtype=np.intp)
    codes[present], uniques = sorted_codes(values[present])
    return codes, uniques


def _component_keys(labels: np.ndarray, count: int,
                    identifiers: list[tuple[str, Callable[[np.ndarray], pd.Series | None]]],
                    coded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """The prospect key of each row: its component's smallest value of the first identifier
    that any of its rows has (in `identifiers`' order of trust). Each identifier's values are
    made only for the rows of components still without a key (coordinates' text is not built
    for a county whose every record has a parcel id), and the smallest value per component is
    found on sorted codes (a string's code orders as the string), not by a Python call per
    component. `coded`: an identifier's sorted codes for every row, made already
    (`sorted_codes_of`), taken instead of its values."""
    key_of = np.full(count, None, dtype=object)
    keyed = np.zeros(count, dtype=bool)
    for kind, values_of in identifiers:
        rows = np.flatnonzero(~keyed[labels])
        if rows.size == 0:
            break
        if coded is not None and kind in coded:
            every, uniques = coded[kind]
            codes = every[rows]  # a subset of sorted codes still orders as its strings
            present = codes >= 0
            rows, codes = rows[present], codes[present]
        else:
            values = values_of(rows)
            if values is None:
                continue
            present = values.notna().to_numpy()
            rows, values = rows[present], values.to_numpy(dtype=object)[present]
            if rows.size == 0:
                continue
            codes, uniques = sorted_codes(values)
        if codes.size == 0:
            continue
        best = pd.Series(codes).groupby(labels[rows]).min()
        components = best.index.to_numpy()
        smallest = uniques[best.to_numpy()]
        key_of[components] = _prospect_keys(kind, smallest)
        keyed[components] = True
    return key_of[labels]


def match_prospects(records: pd.DataFrame, radius_m: float = 5.0) -> MatchResult:
    """Assign a prospect key to every record.

    `records` columns: `source`, `source_id` (required); optional `parcel_id`, `address`, `unit`,
    `city`, `state`, `zip`, `latitude`, `longitude`. A `unit` column is appended to the address
    before parsing, so "123 MAIN ST" + unit "4B" equals "123 Main Street Apt 4B".
    """
    n = len(records)
    index = records.index
    if n == 0:
        empty = pd.DataFrame(columns=["source", "source_id", "prospect_key", "matched_on"])
        return MatchResult(pd.Series([], index=index, dtype=object), empty, 0, 0)

    # The parcel ids as sorted codes: the parcel edges' groups and, below, each component's
    # smallest parcel id (its key) from one factorization of the million ids (issue 17: they were
    # factorized twice). The address keys stay text objects with None for a missing value (pandas
    # "string" columns checked a million values for missing ones on every conversion: ≈0.5–1
    # CPU s of the match at a million parcels, issue 17).
    if "parcel_id" in records.columns:
        parcel_codes, parcel_uniques = _parcel_id_codes(records["parcel_id"])
    else:
        parcel_codes, parcel_uniques = np.full(n, -1, dtype=np.intp), np.empty(0, dtype=object)
    if "address" in records.columns:
        address = records["address"]  # `address_keys` reads it as text, missing as ""
        if "unit" in records.columns:
            address = address.astype("string").fillna("")
            unit = records["unit"].astype("string").fillna("").str.strip()
            address = address.where(unit == "", address + " UNIT " + unit)
        address_key = pd.Series(address_keys(address, _column(records, "city"), _column(records, "state"),
                                             _column(records, "zip")), index=index)
    else:
        address_key = pd.Series(None, index=index, dtype=object)

    address_codes = pd.factorize(address_key.to_numpy(), use_na_sentinel=True)[0]

    def allowed(a: np.ndarray, b: np.ndarray, *stronger: np.ndarray) -> np.ndarray:
        ok = np.ones(a.size, dtype=bool)
        for codes in stronger:
            ok &= ~((codes[a] >= 0) & (codes[b] >= 0) & (codes[a] != codes[b]))
        return ok

    src, dst, kinds = [], [], []
    a, b = _group_edges(parcel_codes)
    src.append(a), dst.append(b), kinds.append(np.full(a.size, 1))
    a, b = _group_edges(address_codes)
    ok = allowed(a, b, parcel_codes)
    src.append(a[ok]), dst.append(b[ok]), kinds.append(np.full(int(ok.sum()), 2))

    lat = pd.to_numeric(_column(records, "latitude"), errors="coerce") if "latitude" in records else None
    lon = pd.to_numeric(_column(records, "longitude"), errors="coerce") if "longitude" in records else None
    if lat is not None and lon is not None:
        has = (lat.notna() & lon.notna()).to_numpy()
        rows = np.flatnonzero(has)
        # A pair of records that both have a parcel id is allowed only when the ids are the same,
        # and then the two are in one component already, each joined by a parcel edge (kind 1,
        # stronger than a coordinates one): such a pair changes neither the components nor how
        # a record joined. When every located record has a parcel id (a county's parcel records
        # alone, the usual case without listings) no pair can matter, so none is looked for
        # (issue 17: at a million parcels the tree and its ≈2.75 million pairs within 5 m, every
        # one refused, were ≈0.8–1 CPU s of the match with the server idle).
        if rows.size > 1 and (parcel_codes[rows] < 0).any():
            la = lat.to_numpy(dtype=float)[rows]
            xy = to_xy(la, lon.to_numpy(dtype=float)[rows], float(np.median(la)))
            pairs = cKDTree(xy).query_pairs(r=radius_m, output_type="ndarray")
            if pairs.size:
                a, b = rows[pairs[:, 0]], rows[pairs[:, 1]]
                ok = allowed(a, b, parcel_codes, address_codes)
                src.append(a[ok]), dst.append(b[ok]), kinds.append(np.full(int(ok.sum()), 3))

    s, d, k = np.concatenate(src), np.concatenate(dst), np.concatenate(kinds)
    graph = coo_matrix((np.ones(s.size), (s, d)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)

    # How each record joined its prospect: its strongest edge kind (0 = alone).
    how = np.full(n, 9, dtype=np.int64)
    np.minimum.at(how, s, k)
    np.minimum.at(how, d, k)
    how[how == 9] = 0

    # Stable key per component from its strongest identifier.
    identifiers: list[tuple[str, Callable[[np.ndarray], pd.Series | None]]] = [
        ("parcel", lambda rows: pd.Series(  # not called: its codes are `coded`'s
            np.where(parcel_codes[rows] >= 0, parcel_uniques.take(parcel_codes[rows], mode="clip"), None))),
        ("address", lambda rows: address_key.iloc[rows]),
        ("coords", lambda rows: None if lat is None or lon is None else
         lat.iloc[rows].round(5).astype("string") + "," + lon.iloc[rows].round(5).astype("string")),
        ("record", lambda rows: records["source"].iloc[rows].astype(str) + ":"
         + records["source_id"].iloc[rows].astype(str)),
    ]
    keys = pd.Series(_component_keys(labels, count, identifiers, coded={"parcel": (parcel_codes, parcel_uniques)}),
                     index=index, dtype=object)

    # Text held by Arrow (`prospects`' sales read) stays Arrow's for the links' write, which takes
    # it without a copy (issue 17: each column made objects here and Arrow's again there, ≈0.05–0.15
    # CPU s a million); a source id that is text with no missing value is its own `str`.
    source_id = records["source_id"]
    links = pd.DataFrame({
        "source": _arrow_or_objects(records["source"]),
        "source_id": source_id.array if is_arrow_text(source_id) and not source_id.hasnans
        else source_id.astype(str).to_numpy(),
        "prospect_key": keys.to_numpy(),
        "matched_on": pd.arrays.ArrowExtensionArray(pa.array(MATCHED_ON, pa.large_string()).take(how)),
    }, copy=False)
    return MatchResult(keys=keys, links=links, prospects=int(count), records=n)
