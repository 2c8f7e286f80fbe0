"""The local shortcut by column: a chunk of prospects enriched from the county's own records and
its market comps with column operations, no Python per row (issue 17).

When no HTTP source is called, what `Enricher.enrich_one` does for a prospect with nothing
kept from an earlier run is a union of two disjoint sets of fields — the county's records (its
sales file's facts and its assessor roll) and the market comps — each field's provenance its
source's entry, and statuses known per source. Here the same is done for a whole chunk at once:
each field a column taken from the county's frames, its presence a mask, the statuses one of
four combinations, and the provenance (its stored, grouped form, the row's record apart) and
source statuses as one JSON text per pattern, dictionary-encoded (no text per row), ready for
their documents' ids (`stored_provenance.ProvenanceIds`, `source_statuses.SourceStatusIds`).
The rows are those
`enrich_one` and `pipeline._row` give (tests/enrich/test_enrich_columns.py and
test_enrich_local_shortcut.py compare them), the fetch time aside (one per chunk); the owner
signals, which need the address parser, are computed per prospect only where the roll gives an
owner-side value, and once per distinct last-sale date elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from realestate_assets.config_models import ASSESSOR_FIELDS
from realestate_assets.enrich.clients import Enricher
from realestate_assets.enrich.clients.batch import OK, LocalPlan, SourceStatus
from realestate_assets.enrich.county_data import COUNTY_FACTS, MARKET_FACTS
from realestate_assets.enrich.owner_signals import SIGNAL_INPUTS, compute_owner_signals
from realestate_assets.text_keys import key_positions

NO_BUILDING = "no source describes the building (no county record, no ATTOM match)"
ROLL_FIELDS = sorted(ASSESSOR_FIELDS)  # as read; owner_name is written as owner_names: [name]
_STRING = pa.large_string()


def native(values: pd.Series, stamped: bool | None = None) -> np.ndarray:
    """The column as Python values, None where `_present` drops one (None, NaN, NaT); timestamps
    as dates: what `to_dict` then `pipeline._present` gave per row. `stamped`: whether an object
    column's timestamps are converted, when already decided over the whole column it is part of
    (`holds_timestamps`)."""
    return _native(values, stamped)[0]


def _native(values: pd.Series, stamped: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`native`, and where it gave a value (not None): the column's own missing mask, so no
    Python comparison per value is needed to find them."""
    if values.dtype.kind == "M":
        out = np.array(values.dt.date, dtype=object)
    else:
        out = values.to_numpy(dtype=object)
        if values.dtype.kind == "O" and (holds_timestamps(values) if stamped is None else stamped):
            out = np.array([v.date() if isinstance(v, pd.Timestamp) else v for v in out], dtype=object)
    missing = pd.isna(values).to_numpy()
    out[missing] = None
    return out, ~missing


def holds_timestamps(values: pd.Series) -> bool:
    """Whether `native` converts an object column's timestamps to dates."""
    return pd.api.types.infer_dtype(values, skipna=True) in ("datetime", "mixed")


class ByParcel:
    """A county frame indexed by parcel (its facts, its assessor roll), from which each chunk takes
    its parcels' rows as `native` values. Only the chunk's rows are converted: converting the
    county's whole column for every chunk cost O(county × chunks), most of the step's CPU at a
    million parcels (issue 17). Whether a column's timestamps are converted is decided once over
    the whole column, as `native(whole column)` decided it: the same values."""

    def __init__(self, frame: pd.DataFrame | None) -> None:
        self.frame = frame
        self._stamped: dict[str, bool] = {}

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns if self.frame is not None else pd.Index([])

    def positions(self, parcels: pd.Series) -> np.ndarray:
        """Each parcel's row in the frame, -1 where it has none. The step looks a chunk's parcels up
        once and gives the positions to the comps' fill and to `taken` (each looked them up itself:
        a string `get_indexer` of the chunk against the county's index, twice, issue 17); by the
        parcel ids' hashes (`key_positions`: the county's index hashed once)."""
        return key_positions(self.frame.index, parcels) if self.frame is not None else np.full(len(parcels), -1)

    def stamped(self, column: str) -> bool:
        if column not in self._stamped:
            assert self.frame is not None
            values = self.frame[column]
            self._stamped[column] = values.dtype.kind == "O" and holds_timestamps(values)
        return self._stamped[column]


