"""Unchanged input, near-zero work: a stage whose inputs are what they were when it last wrote
its partition reports the partition unchanged instead of recomputing it (issue 17).

Each stage computes `inputs_digest` (db/input_fingerprints.py) over the rows it reads, the
settings it applies and the code version BEFORE it reads, so inputs that change during the run
can only make the next run recompute. `remember` records the digest, the state of the written
slice and the check results on the materialization (metadata); `unchanged` finds the
partition's latest materialization and, when the digest and the slice state are the same,
answers with a materialization that says `unchanged: true` and re-reports the recorded checks
(the same inputs give the same rows, so the same results). Nothing is read or rewritten.
A write held back by a blocking audit is not remembered: the next run recomputes.
Both answer as `reported` yields: the materialization, then each check result on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from realestate_assets.assets.common import (
    COLUMN_SCHEMA,
    Reported,
    latest_materialization,
    reported,
    table_metadata,
)
from realestate_assets.db.input_fingerprints import (
    inputs_digest,
    loaded_slice_state,
    slice_rows_of,
    slice_state,
    slice_states,
)
from realestate_assets.db.warehouse import SyncStats, Warehouse

FINGERPRINT = "input_fingerprint"
SLICE_STATE = "output_slice_state"
CHECKS = "recorded_checks"


def input_fingerprint(wh: Warehouse, params: Mapping[str, Any], *, tables: Sequence[str] = (),
                      queries: Sequence[str] = (), settings: Mapping[str, Any] | None = None) -> str:
    """The stage's inputs as one digest: whole slices of `tables` it reads all of, the rows of
    `queries` over tables other stages also write, its `settings`, the code."""
    return inputs_digest(wh, params, tables=tables, queries=queries, settings=settings)


def unchanged(context: dg.AssetExecutionContext, wh: Warehouse, table: str, params: Mapping[str, Any],
              digest: str, companions: Sequence[str] = ()) -> Reported | None:
    """The partition reported unchanged, or None when it has to be computed. `companions`: other
    tables the stage writes in the same transaction (`prospect_sources`), whose slices must be
    as it left them too."""
    previous = _latest_metadata(context)
    if previous is None or _value(previous.get(FINGERPRINT)) != digest:
        return None
    state = _output_state(wh, table, params, companions)
    if _value(previous.get(SLICE_STATE)) != state:
        return None
    recorded = _value(previous.get(CHECKS)) or []
    rows = slice_rows_of(state)
    when = _value(previous.get("computed_at")) or "the last computing run"
    checks = [dg.AssetCheckResult(
        check_name=c["name"], passed=bool(c["passed"]),
        severity=dg.AssetCheckSeverity(c["severity"]),
        description=f"inputs unchanged since {when}; as then: {c['description']}") for c in recorded]
    # The column schema as the computing run recorded it: the same code (the digest covers it,
    # the migrations included) means the same columns and comments, and a run worker that skips
    # need not read them from information_schema and pg_description (two queries a table, each
    # step of a new process; thirty-fourth round (b)).
    schema = _value(previous.get(COLUMN_SCHEMA))
    metadata = table_metadata(wh, table, rows, schema=schema if isinstance(schema, dg.TableSchema) else None,
                              unchanged=True, computed_at=when,
                              **{FINGERPRINT: digest, SLICE_STATE: state,
                                 CHECKS: dg.MetadataValue.json(recorded)})
    context.log.info(f"{table} {context.partition_key}: inputs unchanged since {when}; nothing recomputed")
    return reported(context, dg.MaterializeResult(metadata=metadata, check_results=checks))


def written_slice(wh: Warehouse, table: str, params: Mapping[str, Any],
                  companions: Sequence[str] = (), writes: Sequence[SyncStats] = ()) -> tuple[int, str]:
    """The output slice after the write, read once: its rows (the metadata's row count; after a
    held-back write, the previous rows) and its state (what `remember` records), with the
    `companions`' (see `unchanged`). `writes`: the committed writes of `table` and of each
    companion, in that order; when every one was a first load, the states are known from them
    and nothing is read (two scans of a million rows after `prospects`' commit, issue 17)."""
    loaded = [loaded_slice_state(stats) for stats in writes]
    if len(loaded) == 1 + len(companions) and None not in loaded:
        state = ";".join(s for s in loaded if s is not None)
    else:
        state = _output_state(wh, table, params, companions)
    return slice_rows_of(state), state


def _output_state(wh: Warehouse, table: str, params: Mapping[str, Any], companions: Sequence[str]) -> str:
    """The slice states of `table` then of each companion, `;`-joined (the count `slice_rows_of`
    reads is the table's, first): one statement for all of them."""
    return ";".join(slice_states(wh, [table, *companions], params))


def remember(context: dg.AssetExecutionContext, wh: Warehouse, table: str, params: Mapping[str, Any],
             digest: str, result: dg.MaterializeResult, published: bool = True,
             state: str | None = None) -> Reported:
    """`result` with the digest, the slice's state (`state` when the caller read it already,
    `written_slice`) and its checks recorded for the next run (only when the rows were published)."""
    extra: dict[str, Any] = {"unchanged": False}
    if published:
        checks = [{"name": c.check_name, "passed": c.passed, "severity": c.severity.value,
                   "description": c.description or ""} for c in result.check_results or ()]
        extra.update({FINGERPRINT: digest, SLICE_STATE: state or slice_state(wh, table, params),
                      CHECKS: dg.MetadataValue.json(checks),
                      "computed_at": f"run {context.run_id[:8]}"})
    return reported(context, dg.MaterializeResult(
        metadata={**(result.metadata or {}), **extra}, check_results=result.check_results,
        data_version=result.data_version, tags=result.tags))


def _latest_metadata(context: dg.AssetExecutionContext) -> dict[str, Any] | None:
    record = latest_materialization(context.instance, context.asset_key, context.partition_key)
    if record is None or record.asset_materialization is None:
        return None
    return dict(record.asset_materialization.metadata)


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)
