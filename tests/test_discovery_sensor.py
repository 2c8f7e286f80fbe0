"""Discovery on each county's effective cron (sensors/schedules.py): a `discover_<county>` sensor,
evaluated at chosen times over a real Dagster instance, asks for a run when a tick of the cron —
its file's, or a platform admin's override read from PostgreSQL at that evaluation — fell due
since its previous evaluation; never while a discovery run of the county is in progress."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from realestate_assets.config_models import ConfigError, load_counties, load_county
from realestate_assets.settings import repo_root
from resources import PlatformResource, WarehouseResource
from sensors.schedules import TICK_TAG, discovery_job, discovery_sensors, due_tick

# king_wa's file: Mondays 05:00 in America/Los_Angeles, i.e. 13:00 UTC in winter.
MONDAY_TICK = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)


def _county_dir(tmp_path: Path, key: str, **changes: Any) -> Path:
    base = yaml.safe_load((repo_root() / "config" / "counties" / "king_wa.yaml").read_text())
    (tmp_path / "counties").mkdir(exist_ok=True)
    (tmp_path / "counties" / f"{key}.yaml").write_text(yaml.safe_dump({**base, "key": key, **changes}))
    return tmp_path


def _platform(config_dir: Path, warehouse: WarehouseResource | None = None) -> dict[str, PlatformResource]:
    return {"platform": PlatformResource(config_dir=str(config_dir), state_dir=str(config_dir / "state"),
                                         warehouse=warehouse)}


class Clock:
    """The evaluation's time, set by the test."""

    def __init__(self) -> None:
        self.now = MONDAY_TICK

    def __call__(self) -> datetime:
        return self.now


