"""Run history into the warehouse: every finished run's assets become `pipeline_runs` rows (0029).

One run-status sensor per final status (Dagster's `run_status_sensor` watches one status) reads the
run's step and materialization events from the instance and writes one row per asset: county
(partition), step outcome, start, end, duration and the rows the materialization reported
(`dagster/row_count`). The API's pipeline analytics read the table instead of asking Dagster per
request, and the insert's trigger tells the tenants following the county (`run_finished` on the
WebSocket). Idempotent on (run id, asset): a re-evaluated tick writes nothing new.

Wiring (definitions.py): `sensors=[..., *run_history_sensors]`; the sensors use `warehouse`.
"""

# No `from __future__ import annotations`: Dagster reads the sensor's parameter annotations to
# inject its resources.
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from partitions.tenants import county_and_tenant
from realestate_assets.db.warehouse import Warehouse
from resources import WarehouseResource

STATUSES = {dg.DagsterRunStatus.SUCCESS: "success", dg.DagsterRunStatus.FAILURE: "failure",
            dg.DagsterRunStatus.CANCELED: "canceled"}
EVENT_TYPES = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
               dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_MATERIALIZATION,
               dg.DagsterEventType.ASSET_CHECK_EVALUATION}
ROW_COUNT = "dagster/row_count"
COLUMNS = ("run_id", "asset", "county", "job_name", "run_status", "status", "started_at", "ended_at", "duration_s",
           "row_count")
INSERT_SQL = (f"INSERT INTO pipeline_runs ({', '.join(COLUMNS)}) "
              f"SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
              "%s::timestamptz[], %s::timestamptz[], %s::float8[], %s::bigint[]) "
              "ON CONFLICT (run_id, asset) DO NOTHING")


@dataclass(frozen=True)
class StepEvent:
    """What the history needs of one event log entry."""

    kind: dg.DagsterEventType
    step_key: str | None
    timestamp: float
    asset: str | None = None
    partition: str | None = None
    row_count: int | None = None


@dataclass(frozen=True)
class RunRow:
    run_id: str
    asset: str
    county: str | None
    job_name: str
    run_status: str
    status: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    row_count: int | None

    def values(self) -> tuple:
        return tuple(getattr(self, c) for c in COLUMNS)


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _county(partition: str | None) -> str | None:
    """The county of a run's or an event's partition: a tenant's (county, tenant) runs are the county's too."""
    return county_and_tenant(partition)[0] if partition else None


def run_rows(run_id: str, job_name: str, run_status: str, county: str | None, run_start: float, run_end: float,
             events: Iterable[StepEvent], planned_assets: Sequence[str] = ()) -> list[RunRow]:
    """One row per asset of the run (pure). A step's assets are those it materialized, else (a
    failed or unfinished step) the step key, which is the asset's name for our one-asset ops. A
    step that only evaluated checks, or succeeded without materializing, is no asset's. A planned
    asset no step reached gets the run's span and outcome `skipped` (a failed upstream step
    stopped it), so the analytics see what did not run."""
    starts: dict[str, float] = {}
    ends: dict[str, tuple[float, str]] = {}
    assets: dict[str, dict[str, tuple[str | None, int | None]]] = {}
    checks: set[str] = set()
    for event in events:
        step = event.step_key or ""
        if event.kind == dg.DagsterEventType.STEP_START:
            starts.setdefault(step, event.timestamp)
        elif event.kind == dg.DagsterEventType.STEP_SUCCESS:
            ends[step] = (event.timestamp, "success")
        elif event.kind == dg.DagsterEventType.STEP_FAILURE:
            ends[step] = (event.timestamp, "failure")
        elif event.kind == dg.DagsterEventType.ASSET_MATERIALIZATION and event.asset:
            assets.setdefault(step, {})[event.asset] = (event.partition, event.row_count)
        elif event.kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            checks.add(step)
    rows: dict[str, RunRow] = {}
    for step in sorted(starts.keys() | ends.keys() | assets.keys()):
        start = starts.get(step, run_start)
        end, status = ends.get(step, (run_end, "canceled"))
        if step not in assets and (status == "success" or step in checks
                                   or (planned_assets and step not in planned_assets)):
            continue
        for asset, (partition, row_count) in (assets.get(step) or {step: (None, None)}).items():
            rows[asset] = RunRow(run_id, asset, _county(partition or county), job_name, run_status, status, _at(start),
                                 _at(end), round(max(end - start, 0.0), 3), row_count)
    for asset in planned_assets:
        rows.setdefault(asset, RunRow(run_id, asset, _county(county), job_name, run_status, "skipped", _at(run_start),
                                      _at(run_end), round(max(run_end - run_start, 0.0), 3), None))
    return [rows[a] for a in sorted(rows)]


def _step_event(entry: dg.EventLogEntry) -> StepEvent | None:
    event = entry.dagster_event
    if event is None:
        return None
    materialization = entry.asset_materialization
    if materialization is None:
        return StepEvent(event.event_type, entry.step_key, entry.timestamp)
    count = materialization.metadata.get(ROW_COUNT)
    value = getattr(count, "value", count)
    return StepEvent(event.event_type, entry.step_key, entry.timestamp, materialization.asset_key.to_user_string(),
                     materialization.partition, int(value) if isinstance(value, int | float) else None)


def record_run(instance: dg.DagsterInstance, run: dg.DagsterRun, warehouse: Warehouse) -> list[RunRow]:
    """Read the finished run's events and write its rows (none twice). Also `reos materialize`'s,
    whose in-process runs no daemon sensor sees."""
    record = instance.get_run_record_by_id(run.run_id)
    stats = instance.get_run_stats(run.run_id)
    end = stats.end_time or (record.end_time if record else None) or datetime.now(UTC).timestamp()
    start = stats.start_time or (record.start_time if record else None) or end
    entries = instance.get_records_for_run(run.run_id, of_type=EVENT_TYPES, limit=10_000).records
    events = [e for e in (_step_event(r.event_log_entry) for r in entries) if e is not None]
    planned = sorted(k.to_user_string() for k in run.asset_selection or ())
    rows = run_rows(run.run_id, run.job_name, STATUSES.get(run.status, "failure"),
                    run.tags.get("dagster/partition") or run.tags.get("county"), start, end, events, planned)
    if rows:
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute(INSERT_SQL, [list(column) for column in zip(*(r.values() for r in rows), strict=True)])
    return rows


def _history_sensor(status: dg.DagsterRunStatus) -> dg.RunStatusSensorDefinition:
    name = f"reos_run_history_{STATUSES[status]}"

    @dg.run_status_sensor(
        run_status=status, name=name, minimum_interval_seconds=30, monitor_all_code_locations=False,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Records each run that ends in {STATUSES[status]} in pipeline_runs (asset, county, "
                    "status, duration, rows) for the API's pipeline analytics and live updates.")
    def history(context: dg.RunStatusSensorContext, warehouse: WarehouseResource) -> None:
        rows = record_run(context.instance, context.dagster_run, warehouse.get())
        context.log.info(f"run {context.dagster_run.run_id}: {len(rows)} asset row(s) recorded")

    return history


run_history_sensors = [_history_sensor(s) for s in STATUSES]
