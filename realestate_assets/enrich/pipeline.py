"""Enrich a county's prospects from every configured source, with provenance per field.

The county's own records (building facts, sale history) and its market (comparable sales)
always take part; ATTOM and the Census join when their keys are configured. Values for the
same field are merged by source priority (config/enrichment_sources.yaml), each recording
its source, fetch time and confidence. A prospect is `enriched` when some source describes
its building (living area) and no required source failed; otherwise `failed` with the reason.
"""

from __future__ import annotations

import gc
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from realestate_assets.config_models import ASSESSOR_FIELDS
from realestate_assets.db.copy_io import jsonb_text, may_contain
from realestate_assets.enrich.clients import Enricher, ProspectRef, SkippedSource, SourceStatus
from realestate_assets.enrich.clients.base import CallSink
from realestate_assets.enrich.clients.batch import LocalPlan
from realestate_assets.enrich.county_data import COUNTY_FACTS, MARKET_FACTS, CountyMarket
from realestate_assets.enrich.documents import arrow_text
from realestate_assets.enrich.local_columns import ByParcel, in_order, local_columns
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.enrich.provenance import Freshness, expand, stored_text
from realestate_assets.enrich.sources_config import SourcesConfig
from realestate_assets.gc_pause import paused_gc
from realestate_assets.market.index import HedonicIndex

OUTSIDE_FIELDS = [
    "attom_id", "owner_names", "owner_mailing_address", "assessed_value", "market_value", "tax_amount", "tax_year",
    "avm_value", "avm_low", "avm_high", "avm_confidence_score", "avm_fsd", "avm_date", "tract_geoid", "tract_name",
    "tract_population", "tract_median_household_income", "tract_median_home_value", "tract_median_gross_rent",
    "tract_housing_units", "tract_vacant_units", "tract_occupied_units", "tract_owner_occupied_units",
    "tract_renter_occupied_units", "tract_vacancy_rate", "tract_owner_occupied_share",
    "tract_renter_occupied_share",
]
SIGNALS = ["absentee_owner", "out_of_state_owner", "years_owned", "corporate_owner", "trust_owner",
           "government_owner", "assessed_to_market_ratio"]
ENRICHMENT_COLUMNS = ["prospect_key", "as_of_date", "status", "failure_reason", *COUNTY_FACTS, *MARKET_FACTS,
                      *OUTSIDE_FIELDS, "rent_estimate_monthly", *SIGNALS, "provenance", "source_status"]
# The documents `CountyEnrichment.enrich` gives as JSON text: provenance in its stored form
# (`provenance.stored_text`: the row's record apart, in `provenance_record`).
JSON_COLUMNS = ("provenance", "source_status")
# `CountyEnrichment.enrich`'s frame: ENRICHMENT_COLUMNS and the row's provenance record.
FRAME_COLUMNS = [*ENRICHMENT_COLUMNS, "provenance_record"]
# The `enrichment` table's columns: the statuses and the provenance stored as their documents' ids
# (migrations 0061 and 0063: enrich/source_statuses.py, enrich/stored_provenance.py), the
# provenance's record beside its id, the rest as ENRICHMENT_COLUMNS.
STORED_COLUMNS = [c for column in ENRICHMENT_COLUMNS for c in {
    "source_status": ["source_status_id"], "provenance": ["provenance_id", "provenance_record"]}.get(column, [column])]


