"""Automation: downstream partitions follow upstream ones; discovery runs on each county's cron."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from realestate_assets.definitions import build_definitions
from sensors.automation import automation_sensor

DOWNSTREAM = ["enrichment", "features", "scores", "packets", "emails"]


def test_automation_sensor_starts_running() -> None:
    assert automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def report(instance: dg.DagsterInstance, defs: dg.Definitions, key: str, *, checks_pass: bool | None = True) -> None:
    """A materialization of `key` for king_wa and the evaluation of its blocking checks (None: not yet)."""
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="king_wa"))
    if checks_pass is None:
        return
    for spec in defs.resolve_assets_def(key).check_specs:
        if not spec.blocking:
            continue
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(key), check_name=spec.name, passed=checks_pass, partition="king_wa"))


def test_new_prospects_materialization_requests_downstream_partitions(repo_config: Path) -> None:
    defs = build_definitions(repo_config)
    with dg.instance_for_test() as instance:
        # Upstream exists: sales and prospects (and the model) were materialized for king_wa.
        for key in ("sales", "listings", "assessor_roll", "prospects", "ml_model", *DOWNSTREAM):
            report(instance, defs, key)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        assert settled.total_requested == 0  # nothing new upstream: nothing runs

        report(instance, defs, "prospects")
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        requested = {key: result.get_requested_partitions(dg.AssetKey(key)) for key in DOWNSTREAM}
        assert requested == {key: {"king_wa"} for key in DOWNSTREAM}
        assert result.get_num_requested(dg.AssetKey("prospects")) == 0


def test_a_failed_blocking_check_stops_automation_downstream(repo_config: Path) -> None:
    """`eager()` alone would run `features` after enrichment's blocking coverage check failed."""
    defs = build_definitions(repo_config)
    with dg.instance_for_test() as instance:
        for key in ("sales", "listings", "assessor_roll", "prospects", "ml_model", *DOWNSTREAM):
            report(instance, defs, key, checks_pass=None if key == "enrichment" else True)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        report(instance, defs, "enrichment", checks_pass=False)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        assert result.get_requested_partitions(dg.AssetKey("features")) == set()


def test_county_schedule_requests_its_partition_and_skips_while_running(repo_config: Path) -> None:
    defs = build_definitions(repo_config)
    schedule = defs.resolve_schedule_def("discover_king_wa")
    assert schedule.cron_schedule == "0 5 * * 1"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        repository = defs.get_repository_def()
        context = dg.build_schedule_context(instance=instance, repository_def=repository)
        request = schedule.evaluate_tick(context).run_requests[0]
        assert request.partition_key == "king_wa" and request.tags["county"] == "king_wa"

        job = defs.resolve_job_def("discover_county")
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED,
                                    tags={"dagster/partition": "king_wa"})
        skipped = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, repository_def=repository))
        assert not skipped.run_requests and "still running" in skipped.skip_message
