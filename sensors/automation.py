"""Declarative automation: downstream assets follow upstream partitions by themselves.

Dagster's `default_automation_condition_sensor` starts STOPPED, so a fresh deployment would
never propagate anything. This sensor starts RUNNING.
"""

from __future__ import annotations

import dagster as dg

# Named once, used by every downstream asset: run a county partition when any upstream
# partition of it updated, nothing upstream is missing or in progress, and it is not
# already running (`eager()` includes `~in_progress()`).
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()

automation_sensor = dg.AutomationConditionSensorDefinition(
    "reos_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (downstream follows upstream).",
)
