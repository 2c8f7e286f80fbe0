"""Merge one prospect's field values from several sources, keeping where each came from.

Pure: no I/O, no clock unless you pass `now`. For each field the winner is the value that is

1. not stale (younger than its source's `staleness_days`; stale values still win when nothing
   fresh exists, and are marked `stale: true`),
2. from the source with the lowest `priority` number,
3. with the highest confidence,
4. then the newest, then the source name (so ties are deterministic).

None never wins: a source that did not know a field does not erase another's value.
The provenance dict is JSON-serializable (ISO timestamps, plain values) and has, per field,
`{"source", "fetched_at", "confidence"}` plus `stale` and `conflicts` (the other sources'
*different* values) when they apply. `expected_fields` that nobody filled are recorded with
`"source": null` so that a NULL column is explained, not just empty.
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


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
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
            if _is_missing(value):
                continue
            conf = float(sv.field_confidence.get(name, sv.confidence))
            key = (stale, sv.priority, -conf, -fetched.timestamp(), sv.source)
            ranked.setdefault(name, []).append((key, sv, value, conf, stale))

    values: dict[str, Any] = {}
    provenance: dict[str, dict[str, Any]] = {}
    for name in sorted(ranked):
        cands = sorted(ranked[name], key=lambda c: c[0])
        _, sv, value, conf, stale = cands[0]
        values[name] = value
        entry: dict[str, Any] = {
            "source": sv.source,
            "fetched_at": _aware(sv.fetched_at).isoformat(),
            "confidence": round(conf, 4),
        }
        if stale:
            entry["stale"] = True
        conflicts = [{"source": c[1].source, "value": _json_safe(c[2])}
                     for c in cands[1:] if _json_safe(c[2]) != _json_safe(value)]
        if conflicts:
            entry["conflicts"] = conflicts
        provenance[name] = entry
    for name in expected_fields:
        if name not in provenance:
            provenance[name] = {"source": None, "fetched_at": None, "confidence": None}
    return values, provenance


def provenance_json(provenance: Mapping[str, Any]) -> str:
    """Stable JSON text for a JSONB column."""
    return json.dumps(_json_safe(provenance), sort_keys=True)
