"""Run history: a finished Dagster run becomes `pipeline_runs` rows (one per asset) and one
`run_finished` NOTIFY per tenant following its county; a re-evaluated tick adds nothing."""

from __future__ import annotations

import json
import select
import uuid
from datetime import UTC, datetime

import dagster as dg
import psycopg2

from realestate_assets.accounts import store
from resources import WarehouseResource
from sensors.run_history import StepEvent, record_run, run_history_sensors, run_rows
from tests.api.helpers_api import owner_cursor
from tests.databases import create_tenant, psycopg2_dsn

E = dg.DagsterEventType
JOB = "__ephemeral_asset_job__"  # dg.materialize's job


def test_rows_per_asset_from_step_events() -> None:
    events = [StepEvent(E.STEP_START, "prospects", 10.0),
              StepEvent(E.ASSET_MATERIALIZATION, "prospects", 14.0, "prospects", "king_wa", 400),
              StepEvent(E.STEP_SUCCESS, "prospects", 14.5),
              StepEvent(E.STEP_START, "enrichment", 15.0),
              StepEvent(E.STEP_FAILURE, "enrichment", 17.0),
              # A check-only step, failed or not, and an op materializing nothing: no asset's rows.
              StepEvent(E.STEP_START, "sales_checks", 15.0), StepEvent(E.ASSET_CHECK_EVALUATION, "sales_checks", 15.5),
              StepEvent(E.STEP_FAILURE, "sales_checks", 16.0),
              StepEvent(E.STEP_START, "notify_op", 15.0), StepEvent(E.STEP_SUCCESS, "notify_op", 15.1)]
    rows = {r.asset: r for r in run_rows("r1", "__ASSET_JOB", "failure", "king_wa", 9.0, 18.0, events,
                                         ["enrichment", "features", "prospects"])}
    assert (rows["prospects"].status, rows["prospects"].duration_s, rows["prospects"].row_count) == (
        "success", 4.5, 400)
    assert (rows["enrichment"].status, rows["enrichment"].duration_s, rows["enrichment"].row_count) == (
        "failure", 2.0, None)
    # Never started: a failed upstream stopped it; the run's span, so it still shows.
    assert (rows["features"].status, rows["features"].started_at) == ("skipped", datetime.fromtimestamp(9.0, UTC))
    assert {r.run_status for r in rows.values()} == {"failure"}
    assert set(rows) == {"prospects", "enrichment", "features"}


def test_a_tenant_run_is_recorded_under_its_county() -> None:
    """packets/emails run on (county, tenant): their rows are the county's pipeline, whatever tenant."""
    events = [StepEvent(E.STEP_START, "packets", 1.0),
              StepEvent(E.ASSET_MATERIALIZATION, "packets", 2.0, "packets", "king_wa|acme", 51),
              StepEvent(E.STEP_SUCCESS, "packets", 2.5)]
    rows = run_rows("r2", "__ASSET_JOB", "success", "king_wa|acme", 0.5, 3.0, events, ["emails", "packets"])
    assert {(r.asset, r.county) for r in rows} == {("packets", "king_wa"), ("emails", "king_wa")}


def _assets(county: str) -> list[dg.AssetsDefinition]:
    partitions = dg.StaticPartitionsDefinition([county])

    @dg.asset(partitions_def=partitions)
    def prospects() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": 12})

    @dg.asset(partitions_def=partitions, deps=[prospects])
    def enrichment() -> None:
        raise ValueError("the assessor API answered 503")

    return [prospects, enrichment]


def _notifications(conn) -> list[dict]:
    found = []
    while select.select([conn], [], [], 0.5)[0]:
        conn.poll()
        while conn.notifies:
            found.append(json.loads(conn.notifies.pop(0).payload))
    return [n for n in found if n.get("kind") == "run_finished"]


def test_the_sensor_records_a_failed_run_once_and_tells_the_followers(database_url: str) -> None:
    county = f"hist_{uuid.uuid4().hex[:6]}"
    follower, stranger = create_tenant(database_url), create_tenant(database_url)
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, follower, county)
    listener = psycopg2.connect(psycopg2_dsn(database_url))
    listener.autocommit = True
    listener.cursor().execute("LISTEN reos_live")
    sensor = next(s for s in run_history_sensors if s.name.endswith("failure"))
    warehouse = WarehouseResource(database_url=database_url)
    try:
        with dg.instance_for_test() as instance:
            result = dg.materialize(_assets(county), instance=instance, partition_key=county, raise_on_error=False)
            run = instance.get_run_by_id(result.run_id)
            (failure,) = instance.all_logs(result.run_id, of_type=E.RUN_FAILURE)
            with dg.build_run_status_sensor_context(
                    sensor_name=sensor.name, dagster_event=failure.dagster_event, dagster_instance=instance,
                    dagster_run=run, resources={"warehouse": warehouse}) as context:
                sensor(context)
            with owner_cursor(database_url) as cur:
                cur.execute("SELECT asset, county, job_name, run_status, status, duration_s >= 0, row_count "
                            "FROM pipeline_runs WHERE run_id = %s ORDER BY asset", (run.run_id,))
                assert cur.fetchall() == [("enrichment", county, JOB, "failure", "failure", True, None),
                                          ("prospects", county, JOB, "failure", "success", True, 12)]
            [event] = _notifications(listener)
            assert event == {"tenant": follower, "kind": "run_finished", "run_id": run.run_id, "county": county,
                             "job": JOB, "status": "failure", "assets": ["enrichment", "prospects"],
                             "ended_at": event["ended_at"]}
            assert stranger not in {event["tenant"]}
            # A re-evaluated tick: the same rows, no second notification.
            assert len(record_run(instance, run, warehouse.get())) == 2
            assert _notifications(listener) == []
            with owner_cursor(database_url) as cur:
                cur.execute("SELECT count(*) FROM pipeline_runs WHERE run_id = %s", (run.run_id,))
                assert cur.fetchone() == (2,)
    finally:
        listener.close()
