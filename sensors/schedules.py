"""Discovery runs on each county's own cron; the rest of the graph follows by automation."""


import dagster as dg

from partitions.activity import county_activity
from realestate_assets.config_models import CountyConfig

IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]

discovery_job = dg.define_asset_job(
    "discover_county", selection=dg.AssetSelection.groups("discovery"),
    description="Re-read a county's sources into `sales` and `prospects`.")


def discovery_schedules(counties: dict[str, CountyConfig]) -> list[dg.ScheduleDefinition]:
    return [_schedule(county) for county in counties.values()]


def _schedule(county: CountyConfig) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"discover_{county.key}",
        job=discovery_job,
        cron_schedule=county.schedule.cron,
        execution_timezone=county.schedule.timezone,
        # Inactive counties (no enabled source discovers properties) stay off until enabled.
        default_status=dg.DefaultScheduleStatus.RUNNING
        if county_activity(county)[0] else dg.DefaultScheduleStatus.STOPPED,
        description=f"Discovery for {county.name}, {county.state}.",
    )
    def discover(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        # The ~in_progress() guard for schedules: never stack a second run on a running one.
        running = context.instance.get_run_records(
            filters=dg.RunsFilter(job_name=discovery_job.name, statuses=IN_PROGRESS,
                                  tags={"dagster/partition": county.key}), limit=1)
        if running:
            return dg.SkipReason(f"discovery for {county.key} is still running ({running[0].dagster_run.run_id})")
        return dg.RunRequest(partition_key=county.key, tags={"county": county.key})

    return discover