class Taken:
    """Columns of a county frame for a chunk's parcels (`taken`): each column's Python values
    (None for NULL), and masks computed from the frame's typed columns rather than by comparing
    each value in Python (`is_given`, `is_present`: ≈0.3 ms a column of 10,000 objects each, two
    or three times per column, ≈1.5 CPU s a million prospects, issue 17). `typed_only`: the
    columns whose Python values were not made (`taken`'s `typed_only`): their `values` are None."""

    def __init__(self, values: dict[str, np.ndarray], found: np.ndarray, given: dict[str, np.ndarray],
                 textual: set[str], numeric: dict[str, np.ndarray] | None = None,
                 typed_only: frozenset[str] = frozenset()) -> None:
        self.values, self.found = values, found
        self._given, self._textual = given, textual
        self._numeric = numeric or {}  # a numeric column's own values at the found rows (`typed`)
        self.typed_only = typed_only

    def given(self, column: str) -> np.ndarray:
        """`is_given(values[column])`: where the parcel has a row and the column a value."""
        return self._given[column]

    def present(self, column: str) -> np.ndarray:
        """`is_present(values[column])`: only a text column's values can be empty text."""
        given = self._given[column]
        return given & np.not_equal(self.values[column], "") if column in self._textual else given

    def typed(self, column: str, present: np.ndarray) -> np.ndarray | None:
        """`np.where(present, values[column], None)` typed as `infer_objects` types those Python
        values, from the frame's own numeric column (no Python value looked at): float64, NaN where
        not present; an integer column's int64 and a bool column's bool when every row is present.
        None where `infer_objects` would decide otherwise or leave objects (no value present, a
        bool column with a value missing, unsigned integers, a column not numeric)."""
        source = self._numeric.get(column)
        if source is None or not present.any():
            return None
        kind = source.dtype.kind
        full = np.zeros(len(self.found), dtype=source.dtype)
        full[self.found] = source
        if kind in "bi" and present.all():
            return full.astype(bool if kind == "b" else np.int64)
        return np.where(present, full.astype(np.float64), np.nan) if kind in "if" else None


def taken(source: ByParcel | pd.DataFrame | None, parcels: pd.Series, columns: Sequence[str],
          at: np.ndarray | None = None, typed_only: Container[str] = ()) -> Taken:
    """`columns` of `source` (a frame indexed by parcel) for each parcel, None where it has no
    row; and which parcels have a row. `at`: the parcels' `positions` in it, when already known.
    `typed_only`: columns whose Python values the caller does not read where the column is float or
    signed integers (`Taken.typed` gives it whenever a value is present): only their masks and
    typed values are made (a Python float per row and column was ≈0.5 CPU s a million, issue 17)."""
    source = source if isinstance(source, ByParcel) else ByParcel(source)
    frame, n = source.frame, len(parcels)
    at = source.positions(parcels) if at is None else at
    found = at >= 0
    out, given, textual, numeric, skipped = {}, {}, set(), {}, set()
    for column in columns:
        values, has = np.full(n, None, dtype=object), np.zeros(n, dtype=bool)
        whole = None if frame is None else frame[column]
        if whole is not None and found.any():
            if column in typed_only and isinstance(whole.dtype, np.dtype) and whole.dtype.kind in "if":
                numeric[column] = whole.to_numpy()[at[found]]
                has[found] = ~np.isnan(numeric[column]) if whole.dtype.kind == "f" else True  # `_native`'s missing
                skipped.add(column)
            else:
                # By position, without the county's index: `.iloc` took the parcel ids' Index too, a
                # new Index of 10,000 texts a column a chunk (≈0.3–1 CPU s a million, issue 17).
                rows = pd.Series(whole.array.take(at[found]), dtype=whole.dtype, copy=False)
                values[found], has[found] = _native(rows, stamped=source.stamped(column))
                if isinstance(rows.dtype, np.dtype) and rows.dtype.kind in "biuf":  # not a nullable extension type
                    numeric[column] = rows.to_numpy()
        if whole is not None and whole.dtype.kind not in "biufmM":  # objects, text: may hold ""
            textual.add(column)
        out[column], given[column] = values, has
    return Taken(out, found, given, textual, numeric, frozenset(skipped))