@dataclass(frozen=True)
class Enriched:
    frame: pd.DataFrame  # ENRICHMENT_COLUMNS, one row per prospect
    skipped: dict[str, str]  # source → why it did not take part
    as_of: pd.Timestamp


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _present(record: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            continue
        out[key] = value.date() if isinstance(value, pd.Timestamp) else value
    return out


def enrich_prospects(
    prospects: pd.DataFrame, sales: pd.DataFrame, *, county_fips: str, county_state: str, sources: SourcesConfig,
    comps: CompsSettings, cache_dir: Path | None = None, redis_url: str | None = None,
    on_call: CallSink | None = None, env: Mapping[str, str] | None = None, assessor: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None, **client_overrides: Any,
) -> Enriched:
    """`prospects`: prospect_key, parcel_id, address, city, state, zip, latitude, longitude.

    `previous`: the partition's current `enrichment` rows; a source that fails or is skipped keeps
    the values it gave there, with their original provenance (see provenance.kept_values).

    `assessor`: canonical rows of the county's `provides: assessor` sources (parcel_id, owner_name,
    owner_mailing_address, assessed_value, market_value, tax_amount, tax_year), if any.

    The whole county in one frame; the asset streams it instead (`county_enrichment`, one chunk
    of prospects at a time), with the same rows.
    """
    with county_enrichment(sales, county_fips=county_fips, county_state=county_state, sources=sources,
                           comps=comps, cache_dir=cache_dir, redis_url=redis_url, on_call=on_call, env=env,
                           assessor=assessor, **client_overrides) as county:
        frame = county.enrich(prospects, previous)
        # As values, for this one-frame form's callers: provenance per field (`expand`, its record in).
        records = frame.pop("provenance_record")
        frame["provenance"] = [expand(text, record) for text, record in zip(frame["provenance"], records, strict=True)]
        frame["source_status"] = [json.loads(text) for text in frame["source_status"]]
        return Enriched(frame, county.skipped, county.as_of)


@contextmanager
def county_enrichment(
    sales: pd.DataFrame, *, county_fips: str, county_state: str, sources: SourcesConfig, comps: CompsSettings,
    cache_dir: Path | None = None, redis_url: str | None = None, on_call: CallSink | None = None,
    env: Mapping[str, str] | None = None, assessor: pd.DataFrame | None = None, **client_overrides: Any,
) -> Iterator[CountyEnrichment]:
    """The county-wide part of enrichment, done once: its facts, the comps' index and pool
    (columns and arrays, not per-row dicts) and the source clients; then `enrich` any chunk of
    its prospects (the comps of its parcels are found then: `CountyMarket`). `sales` is not kept
    (the caller may drop it)."""
    market = CountyMarket(sales, comps)
    county = CountyEnrichment(market.facts, market.as_of, county_fips=county_fips, county_state=county_state,
                              batch_size=sources.runtime.batch_size, assessor=assessor, market=market)
    del sales, assessor
    with Enricher.from_config(sources, on_call=on_call, cache_dir=cache_dir, redis_url=redis_url, env=env,
                              market_fn=county.market_of, as_of=market.as_of.date(),
                              **client_overrides) as enricher:
        county.open(enricher)
        yield county


class CountyEnrichment:
    """A county's facts, comps and assessor roll, held as frames; the per-row dicts the
    enrichers want are made for one chunk of prospects at a time (issue 17: at 118k parcels the
    county as dicts was most of a 1.9 GB step)."""

    def __init__(self, facts: pd.DataFrame, as_of: pd.Timestamp, *, county_fips: str, county_state: str,
                 batch_size: int, assessor: pd.DataFrame | None, market: CountyMarket | None = None) -> None:
        # `market`: the comps of a chunk's parcels are put into `facts` (the same frame) when it is
        # enriched; without it `facts` holds every parcel's MARKET_FACTS already.
        self.facts, self.as_of, self._market = facts, as_of, market
        self.county_fips, self.county_state, self.batch_size = county_fips, county_state, batch_size
        self.assessed = assessor.drop_duplicates("parcel_id").set_index("parcel_id") \
            if assessor is not None and len(assessor) else None
        # The same frames for the column shortcut: each column's conversion decided once (ByParcel).
        self._facts_columns, self._assessed_columns = ByParcel(self.facts), ByParcel(self.assessed)
        self._enricher: Enricher | None = None
        self._plan: LocalPlan | None = None
        self._market_by_key: dict[str, Mapping[str, Any]] = {}  # this chunk's, for market_of

    def open(self, enricher: Enricher) -> None:
        self._enricher, self._plan = enricher, enricher.local_plan()

    @property
    def index(self) -> HedonicIndex | None:
        """The county's market index, fitted on its every recorded sale (the comps' trend); None
        when the county's market was given as facts."""
        return None if self._market is None else self._market.index

    @property
    def skipped(self) -> dict[str, str]:
        """Source → why it did not take part."""
        assert self._enricher is not None
        return {name: s.reason for name, s in self._enricher.skipped.items()}

    def market_of(self, prospect: ProspectRef, _so_far: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._market_by_key.get(prospect.prospect_id, {})

    def enrich(self, prospects: pd.DataFrame, previous: pd.DataFrame | None = None,
               tally: EnrichmentTally | None = None) -> pd.DataFrame:
        """FRAME_COLUMNS for these prospects, one row each (the documents as JSON text). `previous`: their current
        `enrichment` rows (more rows may be given; only these prospects' are looked up).
        `tally`: the rows are counted into it, told which took the local shortcut."""
        # ≈25 small dicts a prospect, none in a cycle: with the collector on, its full collections
        # took a third of the loop at 47k prospects (issue 17); cycles (an HTTP error's traceback)
        # are collected batch by batch (`_rows`).
        with paused_gc():
            frame, shortcut = self._enrich(prospects, previous)
        if tally is not None:
            tally.add(frame, known_plain=shortcut)
        return frame

    def _enrich(self, prospects: pd.DataFrame, previous: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
        """The frame, and which of its rows took the local shortcut (`local_columns`)."""
        enricher, plan = self._enricher, self._plan
        assert enricher is not None, "county_enrichment opens it"
        # The chunk's parcels looked up in the facts once, for the comps' fill and the shortcut.
        facts_at = self._facts_columns.positions(prospects["parcel_id"])
        if self._market is not None:
            self._market.fill(rows=facts_at)
        n = len(prospects)
        before = _Previous(previous)
        columns = {column: np.full(n, None, dtype=object) for column in FRAME_COLUMNS}
        # No HTTP source: the prospects with nothing of a skipped source to keep take the shortcut,
        # all at once by column; the others go through enrich_one as always.
        general = np.ones(n, dtype=bool) if plan is None else \
            before.may_name_mask(prospects["prospect_key"], plan.skipped)
        if plan is not None and not general.all():
            local = local_columns(prospects[~general], self._facts_columns, self._assessed_columns,
                                  enricher=enricher, plan=plan, fetched_at=datetime.now(UTC).isoformat(),
                                  as_of=self.as_of, county_state=self.county_state,
                                  facts_at=facts_at[~general], typed=not general.any())
            # Arrow text, one per pattern (dictionary-encoded): no text per row (the documents' ids
            # are found per pattern; the tally counts these rows as plain).
            local_text = {column: local.pop(column) for column in JSON_COLUMNS}
            for column, values in local.items():
                if general.any():
                    columns[column][~general] = values
                else:  # every row's: the numeric columns typed as `infer_objects` would type them
                    columns[column] = values
        if general.any():
            # Shared entries and statuses are encoded once (by id): the rows are held until all
            # are encoded, so no id is reused by a new object meanwhile. Provenance in its stored,
            # grouped form, the record apart (provenance.stored_text).
            texts: dict[int, str] = {}
            entry_texts: dict[int, tuple[str, str | None]] = {}
            rows = list(self._rows(prospects[general], before))
            for i, row in zip(np.flatnonzero(general), rows, strict=True):
                for column in ENRICHMENT_COLUMNS:
                    value = row[column]
                    if column == "provenance":
                        columns[column][i], columns["provenance_record"][i] = stored_text(value, entry_texts)
                    else:
                        columns[column][i] = jsonb_text(value, texts) if column in JSON_COLUMNS else value
        if not general.any():
            for column, text in local_text.items():
                columns[column] = pd.arrays.ArrowExtensionArray(text)
        elif not general.all():  # decoded: a text per row, as the other rows' (few: an outage's)
            at = [np.flatnonzero(~general), np.flatnonzero(general)]
            for column, text in local_text.items():
                columns[column] = pd.arrays.ArrowExtensionArray(in_order(
                    [text, pa.array(columns[column][general], type=pa.large_string())], at, n))
        # The column types pd.DataFrame(rows) inferred from the same Python values. Each column its
        # own block, as infer_objects leaves them: not stacked into one object block first, then
        # split again and copied (≈0.8 CPU s a million rows, issue 17).
        return pd.DataFrame(columns, columns=FRAME_COLUMNS, copy=False).infer_objects(copy=False), ~general

    def _rows(self, prospects: pd.DataFrame, before: _Previous) -> Iterator[dict[str, Any]]:
        """Each prospect's row through `Enricher.enrich_batch` (enrich_one), batch by batch."""
        enricher, as_of = self._enricher, self.as_of
        assert enricher is not None
        parcels = prospects["parcel_id"]
        by_parcel = _rows_of(self.facts, parcels)
        assessed = _rows_of(self.assessed, parcels) if self.assessed is not None else {}
        market = {parcel: _present({k: row[k] for k in MARKET_FACTS}) for parcel, row in by_parcel.items()}
        parcel_of = dict(zip(prospects["prospect_key"], parcels, strict=True))
        self._market_by_key = {key: market.get(parcel, {}) for key, parcel in parcel_of.items()}
        # Which county record a prospect's county facts come from, for provenance.
        record_of = {key: f"{by_parcel[parcel]['last_sale_source']} sale {by_parcel[parcel]['last_sale_id']}"
                     for key, parcel in parcel_of.items() if parcel in by_parcel}
        county_fips, county_state = self.county_fips, self.county_state

        def ref(p: Any) -> ProspectRef:
            return ProspectRef(
                prospect_id=p.prospect_key, address_line1=_text(p.address), city=_text(p.city),
                state=_text(p.state) or county_state, zip=_text(p.zip),  # every parcel is in its county's state
                latitude=None if pd.isna(p.latitude) else float(p.latitude),
                longitude=None if pd.isna(p.longitude) else float(p.longitude),
                parcel_id=_text(p.parcel_id), county_fips=county_fips,
                assessor_values=_assessor_values(by_parcel.get(p.parcel_id), assessed.get(p.parcel_id)),
                previous_values=before.values(p.prospect_key), previous_provenance=before.provenance(p.prospect_key))

        step = self.batch_size
        for start in range(0, len(prospects), step):
            batch = list(prospects.iloc[start:start + step].itertuples(index=False))
            # Rows per batch: a batch's outcomes are dropped before the next, not held for the county.
            yield from (_row(o, as_of, record_of.get(o.prospect_id)) for o in enricher.enrich_batch(
                [ref(p) for p in batch]))
            gc.collect(1)  # cycles of this batch (HTTP errors, tracebacks) only: the young objects
        self._market_by_key = {}


@dataclass
class EnrichmentTally:
    """The enrichment partition's figures (coverage, failure reasons, sources answered, outside
    fields present, kept and stale values), counted chunk by chunk as the rows stream past."""

    rows: int = 0
    enriched: int = 0
    enriched_with_comps: int = 0
    failure_reasons: Counter[str] = field(default_factory=Counter)
    answered_by_source: Counter[str] = field(default_factory=Counter)
    present_by_field: Counter[str] = field(default_factory=Counter)
    freshness: Freshness = field(default_factory=Freshness)

    def add(self, frame: pd.DataFrame, known_plain: np.ndarray | None = None) -> None:
        """Count a chunk's rows. `known_plain`: rows whose provenance is known to hold no kept and no
        stale entry (the local shortcut's: every entry is a local source's, fetched now), counted
        as plain without searching their text (the search was ≈1.2 CPU s a million rows, issue 17)."""
        enriched = frame["status"] == "enriched"
        self.rows += len(frame)
        self.enriched += int(enriched.sum())
        self.enriched_with_comps += int(frame.loc[enriched, "comps_estimated_value"].notna().sum())
        self.failure_reasons.update(frame.loc[~enriched, "failure_reason"].dropna())
        # JSON text (CountyEnrichment.enrich) or values: each distinct text decoded once (a county's
        # prospects share a handful of status combinations).
        try:
            decoded = [(json.loads(text), int(count)) for text, count in frame["source_status"].value_counts().items()]
        except TypeError:  # values, not text (unhashable)
            decoded = [(v, 1) for v in frame["source_status"]]
        for statuses, count in decoded:
            for name, status in statuses.items():
                self.answered_by_source[name] += count * (status["status"] == "ok")
        self.present_by_field.update({c: int(frame[c].notna().sum()) for c in OUTSIDE_FIELDS})
        provenances = frame["provenance"]
        if known_plain is not None and known_plain.any():
            self.freshness.add_plain(int(known_plain.sum()))
            provenances = provenances[~known_plain]
        try:  # JSON text (CountyEnrichment.enrich), dictionary-encoded or not
            texts = arrow_text(provenances).cast(pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            texts = pa.nulls(len(provenances), pa.large_string())  # values (enrich_prospects): each looked at
        # Texts without a "kept" or "stale" key (most) are counted without decoding (Freshness.add);
        # a chunk whose text holds neither word anywhere (a first run's) is not searched row by row.
        if may_contain(texts, b'"kept"') or may_contain(texts, b'"stale"'):
            plain = ~pc.fill_null(pc.match_substring_regex(texts, '"(kept|stale)"'), True).to_numpy(
                zero_copy_only=False)
        else:  # NULL (no text) is looked at, as the regex's NULL was
            plain = texts.is_valid().to_numpy(zero_copy_only=False)
        self.freshness.add_plain(int(plain.sum()))
        self.freshness.add(provenances[~plain])

    @property
    def coverage(self) -> float:
        """Share of prospects enriched."""
        return self.enriched / self.rows if self.rows else 0.0

    @property
    def comps_coverage(self) -> float:
        """Share of enriched prospects with a comparable-sales value."""
        return self.enriched_with_comps / self.enriched if self.enriched else 0.0

    def coverage_by_source(self) -> dict[str, float]:
        """Share of prospects each source answered for (ok or a definite no-match)."""
        return {name: round(n / self.rows, 4) for name, n in sorted(self.answered_by_source.items())} \
            if self.rows else {}

    def coverage_by_outside_field(self) -> dict[str, float]:
        return {c: round(self.present_by_field[c] / self.rows, 4) for c in OUTSIDE_FIELDS} if self.rows else {}

    def failures(self) -> dict[str, int]:
        """Failure reason → prospects, most frequent first."""
        return dict(self.failure_reasons.most_common())


def _rows_of(frame: pd.DataFrame, parcels: pd.Series) -> dict[Any, dict[str, Any]]:
    """{parcel: its row as a dict} for the rows of `frame` (indexed by parcel) that `parcels`
    name: the same dicts `frame.to_dict("index")` holds for them (same columns, same types)."""
    at = frame.index.get_indexer(pd.unique(parcels))
    return frame.iloc[np.sort(at[at >= 0])].to_dict("index")


class _Previous:
    """The partition's previous `enrichment` rows, by prospect key. `provenance` may arrive as
    jsonb text (the asset reads it so): it is decoded only for a prospect whose sources' earlier
    values may be kept, since decoding every row's ~2 KB was most of a re-run's read (issue 17).
    Or in its stored form (`stored_provenance.stored_previous`, the streamed step's): the row's
    document as categorical text, its record apart in `provenance_record` — each distinct
    document searched once, no document rebuilt per row."""

    def __init__(self, frame: pd.DataFrame | None) -> None:
        self._frame = frame if frame is not None and not frame.empty else None
        self._stored = self._frame is not None and "provenance_record" in self._frame.columns
        self._by_key: dict[str, tuple[Any, Any]] | None = None  # (provenance, record): on first use
        self._rows: dict[str, dict[str, Any]] | None = None

    def _recorded(self, key: str) -> tuple[Any, str | None]:
        """(the prospect's stored provenance, its record or None); (None, None): no row."""
        if self._frame is None:
            return None, None
        if self._by_key is None:  # only when some prospect goes through enrich_one
            records = self._frame["provenance_record"] if self._stored else [None] * len(self._frame)
            self._by_key = dict(zip(self._frame["prospect_key"],
                                    zip(self._frame["provenance"], records, strict=True), strict=True))
        recorded, record = self._by_key.get(key, (None, None))
        return recorded, record if isinstance(record, str) else None

    def may_name(self, key: str, sources: Iterable[str]) -> bool:
        """Whether the prospect's previous provenance may have an entry of one of `sources`
        (False only when it certainly has none)."""
        recorded, _ = self._recorded(key)
        if isinstance(recorded, str):  # jsonb's text form is canonical: `"source": "name"`
            return any(f'"source": {json.dumps(name)}' in recorded for name in sources)
        return any(isinstance(e, Mapping) and e.get("source") in sources for e in expand(recorded).values())

    def may_name_mask(self, keys: pd.Series, sources: Iterable[str]) -> np.ndarray:
        """`may_name` for each of `keys`, the jsonb texts searched by Arrow's kernel at once (a
        stored form's: each distinct document once)."""
        if self._frame is None:
            return np.zeros(len(keys), dtype=bool)
        recorded = self._frame["provenance"]
        sources = list(sources)
        if isinstance(recorded.dtype, pd.CategoricalDtype):
            # The record, a JSON string in an entry, cannot hold `"source": ` unescaped: whether a
            # row's document names a source is its document's answer.
            # Only the documents this chunk's rows name (the categories are the county's).
            needles = [f'"source": {json.dumps(name)}' for name in sources]
            codes, texts = recorded.cat.codes.to_numpy(), recorded.cat.categories
            named_by_code = np.zeros(len(texts) + 1, dtype=bool)  # code -1 (no document): last, False
            used = np.unique(codes[codes >= 0])
            named_by_code[used] = [any(n in texts[at] for n in needles) for at in used]
            named = named_by_code[codes]
            return keys.isin(self._frame["prospect_key"][named]).to_numpy()
        try:  # jsonb text, as the asset reads it
            texts, decoded = pa.array(recorded, type=pa.large_string(), from_pandas=True), False
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # decoded values (tests): looked at below
            texts, decoded = pa.nulls(len(recorded), pa.large_string()), True
        pattern = "|".join(re.escape(f'"source": {json.dumps(name)}') for name in sources)
        named = pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False) if pattern \
            else np.zeros(len(recorded), dtype=bool)
        named = np.where(pd.isna(named), False, named).astype(bool)
        maybe = set(self._frame["prospect_key"][named])
        if decoded:  # no Python per row when every value is text or NULL (the asset's case)
            maybe.update(key for key, value in zip(self._frame["prospect_key"], recorded, strict=True)
                         if isinstance(value, Mapping) and self.may_name(key, sources))  # decoded rows (tests)
        return keys.isin(maybe).to_numpy()

    def provenance(self, key: str) -> Mapping[str, Any]:
        """{field: entry}, from either stored form; NULL: nothing recorded."""
        recorded, record = self._recorded(key)
        return expand(recorded, record)

    def values(self, key: str) -> Mapping[str, Any]:
        if self._frame is None:
            return {}
        if self._rows is None:  # only when some prospect goes through enrich_one
            self._rows = {row["prospect_key"]: row for row in self._frame.to_dict("records")}
        return self._rows.get(key, {})


def _assessor_values(facts: Mapping[str, Any] | None, assessed: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the county's own records say: its sales file, and its assessor roll when configured."""
    values = _present({k: facts[k] for k in COUNTY_FACTS}) if facts else {}
    if assessed:
        roll = _present({k: assessed.get(k) for k in ASSESSOR_FIELDS})
        if "owner_name" in roll:
            roll["owner_names"] = [roll.pop("owner_name")]
        values.update(roll)
    return values


def _row(outcome: Any, as_of: pd.Timestamp, county_record: str | None) -> dict[str, Any]:
    values = dict(outcome.values)
    recorded: dict[int, dict[str, Any]] = {}  # one copy per shared entry (provenance.merge_fields)
    provenance = {}
    for name, entry in outcome.provenance.items():
        if entry.get("source") == "county_assessor" and county_record and not entry.get("kept"):
            if id(entry) not in recorded:
                recorded[id(entry)] = {**entry, "record": county_record}
            entry = recorded[id(entry)]
        provenance[name] = entry
    if values.get("tract_median_gross_rent") is not None:
        # The rent estimate until a rent source is configured: the tract's ACS median gross rent.
        values["rent_estimate_monthly"] = values["tract_median_gross_rent"]
        provenance["rent_estimate_monthly"] = {**provenance.get("tract_median_gross_rent", {}),
                                               "method": "ACS median gross rent of the tract"}
    status, reason = outcome.status, outcome.reason
    if status == "enriched" and values.get("living_sqft") is None:
        status, reason = "failed", "no source describes the building (no county record, no ATTOM match)"
    row = {column: values.get(column) for column in ENRICHMENT_COLUMNS}
    row.update({k: outcome.signals.get(k) for k in SIGNALS})
    row.update({"prospect_key": outcome.prospect_id, "as_of_date": as_of.date(), "status": status,
                "failure_reason": reason, "provenance": provenance,
                "source_status": {name: _status_dict(s) for name, s in outcome.sources.items()}})
    return row


@lru_cache(maxsize=4096)
def _status_dict(status: SourceStatus) -> dict[str, Any]:
    """A source's status as JSON-ready dict, one shared (never mutated) object per distinct status:
    most prospects share "skipped: no key" or "ok" (issue 17: memory per row)."""
    return status.as_dict()


__all__ = ["ENRICHMENT_COLUMNS", "FRAME_COLUMNS", "JSON_COLUMNS", "CountyEnrichment", "Enriched", "EnrichmentTally",
           "SkippedSource", "county_enrichment", "enrich_prospects"]
