"""Declarative automation: downstream assets follow upstream partitions by themselves.

Dagster's `default_automation_condition_sensor` starts STOPPED, so a fresh deployment would
never propagate anything. This sensor starts RUNNING.
"""

from __future__ import annotations

import dagster as dg

# Named once, applied to every downstream asset in definitions.py: run a county partition when
# any upstream partition of it updated, nothing upstream is missing or in progress, it is not
# already running (`eager()` includes `~in_progress()`), and every blocking check of its
# upstream passed — `eager()` alone would materialize downstream of a failed blocking check.
FOLLOW_UPSTREAM = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("eager, upstream blocking checks passed")


def training_condition(cron: str) -> dg.AutomationCondition:
    """Model training: weekly (once new sales arrived after the tick) and whenever the model is missing."""
    return (dg.AutomationCondition.on_cron(cron) | dg.AutomationCondition.on_missing()).with_label(
        f"weekly ({cron}) or when missing")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "reos_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (downstream follows upstream).",
)