def is_given(values: np.ndarray) -> np.ndarray:
    """Not None (`_present`: the source gave it)."""
    return np.not_equal(values, None)


def is_present(values: np.ndarray) -> np.ndarray:
    """Given and not empty text (`provenance.is_missing`: an empty string says nothing)."""
    return is_given(values) & np.not_equal(values, "")


def provenance_text(fields: Mapping[str, tuple[np.ndarray, str]], n: int,
                    recorded: tuple[str, np.ndarray] | None = None) -> tuple[pa.DictionaryArray, np.ndarray]:
    """Each row's provenance in its stored, grouped form (the text `provenance.stored_text`
    writes), dictionary-encoded in row order; and which rows' documents name their record.
    `fields` maps each field to (present mask, its entry's JSON text); absent fields are left
    out, fields of one entry are one group. Distinct entries are distinct sources' here, so never
    equal texts. `recorded`: (an entry's text, where the row has a record) — that entry's group
    is marked `"record": true` in those rows (the record is the row's own, `provenance.RECORD`).

    Rows are grouped by which fields they have and whether their record is named (a county has
    few such patterns): a pattern's document is one text, so no Python string per row and no
    text per row is made (issue 17)."""
    names = sorted(fields)
    if not names or not n:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["{}"], _STRING)), \
            np.zeros(n, dtype=bool)
    entry_of, has_record = (recorded[0], np.asarray(recorded[1], dtype=bool)) if recorded else (None, None)
    masks = np.stack([np.asarray(fields[name][0], dtype=bool) for name in names], axis=1)
    # Named where the row has a record and some field of the recorded entry is present.
    named = np.zeros(n, dtype=bool) if has_record is None else has_record & masks[
        :, [i for i, name in enumerate(names) if fields[name][1] == entry_of]].any(axis=1)
    masks = np.concatenate([masks, named[:, None]], axis=1)
    if masks.shape[1] < 63:  # a row's pattern as one integer: np.unique(axis=0) sorted rows as bytes, 15× slower
        bits = np.left_shift(1, np.arange(masks.shape[1] - 1, -1, -1, dtype=np.int64))
        codes, which = np.unique(masks.astype(np.int64) @ bits, return_inverse=True)
        patterns = (codes[:, None] & bits) != 0  # the same patterns in the same order
    else:
        patterns, which = np.unique(masks, axis=0, return_inverse=True)
    texts = []
    for pattern in patterns:
        groups: dict[str, list[str]] = {}  # in the order of their first field
        for name, on in zip(names, pattern[:-1], strict=True):
            if on:
                groups.setdefault(fields[name][1], []).append(name)
        texts.append('{"groups": [' + ", ".join(
            f'{{"entry": {entry}, "fields": {json.dumps(group_fields, ensure_ascii=False)}'
            + (', "record": true}' if pattern[-1] and entry == entry_of else "}")
            for entry, group_fields in groups.items()) + "]}" if groups else "{}")
    return pa.DictionaryArray.from_arrays(pa.array(which.ravel().astype(np.int32)), pa.array(texts, _STRING)), named


def in_order(parts: Sequence[pa.Array], positions: Sequence[np.ndarray], n: int) -> pa.Array:
    """One array of `n` from `parts`, part i's values at rows `positions[i]`."""
    at = np.empty(n, dtype=np.int64)
    at[np.concatenate(positions)] = np.arange(n)
    return pa.concat_arrays([part.cast(_STRING) for part in parts]).take(pa.array(at))