def _evaluate(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, resources: dict[str, Any],
              cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor(context)


def test_due_tick_is_the_latest_tick_since_the_previous_evaluation() -> None:
    county = load_county(repo_root() / "config" / "counties" / "king_wa.yaml")
    before = MONDAY_TICK - timedelta(minutes=1)
    assert "first evaluation" in str(due_tick("king_wa", county, None, since=None, now=MONDAY_TICK))
    assert due_tick("king_wa", county, None, since=before, now=MONDAY_TICK) == MONDAY_TICK  # at the tick
    assert due_tick("king_wa", county, None, since=before, now=MONDAY_TICK + timedelta(seconds=50)) == MONDAY_TICK
    not_due = due_tick("king_wa", county, None, since=MONDAY_TICK, now=MONDAY_TICK + timedelta(minutes=1))
    assert isinstance(not_due, str) and "not due; next tick of '0 5 * * 1' (America/Los_Angeles) at 2026-12-14 05:00" \
        in not_due
    # Three weeks missed (daemon down): the latest tick only, once.
    three_weeks = MONDAY_TICK - timedelta(days=21)
    assert due_tick("king_wa", county, None, since=three_weeks, now=MONDAY_TICK + timedelta(hours=1)) == MONDAY_TICK
    # The tick is read in the county's time zone: 05:00 in Los Angeles, not 05:00 UTC.
    assert isinstance(due_tick("king_wa", county, None, since=datetime(2026, 12, 7, 4, 59, tzinfo=UTC),
                               now=datetime(2026, 12, 7, 5, 1, tzinfo=UTC)), str)
    assert due_tick("king_wa", None, "bad file", since=before, now=MONDAY_TICK) == (
        "county disabled: its configuration is invalid — bad file")
    off = county.model_copy(update={"sources": [s.model_copy(update={"enabled": False}) for s in county.sources]})
    assert "inactive" in str(due_tick("king_wa", off, None, since=before, now=MONDAY_TICK))


def test_the_sensor_runs_a_due_tick_once_and_never_on_a_running_discovery(tmp_path: Path) -> None:
    config = _county_dir(tmp_path, "king_wa")
    clock = Clock()
    (sensor,) = discovery_sensors(load_counties(config), clock=clock)
    assert sensor.name == "discover_king_wa" and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    files = _platform(config)
    with dg.instance_for_test() as instance:
        clock.now = MONDAY_TICK - timedelta(minutes=5)
        first = _evaluate(sensor, instance, files, None)  # turned on: nothing runs, the time is recorded
        assert not first.run_requests and "first evaluation" in first.skip_reason.skip_message
        clock.now = MONDAY_TICK - timedelta(minutes=4)
        quiet = _evaluate(sensor, instance, files, first.cursor)
        assert not quiet.run_requests and "not due" in quiet.skip_reason.skip_message

        clock.now = MONDAY_TICK + timedelta(seconds=30)
        due = _evaluate(sensor, instance, files, quiet.cursor)
        (request,) = due.run_requests
        assert request.partition_key == "king_wa" and request.tags["county"] == "king_wa"
        assert request.run_key == "king_wa@2026-12-07T05:00:00-08:00"  # the tick, in the county's time zone
        assert datetime.fromisoformat(request.tags[TICK_TAG]) == MONDAY_TICK
        assert request.tags["reos/cron"] == "0 5 * * 1 (America/Los_Angeles)"
        # The same tick evaluated again from the same cursor (a cursor not saved): the same run key,
        # which Dagster launches once per sensor.
        assert _evaluate(sensor, instance, files, quiet.cursor).run_requests[0].run_key == request.run_key
        clock.now = MONDAY_TICK + timedelta(seconds=90)
        assert not _evaluate(sensor, instance, files, due.cursor).run_requests  # already run

        # Next Monday's tick while last week's discovery is still running: skipped, not stacked.
        instance.add_run(dg.DagsterRun(job_name=discovery_job.name, run_id=str(uuid.uuid4()),
                                       status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": "king_wa"}))
        clock.now = MONDAY_TICK + timedelta(days=7, seconds=10)
        running = _evaluate(sensor, instance, files, due.cursor)
        assert not running.run_requests and "still running" in running.skip_reason.skip_message
        assert "tick is skipped" in running.skip_reason.skip_message


def test_an_inactive_county_starts_stopped(tmp_path: Path) -> None:
    base = yaml.safe_load((repo_root() / "config" / "counties" / "king_wa.yaml").read_text())
    config = _county_dir(tmp_path, "idle_wa", sources=[{**s, "enabled": False} for s in base["sources"]])
    (sensor,) = discovery_sensors(load_counties(config))
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_an_override_of_the_cron_applies_at_the_next_evaluation(tmp_path: Path, database_url: str) -> None:
    """The cron a platform admin writes to county_overrides is read from PostgreSQL at each
    evaluation: no reload of the code location."""
    from realestate_assets.db.county_overrides import write_override
    from tests.api.helpers_api import owner_cursor

    key = f"ds_{uuid.uuid4().hex[:6]}"  # county_overrides is one table for the whole test database
    config = _county_dir(tmp_path, key)
    clock = Clock()
    (sensor,) = discovery_sensors(load_counties(config), clock=clock)
    live = _platform(config, WarehouseResource(database_url=database_url))
    files = _platform(config)
    tuesday_six = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)  # no tick of the file's Monday cron
    since = (tuesday_six - timedelta(minutes=1)).isoformat()
    clock.now = tuesday_six + timedelta(seconds=20)
    try:
        with dg.instance_for_test() as instance:
            assert not _evaluate(sensor, instance, live, since).run_requests  # the file's cron: not due
            with owner_cursor(database_url) as cur:
                assert write_override(cur, key, {"schedule.cron": "0 6 * * *", "schedule.timezone": "UTC"},
                                      based_on=0, reason="daily discovery", user_id=None)
            (request,) = _evaluate(sensor, instance, live, since).run_requests
            assert request.run_key == f"{key}@2026-12-08T06:00:00+00:00"
            assert request.tags["reos/cron"] == "0 6 * * * (UTC)"
            assert not _evaluate(sensor, instance, files, since).run_requests  # the file alone: still Mondays

            # An override the county no longer admits (written behind the API's back): the county
            # is disabled, the sensor says why and runs nothing.
            with owner_cursor(database_url) as cur:
                assert write_override(cur, key, {"schedule.timezone": "Mars/Olympus"}, based_on=1,
                                      reason="test", user_id=None)
            with pytest.raises(ConfigError):
                live["platform"].county(key)
            skipped = _evaluate(sensor, instance, live, since)
            assert not skipped.run_requests
            assert skipped.skip_reason.skip_message.startswith("county disabled")
            assert "Mars/Olympus" in skipped.skip_reason.skip_message
    finally:
        with owner_cursor(database_url) as cur:
            cur.execute("DELETE FROM county_overrides WHERE county = %s", (key,))


def test_a_bad_cron_or_timezone_in_a_file_disables_only_that_county(tmp_path: Path) -> None:
    from realestate_assets.config_models import read_county_files

    _county_dir(tmp_path, "king_wa")
    _county_dir(tmp_path, "bad_cron", schedule={"cron": "0 5 * *", "timezone": "UTC"})
    _county_dir(tmp_path, "bad_zone", schedule={"cron": "0 5 * * 1", "timezone": "Pacific"})
    files = read_county_files(tmp_path)
    assert list(files.counties) == ["king_wa"]
    assert "schedule.cron: Value error, '0 5 * *' is not a valid cron expression" in files.invalid["bad_cron"]
    assert "schedule.timezone: Value error, 'Pacific' is not an IANA time zone name" in files.invalid["bad_zone"]
