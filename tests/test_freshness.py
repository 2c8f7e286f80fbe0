"""Freshness: a policy on every table from the county cadences, and per-county staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from realestate_assets.activity import county_activity
from realestate_assets.config_models import load_counties
from resources import PlatformResource
from sensors.freshness import (
    CHECK_NAME,
    GRACE,
    Cadence,
    cadences,
    county_freshness_sensor,
    cycle,
    partition_freshness,
    policy_for,
    with_freshness,
)

ROOT = Path(__file__).resolve().parents[1]
WEEKLY = Cadence("0 5 * * 1", "America/Los_Angeles")  # king_wa: Mondays 05:00 county time


def test_cycle_of_a_cron():
    assert cycle("0 5 * * 1", "America/Los_Angeles") == timedelta(days=7)
    assert cycle("0 6 * * *") == timedelta(days=1)
    # Monthly: the longest gap (31 days) is the cycle.
    assert cycle("0 0 1 * *") == timedelta(days=31)


def test_policy_spans_the_slowest_county_and_warns_after_the_fastest():
    policy = policy_for({"a": WEEKLY, "b": Cadence("0 6 * * *", "UTC")})
    assert isinstance(policy, dg.FreshnessPolicy)
    assert policy.fail_window.to_timedelta() == timedelta(days=7) + GRACE
    assert policy.warn_window.to_timedelta() == timedelta(days=1) + GRACE
    same = policy_for({"a": WEEKLY})
    assert same.warn_window is None
    assert policy_for({}) is None


def test_partition_freshness_against_the_last_tick():
    now = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # a Wednesday
    # Last Monday 05:00 Los Angeles = 13:00 UTC on 2026-11-30.
    tick = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    fresh, why = partition_freshness(tick + timedelta(hours=1), WEEKLY, now)
    assert fresh, why
    stale, why = partition_freshness(tick - timedelta(days=1), WEEKLY, now)
    assert not stale and "before the 2026-11-30" in why
    never, why = partition_freshness(None, WEEKLY, now)
    assert not never and "never materialized" in why
    # Within the grace period after a tick, the previous tick is what counts.
    early = tick + GRACE - timedelta(minutes=1)
    assert partition_freshness(tick - timedelta(days=1), WEEKLY, early)[0]


def test_every_table_gets_a_policy_and_a_county_check():
    from partitions.tenants import TENANT_ASSETS
    from realestate_assets.definitions import build_definitions

    counties = load_counties()
    defs = build_definitions()  # applies with_freshness once, in definitions.py
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]
    assert keys
    for key in keys:
        node = graph.get(key)
        assert isinstance(node.freshness_policy, dg.FreshnessPolicy), key
        # Per county: the (county × tenant) assets follow their county's scores (sensors.tenants).
        per_county = key.to_user_string() not in TENANT_ASSETS
        assert (dg.AssetCheckKey(key, CHECK_NAME) in graph.asset_check_keys) == per_county, key
    # ml_model follows training (weekly, config/scoring.yaml); tables follow discovery.
    ml = graph.get(dg.AssetKey("ml_model")).freshness_policy
    assert ml.fail_window.to_timedelta() == timedelta(days=7) + GRACE
    # Inactive counties do not shorten or lengthen any policy.
    assert any(not county_activity(c)[0] for c in counties.values())


def _two_counties(tmp_path: Path) -> dict:
    base = yaml.safe_load((ROOT / "config" / "counties" / "king_wa.yaml").read_text())
    (tmp_path / "counties").mkdir()
    for key in ("king_wa", "pierce_wa"):
        (tmp_path / "counties" / f"{key}.yaml").write_text(yaml.safe_dump(base))
    disabled = {**base, "sources": [{**base["sources"][0], "enabled": False}]}
    (tmp_path / "counties" / "idle_wa.yaml").write_text(yaml.safe_dump(disabled))
    return load_counties(tmp_path)


def _files(config_dir: Path, warehouse: Any = None) -> PlatformResource:
    """The counties as their steps read them: the files under `config_dir`, with the overrides in
    `warehouse` (None: the files alone)."""
    return PlatformResource(config_dir=str(config_dir), state_dir=str(config_dir / "state"), warehouse=warehouse)


def _tick(sensor: Any, instance: Any, resources: dict[str, Any], cursor: str | None = None) -> Any:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor(context)


def test_sensor_records_staleness_per_county_and_only_on_change(tmp_path):
    counties = _two_counties(tmp_path)
    partitions = dg.StaticPartitionsDefinition(sorted(counties))

    @dg.asset(partitions_def=partitions)
    def sales() -> None:
        return None

    wrapped = with_freshness([sales], counties, training_cron="0 4 * * 0")
    sensor = county_freshness_sensor(counties, asset_keys=[sales.key], training_cron="0 4 * * 0")
    files = {"platform": _files(tmp_path)}
    with dg.instance_for_test() as instance:
        # king_wa refreshed now; pierce_wa never; idle_wa is inactive and never judged.
        result = dg.materialize(wrapped, instance=instance, partition_key="king_wa", resources=files)
        assert result.success
        (check_eval,) = result.get_asset_check_evaluations()
        assert check_eval.check_name == CHECK_NAME and check_eval.passed

        first = _tick(sensor, instance, files)
        by_county = {e.partition: e for e in first.asset_events}
        assert set(by_county) == {"king_wa", "pierce_wa"}
        assert by_county["king_wa"].passed
        assert not by_county["pierce_wa"].passed and "never materialized" in by_county["pierce_wa"].description

        # Nothing changed: nothing recorded again.
        second = _tick(sensor, instance, files, first.cursor)
        assert second.asset_events == []

        # pierce_wa catches up: one event, fresh again.
        dg.materialize(wrapped, instance=instance, partition_key="pierce_wa", resources=files)
        third = _tick(sensor, instance, files, second.cursor or first.cursor)
        assert [(e.partition, e.passed) for e in third.asset_events] == [("pierce_wa", True)]


def test_freshness_daemon_is_on_in_every_instance_config(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    for path in (ROOT / "dagster.yaml", ROOT / "deploy" / "dagster.yaml"):
        assert yaml.safe_load(path.read_text())["freshness"] == {"enabled": True}, path
    # The local instance file is what `make dev` copies into DAGSTER_HOME: it must stay valid.
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["freshness"] == {"enabled": True}
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert values["dagster"]["additionalInstanceConfig"]["freshness"] == {"enabled": True}


@pytest.mark.parametrize("key", ["king_wa"])
def test_county_activity_of_shipped_counties(key):
    active, reason = county_activity(load_counties()[key])
    assert active and reason.startswith(f"{key}: active")


def test_sensor_finds_the_checked_assets_of_its_code_location(tmp_path):
    counties = _two_counties(tmp_path)
    partitions = dg.StaticPartitionsDefinition(sorted(counties))

    @dg.asset(partitions_def=partitions)
    def scores() -> None:
        return None

    sensor = county_freshness_sensor(counties, training_cron="0 4 * * 0")
    defs = dg.Definitions(assets=with_freshness([scores], counties, training_cron="0 4 * * 0"), sensors=[sensor],
                          resources={"platform": _files(tmp_path)})
    with dg.instance_for_test() as instance, dg.build_sensor_context(
            instance=instance, definitions=defs, resources={"platform": _files(tmp_path)}) as context:
        result = sensor(context)
        assert {(e.asset_key, e.partition, e.passed) for e in result.asset_events} == {
            (scores.key, "king_wa", False), (scores.key, "pierce_wa", False)}


def test_county_without_an_enabled_discovery_source_is_inactive_with_a_reason(tmp_path):
    counties = _two_counties(tmp_path)
    active, reason = county_activity(counties["idle_wa"])
    assert not active
    assert reason == ("idle_wa: inactive — every source is disabled (kc_assessor_sales); "
                      "set `enabled: true` on one in config/counties/idle_wa.yaml")
    assessor_only = counties["king_wa"].model_copy(update={"sources": [
        counties["king_wa"].sources[0].model_copy(update={"provides": "assessor"})]})
    active, reason = county_activity(assessor_only)
    assert not active and "only provide assessor" in reason
    # Every shipped county gets a one-line answer.
    assert all("\n" not in county_activity(c)[1] for c in load_counties().values())


def test_definitions_carry_freshness_and_alerts(monkeypatch):
    """build_definitions applies the freshness policies and registers both sensors and the alerts resource."""
    from realestate_assets.definitions import build_definitions

    monkeypatch.setenv("REOS_ALERT_EMAILS", "oncall@example.com")
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {"reos_run_failure_alerts", "reos_county_freshness"} <= {s.name for s in repo.sensor_defs}
    assert defs.resources["alerts"].email_to == ["oncall@example.com"]
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).freshness_policy is not None, key


def test_a_run_time_override_shows_on_the_county_checks(tmp_path, database_url):
    """county_fresh judges the county as its steps run it now (PlatformResource.county): an
    override's changed thresholds are named, one that switches discovery off fails it (WARN), one
    the file no longer admits fails it (ERROR) — in the check and in the sensor, with no reload."""
    import uuid

    from realestate_assets.db.county_overrides import write_override
    from resources import WarehouseResource
    from tests.api.helpers_api import owner_cursor

    key = f"ov_{uuid.uuid4().hex[:6]}"  # county_overrides is one table for the whole test database
    base = yaml.safe_load((ROOT / "config" / "counties" / "king_wa.yaml").read_text())
    (tmp_path / "counties").mkdir()
    (tmp_path / "counties" / f"{key}.yaml").write_text(yaml.safe_dump({**base, "key": key}))
    counties = load_counties(tmp_path)
    partitions = dg.StaticPartitionsDefinition([key])

    @dg.asset(partitions_def=partitions)
    def sales() -> None:
        return None

    wrapped = with_freshness([sales], counties, training_cron="0 4 * * 0")
    sensor = county_freshness_sensor(counties, asset_keys=[sales.key], training_cron="0 4 * * 0")
    live = {"platform": _files(tmp_path, WarehouseResource(database_url=database_url))}

    def override(patch: dict, based_on: int) -> None:
        with owner_cursor(database_url) as cur:
            assert write_override(cur, key, patch, based_on=based_on, reason="test", user_id=None)

    def check(instance: Any) -> Any:
        result = dg.materialize(wrapped, instance=instance, partition_key=key, resources=live)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    with dg.instance_for_test() as instance:
        override({"quality.max_reject_rate": 0.5}, 0)
        tuned = check(instance)
        assert tuned.passed and "run-time override: quality.max_reject_rate" in tuned.description
        assert "→ 0.5" in tuned.description
        assert tuned.metadata["override"].value["quality.max_reject_rate"][1] == 0.5
        first = _tick(sensor, instance, live)
        assert [(e.partition, e.passed) for e in first.asset_events] == [(key, True)]

        override({"quality.max_reject_rate": 0.5, "sources.kc_assessor_sales.enabled": False}, 1)
        off = check(instance)
        assert not off.passed and off.severity == dg.AssetCheckSeverity.WARN
        assert off.description.startswith(f"{key} is switched off by its run-time override")
        assert "sources.kc_assessor_sales.enabled True → False" in off.description
        second = _tick(sensor, instance, live, first.cursor)
        (event,) = second.asset_events  # the state changed: recorded once
        assert not event.passed and "switched off" in event.description
        assert _tick(sensor, instance, live, second.cursor).asset_events == []

        override({"sources.gone.enabled": False}, 2)
        broken = check(instance)
        assert not broken.passed and broken.severity == dg.AssetCheckSeverity.ERROR
        assert broken.description.startswith("county disabled: its configuration is invalid")
        assert "county_overrides version 3" in broken.description
        (event,) = _tick(sensor, instance, live, second.cursor).asset_events
        assert event.severity == dg.AssetCheckSeverity.ERROR


def _config_with_two_counties(tmp_path: Path) -> tuple[Path, dict]:
    """The repository's config directory with _two_counties' counties in place of its own."""
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("counties"))
    return config, _two_counties(config)


def _policies(defs: dg.Definitions) -> tuple[Any, Any]:
    graph = defs.resolve_asset_graph()
    return graph.get(dg.AssetKey("sales")).freshness_policy, graph.get(dg.AssetKey("ml_model")).freshness_policy


def test_the_code_location_builds_its_freshness_policies_from_the_overrides_read_at_load(tmp_path, database_url):
    """definitions.counties_for_policies: at load, each county as its steps run it (file +
    override, through read_county_files, the one function that applies overrides), so the
    daemon's windows follow an override after the location reloads. Partitions stay the files'."""
    import uuid

    from realestate_assets.db.county_overrides import write_override
    from realestate_assets.definitions import POLICIES_FROM, build_definitions, resources_for
    from realestate_assets.settings import LocalSettings
    from tests.api.helpers_api import owner_cursor

    config, _ = _config_with_two_counties(tmp_path)  # king_wa and pierce_wa weekly, idle_wa inactive
    key = f"ov_{uuid.uuid4().hex[:6]}"  # county_overrides is one table for the whole test database
    (config / "counties" / "pierce_wa.yaml").rename(config / "counties" / f"{key}.yaml")
    settings = LocalSettings(config_dir=config, state_dir=tmp_path / "state")

    def load() -> dg.Definitions:
        defs = build_definitions(deployment=resources_for("local", settings, database_url=database_url))
        dg.Definitions.validate_loadable(defs)
        return defs

    weekly = timedelta(days=7) + GRACE
    sales, _ = _policies(load())
    assert sales.fail_window.to_timedelta() == weekly and sales.warn_window is None
    try:
        with owner_cursor(database_url) as cur:
            assert write_override(cur, key, {"schedule.cron": "0 6 * * *", "schedule.timezone": "UTC"},
                                  based_on=0, reason="daily", user_id=None)
        defs = load()
        sales, ml_model = _policies(defs)
        assert sales.fail_window.to_timedelta() == weekly  # king_wa, still weekly
        assert sales.warn_window.to_timedelta() == timedelta(days=1) + GRACE  # the override's daily cycle
        assert ml_model.fail_window.to_timedelta() == weekly  # training's cadence, not the discovery cron
        assert "run-time overrides" in defs.metadata[POLICIES_FROM].value
        assert sorted(defs.resolve_asset_graph().get(dg.AssetKey("sales")).partitions_def.get_partition_keys()
                      ) == sorted(["idle_wa", "king_wa", key])

        # Its only discovery source switched off: the county is inactive, out of the policies.
        with owner_cursor(database_url) as cur:
            assert write_override(cur, key, {"schedule.cron": "0 6 * * *", "sources.kc_assessor_sales.enabled": False},
                                  based_on=1, reason="source down", user_id=None)
        sales, _ = _policies(load())
        assert sales.fail_window.to_timedelta() == weekly and sales.warn_window is None
    finally:
        with owner_cursor(database_url) as cur:
            cur.execute("DELETE FROM county_overrides WHERE county = %s", (key,))


def test_without_a_reachable_database_the_location_loads_with_the_files_policies(tmp_path, monkeypatch):
    from realestate_assets.definitions import POLICIES_FROM, build_definitions, resources_for
    from realestate_assets.settings import LocalSettings

    monkeypatch.delenv("DATABASE_URL", raising=False)
    config, counties = _config_with_two_counties(tmp_path)
    settings = LocalSettings(config_dir=config, state_dir=tmp_path / "state")
    expected = policy_for(cadences(counties)["discovery"])
    for url, says in (("postgresql://postgres@127.0.0.1:1/nowhere", "could not be read"),  # nothing listens
                      ("", "the embedded PostgreSQL is not running")):  # none started for the load
        defs = build_definitions(deployment=resources_for("local", settings, database_url=url))
        dg.Definitions.validate_loadable(defs)
        sales, _ = _policies(defs)
        assert sales == expected
        assert defs.metadata[POLICIES_FROM].value.startswith("county files alone") and says in defs.metadata[
            POLICIES_FROM].value
    assert not (tmp_path / "state" / "pg" / "postmaster.pid").exists()