def signals_of(values: Mapping[str, np.ndarray], prospects: pd.DataFrame, county_state: str,
               as_of: date) -> dict[str, np.ndarray]:
    """The owner signals per row, by `compute_owner_signals`: per prospect where an owner-side
    value is present (the address signals parse the addresses), else once per distinct last-sale
    date (the only input then; the property's address is compared only with a mailing address).
    Each row points at its signals (`which`) and each column is taken from the distinct ones: no
    Python list of a row's values per column (≈0.5 CPU s a million prospects, issue 17)."""
    n = len(prospects)
    owner_side = [c for c in SIGNAL_INPUTS if c != "last_sale_date" and c in values]
    by_owner = np.zeros(n, dtype=bool)
    for column in owner_side:
        by_owner |= is_present(values[column])
    sale_dates = values.get("last_sale_date", np.full(n, None, dtype=object))
    kinds = [compute_owner_signals({}, property_address=None, as_of=as_of).as_dict()]  # kinds[0]: plain
    which = np.zeros(n, dtype=np.intp)
    by_date = np.flatnonzero(is_present(sale_dates) & ~by_owner)
    if len(by_date):  # each distinct date's signals once, in the order of first appearance
        codes, distinct = pd.factorize(sale_dates[by_date], use_na_sentinel=False)  # as pd.unique
        which[by_date] = codes + len(kinds)
        kinds += [compute_owner_signals({"last_sale_date": d}, property_address=None, as_of=as_of).as_dict()
                  for d in distinct]
    if by_owner.any():
        text = {c: native(prospects[c]) for c in ("address", "city", "state", "zip")}
        for i in np.flatnonzero(by_owner):
            given = {c: values[c][i] for c in SIGNAL_INPUTS if c in values and values[c][i] is not None}
            which[i] = len(kinds)
            kinds.append(compute_owner_signals(
                given, property_address=_text(text["address"][i]), property_city=_text(text["city"][i]),
                property_state=_text(text["state"][i]) or county_state, property_zip=_text(text["zip"][i]),
                as_of=as_of).as_dict())
    out: dict[str, np.ndarray] = {}
    for name in kinds[0]:
        out[name] = np.array([kind[name] for kind in kinds], dtype=object)[which]
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def local_columns(prospects: pd.DataFrame, facts: ByParcel | pd.DataFrame,
                  assessed: ByParcel | pd.DataFrame | None, *,
                  enricher: Enricher, plan: LocalPlan, fetched_at: str, as_of: pd.Timestamp,
                  county_state: str, facts_at: np.ndarray | None = None, typed: bool = False) -> dict[str, np.ndarray]:
    """The `enrichment` columns (`pipeline.ENRICHMENT_COLUMNS` but the outside sources') of these
    prospects, none of which has earlier values of a skipped source to keep: Python values per
    column (None for NULL), `provenance` (the stored document, `provenance_text`) and
    `source_status` as JSON text (dictionary-encoded Arrow arrays), `provenance_record` the row's
    record where its document names it (`provenance.RECORD`), else None.
    `facts_at`: the prospects' parcels' positions in `facts` (`ByParcel.positions`), when known.
    `typed`: the county's numeric columns as the arrays `infer_objects` makes of their Python values
    (`Taken.typed`), for a frame of these rows alone: no Python value made and inferred again
    (≈0.5 CPU s a million prospects, issue 17)."""
    n = len(prospects)
    parcels = prospects["parcel_id"]
    facts, assessed = (x if isinstance(x, ByParcel) else ByParcel(x) for x in (facts, assessed))
    # A typed frame's numbers are taken from the county's arrays (`Taken.typed`): only the signals'
    # inputs need their Python values.
    typed_only = frozenset([*COUNTY_FACTS, *MARKET_FACTS, *ROLL_FIELDS]) - set(SIGNAL_INPUTS) if typed else ()
    from_facts = taken(facts, parcels, [*COUNTY_FACTS, *MARKET_FACTS, "last_sale_source", "last_sale_id"],
                       at=facts_at, typed_only=typed_only)
    from_roll = taken(assessed, parcels, [c for c in ROLL_FIELDS if c in assessed.columns], typed_only=typed_only)
    county, has_facts, roll = from_facts.values, from_facts.found, from_roll.values
    given_of, present_of_taken = {}, {}  # is_given and is_present of each column of `values`
    for part in (from_facts, from_roll):
        for column in part.values:
            given_of[column], present_of_taken[column] = part.given(column), part.present(column)
    if "owner_name" in roll:  # the roll's owner, as the list of owners the column holds
        named = given_of["owner_name"]
        owners = roll["owner_names"] = np.full(n, None, dtype=object)
        for i, name in zip(np.flatnonzero(named), roll.pop("owner_name")[named], strict=True):
            owners[i] = [name]  # one by one: numpy would make a list of lists a 2-D array
        given_of["owner_names"] = present_of_taken["owner_names"] = named  # a list is never empty text
    given = {"county_assessor": [*COUNTY_FACTS, *roll], "market": MARKET_FACTS}
    values = {**county, **roll}
    answered = {source: np.logical_or.reduce([given_of[c] for c in fields]) if fields else np.zeros(n, bool)
                for source, fields in given.items()}
    by_type = {s.type: s for s in plan.sources}
    entries = plan.entries(fetched_at)
    # Which record the county's facts come from (pipeline._row: the row's own part of its
    # provenance, `provenance.RECORD`), and each source's entry.
    records = np.full(n, None, dtype=object)
    if has_facts.any():
        records[has_facts] = (pd.Series(county["last_sale_source"][has_facts]).astype(str) + " sale "
                              + pd.Series(county["last_sale_id"][has_facts]).astype(str)).to_numpy(dtype=object)
    fields: dict[str, tuple[np.ndarray, str]] = {}
    present_of: dict[str, np.ndarray] = {}
    recorded: tuple[str, np.ndarray] | None = None
    for type_, source in by_type.items():
        text = json.dumps(entries[source.name], ensure_ascii=False)
        if source.name == "county_assessor":  # pipeline._row names the record in this source's entries
            recorded = (text, has_facts)
        for column in given[type_]:
            present_of[column] = present_of_taken[column]
            fields[column] = (present_of[column], text)
    # Statuses: the skipped sources', then each local source's ok or no-match.
    combo_of = np.zeros(n, dtype=np.int64)
    for bit, source in enumerate(plan.sources):
        combo_of |= answered[source.type].astype(np.int64) << bit
    state, reason = (np.full(n, None, dtype=object) for _ in range(2))
    combos, combo_at = np.unique(combo_of, return_inverse=True)
    status_texts = []  # one per combination, the rows' their index (no Python string per row)
    for c, combo in enumerate(combos):
        statuses = dict(plan.skipped)
        for bit, source in enumerate(plan.sources):
            statuses[source.name] = OK if combo >> bit & 1 else SourceStatus("no_match", source.no_match)
        rows = combo_at == c
        failure = enricher.required_failure(statuses)
        status_texts.append(json.dumps({name: s.as_dict() for name, s in statuses.items()}, ensure_ascii=False))
        state[rows], reason[rows] = ("failed", failure) if failure is not None else ("enriched", None)
    status_text = pa.DictionaryArray.from_arrays(pa.array(combo_at.ravel().astype(np.int32)),
                                                 pa.array(status_texts, type=_STRING))
    # Kept only where present (is_missing): a field that says nothing is not a value.
    skipped = from_facts.typed_only | from_roll.typed_only  # typed below (no Python values made)
    out = {c: np.full(n, None, dtype=object) if c in skipped else np.where(present, values[c], None)
           for c, present in present_of.items()}
    # is_present(out[c]) is present_of[c]: a present value is never None nor empty text.
    no_building = (state == "enriched") & ~present_of.get("living_sqft", np.zeros(n, dtype=bool))
    state[no_building], reason[no_building] = "failed", NO_BUILDING
    out.update(signals_of(out, prospects, county_state, as_of.date()))
    out.update({"prospect_key": prospects["prospect_key"].to_numpy(dtype=object),
                "as_of_date": np.full(n, as_of.date(), dtype=object), "status": state, "failure_reason": reason,
                "source_status": status_text})
    out["provenance"], named = provenance_text(fields, n, recorded)
    out["provenance_record"] = np.where(named, records, None)
    if typed:  # after the signals, which read the Python values
        for part in (from_facts, from_roll):
            for column in part.values:
                if column in present_of and (values_typed := part.typed(column, present_of[column])) is not None:
                    out[column] = values_typed
    return out
