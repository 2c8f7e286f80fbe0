"""Automation: downstream partitions follow upstream ones; discovery runs on each county's cron."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from realestate_assets.definitions import build_definitions
from sensors.automation import automation_sensor

# County-partitioned downstream assets; packets and emails (county × tenant) are launched by
# sensors.tenants (tests/test_tenant_partitions.py), not by automation conditions.
DOWNSTREAM = ["enrichment", "features", "scores"]


def test_automation_sensor_starts_running() -> None:
    assert automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def report(instance: dg.DagsterInstance, defs: dg.Definitions, key: str, *, checks_pass: bool | None = True,
           county: str = "king_wa") -> None:
    """A materialization of `key` for `county` and the evaluation of its blocking checks (None: not yet).
    As in a run, each evaluation targets the materialization just written: a partitioned check's
    result counts only for the partition's latest materialization."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=county))
    if checks_pass is None:
        return
    (written,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[county]), limit=1).records
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=written.storage_id, run_id=written.run_id, timestamp=written.timestamp)
    for spec in defs.resolve_assets_def(key).check_specs:
        if not spec.blocking:
            continue
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(key), check_name=spec.name, passed=checks_pass, partition=county,
            target_materialization_data=target))


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
        assert result.get_num_requested(dg.AssetKey("packets")) == result.get_num_requested(dg.AssetKey("emails")) == 0


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


def test_a_failed_blocking_check_holds_back_only_its_own_county(repo_config: Path) -> None:
    """Check results are per partition: enrichment's failed coverage check in king_wa stops king_wa's
    features, not cook_il's."""
    defs = build_definitions(repo_config)
    counties = ("king_wa", "cook_il")
    with dg.instance_for_test() as instance:
        for county in counties:
            for key in ("sales", "listings", "assessor_roll", "prospects", "ml_model", *DOWNSTREAM):
                report(instance, defs, key, checks_pass=None if key == "enrichment" else True, county=county)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        report(instance, defs, "enrichment", checks_pass=False, county="king_wa")
        report(instance, defs, "enrichment", checks_pass=True, county="cook_il")
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
        assert result.get_requested_partitions(dg.AssetKey("features")) == {"cook_il"}


def test_county_discovery_sensor_requests_its_partition_and_skips_while_running(repo_config: Path,
                                                                                tmp_path: Path) -> None:
    """The code location's `discover_<county>` sensor (sensors/schedules.py; at chosen times and
    with overrides: tests/test_discovery_sensor.py), evaluated against the repository, so its
    request is validated against the partitioned discovery job."""
    from datetime import UTC, datetime, timedelta

    from resources import PlatformResource

    defs = build_definitions(repo_config)
    sensor = defs.resolve_sensor_def("discover_king_wa")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "discover_county"
    platform = {"platform": PlatformResource(config_dir=str(repo_config), state_dir=str(tmp_path / "state"))}
    week_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()  # a Monday tick fell due since
    with dg.instance_for_test() as instance:
        repository = defs.get_repository_def()

        def tick() -> dg.SensorExecutionData:
            with dg.build_sensor_context(instance=instance, repository_def=repository, cursor=week_ago,
                                         resources=platform) as context:
                return sensor.evaluate_tick(context)

        request = tick().run_requests[0]
        assert request.partition_key == "king_wa" and request.tags["county"] == "king_wa"

        job = defs.resolve_job_def("discover_county")
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED,
                                    tags={"dagster/partition": "king_wa"})
        skipped = tick()
        assert not skipped.run_requests and "still running" in skipped.skip_message
