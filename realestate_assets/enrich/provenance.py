"""Merge one prospect's field values from several sources, keeping where each came from.

Pure: no I/O, no clock unless you pass `now`. For each field the winner is the value that is

1. not stale (younger than its source's `staleness_days`; stale values still win when nothing
   fresh exists, and are marked `stale: true`),
2. from the source with the lowest `priority` number,
3. with the highest confidence,
4. then the newest, then the source name (so ties are deterministic).

None never wins: a source that did not know a field does not erase another's value.

An outage never erases what we knew: while a source fails or is skipped, `kept_values` gives back
the values it gave last time, exactly as recorded (value, original `fetched_at`, confidence), so
they compete like any other; their provenance says `kept: true` and why, and `stale: true` once
they are older than the source's `staleness_days`. Nothing is invented: a field the source never
gave stays missing. `freshness` summarizes a partition's provenance for the `values_fresh` check.
The provenance dict is JSON-serializable (ISO timestamps, plain values) and has, per field,
`{"source", "fetched_at", "confidence"}` plus `stale` and `conflicts` (the other sources'
*different* values) when they apply. `expected_fields` that nobody filled are recorded with
`"source": null` so that a NULL column is explained, not just empty.

Stored form (`enrichment.provenance`, issue 17): each distinct entry once, with the fields it
explains — `{"groups": [{"entry": {...}, "fields": ["baths", "beds", ...]}, ...]}` (`compact`)
— instead of the entry repeated per field, which made the server parse ~2.6 KB of jsonb per row.
Since migration 0063 the row's own part, its county `record`, is kept apart (`stored_text`) and
the rest stored once per distinct document per county (`stored_provenance.py`). `expand` gives
back `{field: entry}` from any form (rows written before, keyed by field, read as they are):
every reader goes through it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class SourceValues:
    """Everything one source said about one prospect."""

    source: str
    values: Mapping[str, Any]
    fetched_at: datetime
    priority: int = 50
    confidence: float = 0.8
    staleness_days: int | None = None
    field_confidence: Mapping[str, float] = field(default_factory=dict)  # per-field override
    kept_reason: str | None = None  # set: values kept from an earlier run while the source is down


def _json_safe(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_json_safe(x) for x in v]
    return str(v)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def is_missing(v: Any) -> bool:
    """A value that says nothing (None, NaN, NaT, empty text or collection): it never wins a field."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if not isinstance(v, (str, list, tuple, dict)) and v != v:  # NaN-like scalars (numpy, NaT)
        return True
    return isinstance(v, (str, list, tuple, dict)) and len(v) == 0


