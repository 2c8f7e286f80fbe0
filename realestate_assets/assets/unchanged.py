"""Unchanged input, near-zero work: a stage whose inputs are what they were when it last wrote
its partition reports the partition unchanged instead of recomputing it (issue 17).

Each stage computes `inputs_digest` (db/input_fingerprints.py) over the rows it reads, the
settings it applies and the code version BEFORE it reads, so inputs that change during the run
can only make the next run recompute. `remember` records the digest, the state of the written
slice, each slice's version key and the check results on the materialization (metadata); the
next run reads the partition's latest materialization first (`input_fingerprint`), reads again
only the slices whose versions moved, and `unchanged`, when the digest and the slice state are the same,
answers with a materialization that says `unchanged: true` and re-reports the recorded checks
(the same inputs give the same rows, so the same results). Nothing is read or rewritten.
A write held back by a blocking audit is not remembered: the next run recomputes.
Both answer as `reported` yields: the materialization, then each check result on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from realestate_assets import gx_worker
from realestate_assets.assets.common import (
    Reported,
    latest_materialization,
    reported,
    table_metadata,
)
from realestate_assets.db.input_fingerprints import (
    Fingerprint,
    inputs_digest,
    loaded_slice_state,
    read_slices,
    slice_rows_of,
    written_state,
)
from realestate_assets.db.warehouse import SyncStats, Warehouse

FINGERPRINT = "input_fingerprint"
SLICE_STATE = "output_slice_state"
SLICES = "slice_versions"  # each slice read and its version key (db/slice_versions.py), for the next run
CHECKS = "recorded_checks"


@dataclass(frozen=True)
class Inputs:
    """A stage's fingerprint now, and what the partition's latest materialization recorded."""

    table: str
    companions: tuple[str, ...]
    fingerprint: Fingerprint
    previous: dict[str, Any] | None


def input_fingerprint(context: dg.AssetExecutionContext, wh: Warehouse, table: str, params: Mapping[str, Any], *,
                      tables: Sequence[str] = (), queries: Mapping[str, Sequence[str]] | None = None,
                      settings: Mapping[str, Any] | None = None, companions: Sequence[str] = (),
                      upstream: str | None = None) -> Inputs:
    """The stage's inputs as one digest: whole slices of `tables` it reads all of, the rows of
    `queries` (each with the tables it reads) over tables other stages also write, its `settings`,
    the code. Its output `table` (and `companions`: other tables the stage writes in the same
    transaction, `prospect_sources`) is read alongside. A slice whose version did not move since
    the last computing run recorded it is that run's record, not read again; nor is one the
    `upstream` asset's latest materialization of the partition recorded under its present version
    (the stage that wrote it, or read it: looked up only when this stage's own record leaves a part
    to read, so an unchanged re-run pays nothing for it)."""
    previous = _latest_metadata(context)
    known = _slices(previous)

    def upstream_slices() -> dict[str, Any]:
        return _slices(_latest_metadata(context, dg.AssetKey(upstream))) or {}

    fingerprint = inputs_digest(wh, params, tables=tables, queries=queries, settings=settings,
                                outputs=[table, *companions], known=known,
                                upstream=upstream_slices if upstream is not None else None)
    return Inputs(table, tuple(companions), fingerprint, previous)


def unchanged(context: dg.AssetExecutionContext, wh: Warehouse, params: Mapping[str, Any],
              inputs: Inputs) -> Reported | None:
    """The partition reported unchanged, or None when it has to be computed: the inputs' digest is
    the one recorded, and the output slices are as the computing run left them. Computed, the
    run's Great Expectations worker starts now if the run wants one (`gx_worker.prefetch`)."""
    previous, fingerprint, table = inputs.previous, inputs.fingerprint, inputs.table
    state = fingerprint.output_state
    if (previous is None or _value(previous.get(FINGERPRINT)) != fingerprint.digest
            or _value(previous.get(SLICE_STATE)) != state):
        gx_worker.prefetch()
        return None
    recorded = _value(previous.get(CHECKS)) or []
    rows = slice_rows_of(state)
    when = _value(previous.get("computed_at")) or "the last computing run"
    checks = [dg.AssetCheckResult(
        check_name=c["name"], passed=bool(c["passed"]),
        severity=dg.AssetCheckSeverity(c["severity"]),
        description=f"inputs unchanged since {when}; as then: {c['description']}") for c in recorded]
    metadata = table_metadata(table, rows, unchanged=True, computed_at=when,
                              **{FINGERPRINT: fingerprint.digest, SLICE_STATE: state,
                                 SLICES: dg.MetadataValue.json({**fingerprint.inputs, **fingerprint.outputs}),
                                 CHECKS: dg.MetadataValue.json(recorded)})
    context.log.info(f"{table} {context.partition_key}: inputs unchanged since {when}; nothing recomputed")
    return reported(context, dg.MaterializeResult(metadata=metadata, check_results=checks))


