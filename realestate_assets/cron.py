"""Cron expressions as Dagster reads them: whether one is valid, when it ticks, how far apart.

One parser for the whole code base: Dagster's own (its vendored croniter behind
`dagster._utils.schedules`, pinned with dagster==1.13.27), so a cron the county file or a
platform admin's override gives is judged exactly as a Dagster schedule would judge it, and the
discovery sensor (sensors/schedules.py) and the freshness checks (sensors/freshness.py) tick on
the same calendar. Times are timezone-aware; the cron is read in `timezone` (IANA name).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster._utils.schedules import get_latest_completed_cron_tick, get_next_cron_tick, is_valid_cron_string

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def cron_error(cron: str) -> str | None:
    """Why `cron` is not a schedule Dagster accepts (five fields, minute resolution, a day that
    exists), None when it is."""
    if not isinstance(cron, str) or not cron.strip() or not is_valid_cron_string(cron):
        return (f"{cron!r} is not a valid cron expression: five fields (minute hour day-of-month month "
                "day-of-week), e.g. '0 5 * * 1' for Mondays at 05:00")
    try:  # Dagster refuses 30/31 February only; '0 0 31 4 *' parses too, and never ticks
        get_next_cron_tick(cron, _EPOCH, "UTC")
    except Exception:  # croniter's CroniterBadDateError (vendored): no date matches
        return f"{cron!r} is not a valid cron expression: it never falls on a date that exists"
    return None


def timezone_error(timezone: str) -> str | None:
    """Why `timezone` is not an IANA time zone name, None when it is."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a directory, e.g. 'Pacific'
        return f"{timezone!r} is not an IANA time zone name, e.g. 'America/Los_Angeles' or 'UTC'"
    return None


def latest_tick(cron: str, timezone: str, now: datetime) -> datetime:
    """The latest tick at or before `now` (in `timezone`)."""
    return get_latest_completed_cron_tick(cron, now, timezone)


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after `after` (in `timezone`)."""
    found = get_next_cron_tick(cron, after, timezone)  # at or after
    return found if found > after else get_next_cron_tick(cron, after + timedelta(seconds=1), timezone)


def longest_gap(cron: str, timezone: str, now: datetime, ticks: int = 24) -> timedelta:
    """The longest interval between consecutive ticks among the last `ticks` intervals up to `now`
    (e.g. 7 days for a weekly cron, 31 for a monthly one), in the zone's wall-clock time."""
    later, gaps = latest_tick(cron, timezone, now), []
    for _ in range(ticks):
        earlier = latest_tick(cron, timezone, later - timedelta(seconds=1))
        gaps.append(later - earlier)
        later = earlier
    return max(gaps)