def merge_fields(
    sources: Iterable[SourceValues],
    *,
    now: datetime | None = None,
    expected_fields: Iterable[str] = (),
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """-> (values, provenance). See the module docstring for the rules."""
    now = _aware(now or datetime.now(UTC))
    ranked: dict[str, list[tuple[tuple[Any, ...], SourceValues, Any, float, bool]]] = {}
    for sv in sources:
        fetched = _aware(sv.fetched_at)
        stale = sv.staleness_days is not None and now - fetched > timedelta(days=sv.staleness_days)
        for name, value in sv.values.items():
            if is_missing(value):
                continue
            conf = float(sv.field_confidence.get(name, sv.confidence))
            key = (stale, sv.priority, -conf, -fetched.timestamp(), sv.source)
            ranked.setdefault(name, []).append((key, sv, value, conf, stale))

    values: dict[str, Any] = {}
    provenance: dict[str, dict[str, Any]] = {}
    # Fields won by the same source values with the same confidence and no conflicts share one
    # entry object (equal content, never mutated after this function): a prospect's ~25 entries
    # are then 2-3 dicts, a fifth of enrichment's memory per row (issue 17). JSON is unchanged.
    shared: dict[tuple[int, float, bool], dict[str, Any]] = {}
    for name in sorted(ranked):
        cands = sorted(ranked[name], key=lambda c: c[0])
        _, sv, value, conf, stale = cands[0]
        values[name] = value
        conflicts = [{"source": c[1].source, "value": _json_safe(c[2])}
                     for c in cands[1:] if _json_safe(c[2]) != _json_safe(value)]
        key = (id(sv), conf, stale)
        if not conflicts and key in shared:
            provenance[name] = shared[key]
            continue
        entry: dict[str, Any] = {
            "source": sv.source,
            "fetched_at": _aware(sv.fetched_at).isoformat(),
            "confidence": round(conf, 4),
        }
        if stale:
            entry["stale"] = True
        if sv.kept_reason:
            entry["kept"] = True
            entry["kept_reason"] = sv.kept_reason
        if conflicts:
            entry["conflicts"] = conflicts
        else:
            shared[key] = entry
        provenance[name] = entry
    unknown = {"source": None, "fetched_at": None, "confidence": None}
    for name in expected_fields:
        if name not in provenance:
            provenance[name] = unknown
    return values, provenance


GROUPS = "groups"  # the stored form's one key; never a field name (fields are `enrichment` columns)


def compact(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """`{field: entry}` → the stored form: one group per distinct entry (equal entries are one
    group), its fields sorted, groups in the order of their first field. `{}` stays `{}`."""
    groups: dict[str, tuple[Any, list[str]]] = {}
    for name in sorted(provenance):
        entry = provenance[name]
        key = json.dumps(_json_safe(entry), sort_keys=True)
        groups.setdefault(key, (entry, []))[1].append(name)
    return {GROUPS: [{"entry": entry, "fields": fields} for entry, fields in groups.values()]} if groups else {}


# The entry key a row's own part of its provenance is kept in: which county record the county's
# facts come from ("<source> sale <id>", pipeline._row). Every other part of a county's
# provenance repeats (a handful of documents), so the stored document leaves it out: the groups
# whose entry named it say `"record": true`, and the row keeps it in `enrichment.provenance_record`
# (migration 0063; `expand` and `stored_provenance.PROVENANCE_SQL` put it back).
RECORD = "record"


def stored_text(provenance: Mapping[str, Any], texts: dict[int, tuple[str, str | None]] | None = None
                ) -> tuple[str, str | None]:
    """The stored form as JSON text (the groups of `compact`, entries equal in their text being
    one group) and the row's `record`: taken out of the entries that name it, their groups marked
    `"record": true` — unless entries name different records, which then stay in them (None).
    Each distinct entry object is encoded once (`texts`, by id: a chunk's rows share most entry
    objects; the caller keeps them alive while it uses `texts`)."""
    from realestate_assets.db.copy_io import jsonb_text  # NUL and non-JSON values as the writer handles them

    texts = {} if texts is None else texts
    groups: dict[tuple[str, str | None], tuple[Any, list[str]]] = {}
    for name in sorted(provenance):
        entry = provenance[name]
        known = texts.get(id(entry))
        if known is None:
            record = entry.get(RECORD) if isinstance(entry, Mapping) else None
            known = texts[id(entry)] = (jsonb_text({k: v for k, v in entry.items() if k != RECORD}), record) \
                if isinstance(record, str) else (jsonb_text(entry), None)
        groups.setdefault(known, (entry, []))[1].append(name)
    if not groups:
        return "{}", None
    records = {record for _, record in groups if record is not None}
    record = records.pop() if len(records) == 1 else None
    parts = []
    for (text, named), (entry, fields) in groups.items():
        if named is not None and record is None:  # several records: each entry keeps its own
            text = jsonb_text(entry)
        parts.append(f'{{"entry": {text}, "fields": {json.dumps(fields, ensure_ascii=False)}'
                     + (', "record": true}' if named is not None and record is not None else "}"))
    return '{"groups": [' + ", ".join(parts) + "]}", record


def expand(recorded: Mapping[str, Any] | str | None, record: str | None = None) -> dict[str, Any]:
    """`{field: entry}` from a stored provenance: the grouped form, the per-field form of rows
    written before it, or both at once (a per-field key added to a grouped row, e.g. by SQL
    `provenance || jsonb_build_object(...)`, wins over its group); JSON text or decoded; NULL
    → `{}`. `record`: the row's `provenance_record`, put back into the entries of the groups
    marked `"record": true` (`stored_text`). Fields of one group share one entry object: read
    it, do not mutate it."""
    if isinstance(recorded, str):
        recorded = json.loads(recorded)
    if not isinstance(recorded, Mapping):
        return {}
    out: dict[str, Any] = {}
    groups = recorded.get(GROUPS)
    if isinstance(groups, list):
        for group in groups:
            entry = group["entry"]
            if record is not None and group.get(RECORD) is True:
                entry = {**entry, RECORD: record}
            for name in group["fields"]:
                out[name] = entry
    out.update((name, entry) for name, entry in recorded.items() if name != GROUPS or not isinstance(groups, list))
    return out


def provenance_json(provenance: Mapping[str, Any]) -> str:
    """Stable JSON text for a JSONB column (the stored form, `compact`)."""
    return json.dumps(_json_safe(compact(provenance)), sort_keys=True)


def kept_values(source: str, reason: str, values: Mapping[str, Any], provenance: Mapping[str, Any], *,
                priority: int = 50, confidence: float = 0.8, staleness_days: int | None = None
                ) -> list[SourceValues]:
    """What `source` said last time, from a previous row's `values` and `provenance` (either stored
    form, `expand`), to keep while
    it fails or is skipped: one SourceValues per original fetch time, with the recorded confidence.

    Only fields whose provenance names `source` and that hold a value are kept; derived fields
    (provenance with a `method`) are left out, as they are recomputed from their inputs.
    """
    groups: dict[str, dict[str, Any]] = {}
    confidences: dict[str, dict[str, float]] = {}
    for name, entry in expand(provenance).items():
        if not isinstance(entry, Mapping) or entry.get("source") != source or entry.get("method"):
            continue
        fetched = entry.get("fetched_at")
        value = values.get(name)
        if not isinstance(fetched, str) or is_missing(value) or _fetch_time(fetched) is None:
            continue  # nothing known, or a provenance we cannot date: keep nothing rather than guess
        groups.setdefault(fetched, {})[name] = value
        if entry.get("confidence") is not None:
            confidences.setdefault(fetched, {})[name] = float(entry["confidence"])
    return [SourceValues(source=source, values=group, fetched_at=_fetch_time(fetched), priority=priority,
                         confidence=confidence, staleness_days=staleness_days,
                         field_confidence=confidences.get(fetched, {}), kept_reason=reason)
            for fetched, group in sorted(groups.items())]


def _fetch_time(text: str) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def freshness(provenances: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """How much of a partition rests on kept or stale values: prospects with at least one such
    field, and kept/stale field counts by source."""
    tally = Freshness()
    tally.add(provenances)
    return tally.summary()


@dataclass
class Freshness:
    """`freshness` counted part by part: add each chunk's provenances, read the summary once
    (a streamed partition is never in memory at once)."""

    prospects: int = 0
    with_stale: int = 0
    with_kept: int = 0
    kept_by_source: dict[str, int] = field(default_factory=dict)
    stale_by_source: dict[str, int] = field(default_factory=dict)

    def add(self, provenances: Iterable[Mapping[str, Any] | str]) -> None:
        """Provenances as values or as their JSON text: a text is decoded only when it holds a
        `kept` or `stale` key (most hold neither; a JSON string's quotes are escaped, so the
        test finds keys, and a false match only costs the decoding)."""
        kept_by_source, stale_by_source = self.kept_by_source, self.stale_by_source
        for provenance in provenances:
            self.prospects += 1
            if isinstance(provenance, str) and '"kept"' not in provenance and '"stale"' not in provenance:
                continue
            entries = [e for e in expand(provenance).values() if isinstance(e, Mapping) and e.get("source")]
            self.with_stale += any(e.get("stale") for e in entries)
            self.with_kept += any(e.get("kept") for e in entries)
            for e in entries:
                if e.get("kept"):
                    kept_by_source[e["source"]] = kept_by_source.get(e["source"], 0) + 1
                if e.get("stale"):
                    stale_by_source[e["source"]] = stale_by_source.get(e["source"], 0) + 1

    def add_plain(self, count: int) -> None:
        """`count` provenances known to hold no kept and no stale entry."""
        self.prospects += count

    def summary(self) -> dict[str, Any]:
        prospects, with_stale = self.prospects, self.with_stale
        return {"prospects": prospects, "with_stale": with_stale, "with_kept": self.with_kept,
                "stale_share": round(with_stale / prospects, 4) if prospects else 0.0,
                "kept_fields_by_source": dict(self.kept_by_source),
                "stale_fields_by_source": dict(self.stale_by_source)}
