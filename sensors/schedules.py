"""Discovery runs on each county's own cron; the rest of the graph follows by automation.

The cron is the county's *effective* one — its file with a platform admin's run-time override
(county_overrides, `schedule.cron` / `schedule.timezone`) — so an edit through PATCH
/settings/counties/{county} applies without reloading the code location. A Dagster schedule
cannot do that (`ScheduleDefinition.cron_schedule` is read when the code location loads), so each
county has a sensor, `discover_<county>`, evaluated every minute, that reads its county through
`PlatformResource.county` (the one place overrides are applied) and asks for a run when a tick of
that cron fell due since its previous evaluation:

* **Cursor**: the time of the previous evaluation. A tick in (cursor, now] is due; when several
  were missed (the daemon was down), only the latest runs, once. The first evaluation (no cursor)
  records the time and runs nothing, as a schedule turned on does not run the tick before it.
  A cron edited to one whose tick is earlier today does not fire for that tick: it was not due
  since the previous evaluation.
* **Idempotent**: the run key is `<county>@<tick>`; Dagster drops a second request of the same
  key from the sensor, so a tick evaluated twice (a cursor not saved) launches one run.
* **Never stacked**: a tick that falls due while a discovery run of the county is queued or
  running is skipped with a reason (the next tick runs), as the schedule did.
* **Inactive counties** (no enabled source discovers properties, in the file) start with their
  sensor stopped; one switched off by its override, or whose configuration is invalid, is
  skipped with the reason at each due tick.
* The on/off switch is the sensor's own (PATCH /settings/schedules/discover_<county>).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from realestate_assets.activity import county_activity
from realestate_assets.config_models import ConfigError, CountyConfig, county_disabled_reason
from realestate_assets.cron import latest_tick, next_tick
from resources import PlatformResource

IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]
# How often each county's discovery sensor reads its cron: a tick runs within about a minute.
EVALUATION_SECONDS = 60
TICK_TAG = "reos/discovery_tick"

discovery_job = dg.define_asset_job(
    "discover_county", selection=dg.AssetSelection.groups("discovery"),
    description="Re-read a county's sources into `sales` and `prospects`.")


def sensor_name(county_key: str) -> str:
    return f"discover_{county_key}"


def due_tick(key: str, county: CountyConfig | None, error: str | None, *, since: datetime | None,
             now: datetime) -> datetime | str:
    """The tick of the county's effective cron that fell due in (since, now], or why none runs
    now (a skip reason). `county` None: its configuration is invalid (`error`). Pure."""
    if since is None:
        return f"{key}: first evaluation at {now:%Y-%m-%d %H:%M:%S %Z}; ticks from now on run"
    if county is None:
        return county_disabled_reason(error or "unreadable")
    active, why = county_activity(county)
    if not active:
        return f"{why} (as its steps run it now: file and run-time override)"
    cron, timezone = county.schedule.cron, county.schedule.timezone
    tick = latest_tick(cron, timezone, now)
    if tick <= since:
        return (f"{key}: not due; next tick of {cron!r} ({timezone}) at "
                f"{next_tick(cron, timezone, now):%Y-%m-%d %H:%M %Z}")
    return tick


def discovery_sensors(counties: dict[str, CountyConfig], *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                      minimum_interval_seconds: int = EVALUATION_SECONDS) -> list[dg.SensorDefinition]:
    """One `discover_<county>` sensor per county. `clock` gives the evaluation's time (tests
    evaluate at chosen times)."""
    return [_sensor(county, clock, minimum_interval_seconds) for county in counties.values()]


def _sensor(county: CountyConfig, clock: Callable[[], datetime], interval: int) -> dg.SensorDefinition:
    key = county.key

    @dg.sensor(
        name=sensor_name(key), job=discovery_job, minimum_interval_seconds=interval,
        # Inactive counties (no enabled source discovers properties) stay off until enabled.
        default_status=dg.DefaultSensorStatus.RUNNING if county_activity(county)[0] else dg.DefaultSensorStatus.STOPPED,
        description=f"Discovery for {county.name}, {county.state}, on its cron as its steps run it now "
                    f"(file: {county.schedule.cron!r} in {county.schedule.timezone}; a platform admin's "
                    "override of schedule.cron / schedule.timezone applies at the next evaluation).",
    )
    def discover(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
        now = clock()
        since = datetime.fromisoformat(context.cursor) if context.cursor else None
        cursor = now.isoformat()
        try:
            effective, error = platform.county(key), None
        except ConfigError as exc:
            effective, error = None, str(exc)
        found = due_tick(key, effective, error, since=since, now=now)
        if isinstance(found, str):
            return dg.SensorResult(skip_reason=found, cursor=cursor)
        assert effective is not None
        # The ~in_progress() guard: never stack a second discovery run on a running one.
        running = context.instance.get_run_records(
            filters=dg.RunsFilter(job_name=discovery_job.name, statuses=IN_PROGRESS,
                                  tags={"dagster/partition": key}), limit=1)
        if running:
            return dg.SensorResult(cursor=cursor, skip_reason=(
                f"discovery for {key} is still running ({running[0].dagster_run.run_id}): "
                f"the {found:%Y-%m-%d %H:%M %Z} tick is skipped"))
        schedule = effective.schedule
        return dg.SensorResult(cursor=cursor, run_requests=[dg.RunRequest(
            run_key=f"{key}@{found.isoformat()}", partition_key=key,
            tags={"county": key, TICK_TAG: found.isoformat(), "reos/cron": f"{schedule.cron} ({schedule.timezone})"})])

    return discover