@dataclass(frozen=True)
class Written:
    """An output slice after the write: its rows (the metadata's row count; after a held-back
    write, the previous rows) and each table's [version key, state] (what `remember` records)."""

    rows: int
    slices: dict[str, list[str | None]]

    @property
    def state(self) -> str:
        return written_state(self.slices)


def written_slice(wh: Warehouse, table: str, params: Mapping[str, Any],
                  companions: Sequence[str] = (), writes: Sequence[SyncStats] = ()) -> Written:
    """The output slice after the write, read once, with the `companions`' (see `input_fingerprint`).
    `writes`: the committed writes of `table` and of each companion, in that order; when every one
    was a first load, the states (and their version keys, read in each write's transaction) are
    known from them and nothing is read (two scans of a million rows after `prospects`' commit,
    issue 17)."""
    names = [table, *companions]
    loaded = [loaded_slice_state(stats) for stats in writes]
    if len(loaded) == len(names) and None not in loaded:
        slices = {name: [stats.slice_version, state] for name, stats, state in zip(names, writes, loaded, strict=True)}
    else:
        slices = read_slices(wh, names, params)
    return Written(slice_rows_of(str(next(iter(slices.values()))[1])), slices)


def remember(context: dg.AssetExecutionContext, wh: Warehouse, params: Mapping[str, Any], inputs: Inputs,
             result: dg.MaterializeResult, published: bool = True, written: Written | None = None) -> Reported:
    """`result` with the digest, the output slices (`written` when the caller read them already,
    `written_slice`) and its checks recorded for the next run (only when the rows were published)."""
    extra: dict[str, Any] = {"unchanged": False}
    if published:
        written = written or written_slice(wh, inputs.table, params, inputs.companions)
        checks = [{"name": c.check_name, "passed": c.passed, "severity": c.severity.value,
                   "description": c.description or ""} for c in result.check_results or ()]
        extra.update({FINGERPRINT: inputs.fingerprint.digest, SLICE_STATE: written.state,
                      SLICES: dg.MetadataValue.json({**inputs.fingerprint.inputs, **written.slices}),
                      CHECKS: dg.MetadataValue.json(checks),
                      "computed_at": f"run {context.run_id[:8]}"})
    return reported(context, dg.MaterializeResult(
        metadata={**(result.metadata or {}), **extra}, check_results=result.check_results,
        data_version=result.data_version, tags=result.tags))


def _latest_metadata(context: dg.AssetExecutionContext, key: dg.AssetKey | None = None) -> dict[str, Any] | None:
    """The metadata of the partition's latest materialization of this asset (or of `key`)."""
    record = latest_materialization(context.instance, key or context.asset_key, context.partition_key)
    if record is None or record.asset_materialization is None:
        return None
    return dict(record.asset_materialization.metadata)


def _slices(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """The parts a materialization recorded (`SLICES`), or None."""
    found = _value(metadata.get(SLICES)) if metadata is not None else None
    return found if isinstance(found, dict) else None


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)
