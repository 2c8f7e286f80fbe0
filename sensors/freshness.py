"""Freshness: every table has a policy from the counties' cadence; staleness is visible per county.

Two layers, because Dagster's freshness policy is evaluated per asset, not per partition:

* `with_freshness(assets, counties)` gives every asset a `dg.FreshnessPolicy.time_window` (the
  freshness daemon evaluates it): the asset fails when no county has refreshed it within the
  slowest active county's discovery cycle plus a grace period, and warns after the fastest
  county's cycle. `ml_model` follows the weekly training cadence (config/scoring.yaml).
  Built when the code location loads (the daemon evaluates the policy stored in the location's
  snapshot) from the counties it is given: definitions.counties_for_policies passes the effective
  ones (files + run-time overrides, the files alone when PostgreSQL is unreachable), and the county
  settings PATCH reloads the location when a change moves them (docs/api.md, "Not done yet" item 4).
  It also adds one partitioned, non-blocking `county_fresh` check per county-partitioned asset.
* `county_freshness_sensor(counties)` evaluates, for every active county and every asset, whether
  the partition was materialized since the county's last discovery tick (plus grace), and records
  the `county_fresh` check result on that partition — only when the state changes, so the UI's
  check history per county reads as "went stale at … / fresh again at …".

Counties without an enabled source are skipped (realestate_assets/activity.py): they are inactive, not
stale. A county whose file is invalid (config_models.read_county_files) is disabled: its
`county_fresh` checks fail (ERROR) with the file's error, so the UI shows why that county stopped.

The checks and the sensor judge each county as its steps run it *now*: its file with a platform
admin's run-time override applied (PlatformResource.county, county_overrides), not the files as
the code location loaded them. An override that switches off every discovery source fails the
check (WARN) saying so; one the file no longer admits fails it (ERROR) with the reason, like an
invalid file; any other (quality thresholds, a source off) is named in the result's description
and metadata (`override`: each changed path, the file's value and the override's).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from partitions.tenants import is_tenant_partitioned
from realestate_assets.activity import Cadence, county_activity, discovery_cadence
from realestate_assets.assets.common import latest_materialization
from realestate_assets.config_models import (
    PARTITION_KEY,
    ConfigError,
    CountyConfig,
    county_disabled_reason,
    editable_county_values,
    load_county,
    load_scoring,
)
from realestate_assets.cron import latest_tick, longest_gap
from resources import PlatformResource

CHECK_NAME = "county_fresh"
# How long a county's pipeline may take after its discovery tick before it counts as late.
GRACE = timedelta(hours=6)
# Assets refreshed by model training, not by discovery.
TRAINING_ASSETS = {"ml_model"}
SENSOR_NAME = "reos_county_freshness"


# ----------------------------------------------------------------------------- cadence (pure)


def cycle(cron: str, timezone: str = "UTC", *, now: datetime | None = None) -> timedelta:
    """The longest gap between consecutive ticks over the last 24 (e.g. 7 days for weekly)."""
    return longest_gap(cron, timezone, now or datetime.now(UTC))


def cadences(counties: dict[str, CountyConfig], training_cron: str | None = None) -> dict[str, dict[str, Cadence]]:
    """{"discovery"|"training": {county: cadence}} for active counties only (`discovery_cadence`)."""
    discovery = {k: found for k, c in counties.items() if (found := discovery_cadence(c)) is not None}
    training = training_cron or load_scoring().training_cron
    return {"discovery": discovery, "training": {k: Cadence(training, "UTC") for k in discovery}}


def policy_for(county_cadences: dict[str, Cadence], grace: timedelta = GRACE) -> dg.FreshnessPolicy | None:
    """Fail when no county refreshed the asset within the slowest cycle + grace; warn after the
    fastest cycle + grace (if that is sooner)."""
    if not county_cadences:
        return None
    cycles = [cycle(c.cron, c.timezone) for c in county_cadences.values()]
    fail, warn = max(cycles) + grace, min(cycles) + grace
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn if warn < fail else None)


def partition_freshness(last_materialized: datetime | None, cadence: Cadence, now: datetime,
                        grace: timedelta = GRACE) -> tuple[bool, str]:
    """(fresh, why): fresh when materialized since the last tick whose grace period is over."""
    due = latest_tick(cadence.cron, cadence.timezone, now - grace)
    if last_materialized is None:
        return False, f"never materialized; expected after the {due:%Y-%m-%d %H:%M %Z} tick"
    if last_materialized >= due:
        return True, f"materialized {last_materialized:%Y-%m-%d %H:%M} UTC, after the {due:%Y-%m-%d %H:%M %Z} tick"
    age_h = (now - last_materialized).total_seconds() / 3600
    return False, (f"last materialized {last_materialized:%Y-%m-%d %H:%M} UTC ({age_h:.0f} h ago), "
                   f"before the {due:%Y-%m-%d %H:%M %Z} tick + {grace.total_seconds() / 3600:.0f} h grace")


# ----------------------------------------------------------------------------- run-time overrides


def overridden(from_file: CountyConfig, effective: CountyConfig) -> dict[str, list[Any]]:
    """{editable path: [the file's value, the effective one]} for each path an override changed."""
    before, after = editable_county_values(from_file), editable_county_values(effective)
    return {path: [before.get(path), value] for path, value in after.items() if before.get(path) != value}


def _changes_text(changes: dict[str, list[Any]]) -> str:
    return ", ".join(f"{path} {old} → {new}" for path, (old, new) in sorted(changes.items()))


@dataclass(frozen=True)
class Verdict:
    """A county's `county_fresh` result now; `state` is what the sensor's cursor keeps (a change
    of it is recorded), None for a county that is inactive in its file (never judged)."""

    passed: bool
    description: str
    state: bool | str | None
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CountyNow:
    """A county as its steps run it now: `effective` (None when invalid: `error`), its file, and
    what the run-time override changed."""

    key: str
    effective: CountyConfig | None
    from_file: CountyConfig | None = None
    error: str | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)


def county_now(key: str, platform: PlatformResource) -> CountyNow:
    """Read through PlatformResource.county (the one place overrides are applied), and the file alone."""
    try:
        effective = platform.county(key)
        from_file = load_county(platform.config_path / "counties" / f"{key}.yaml")
    except ConfigError as exc:
        return CountyNow(key, None, error=str(exc))
    return CountyNow(key, effective, from_file, changes=overridden(from_file, effective))


def judge(county: CountyNow, *, kind: str, training_cron: str, last_materialized: datetime | None,
          now: datetime) -> Verdict:
    """Invalid (ERROR), switched off by the override (WARN), inactive in its file (passes, not
    judged), else fresh or stale against its cadence, naming what the override changed. Pure."""
    key, changes = county.key, county.changes
    if county.effective is None or county.from_file is None:
        return Verdict(False, county_disabled_reason(county.error or "unreadable"), "invalid",
                       dg.AssetCheckSeverity.ERROR, {"county": key, "config_error": county.error or ""})
    meta: dict[str, Any] = {"county": key, **({"override": dg.MetadataValue.json(changes)} if changes else {})}
    active, why = county_activity(county.effective)
    if not active:
        if county_activity(county.from_file)[0]:
            return Verdict(False, f"{key} is switched off by its run-time override ({_changes_text(changes)}): "
                                  f"{why}; its tables are not refreshed until a source is switched back on",
                           "off", metadata=meta)
        return Verdict(True, f"{key} is inactive (no enabled source)", None, metadata=meta)
    cadence = (Cadence(training_cron, "UTC") if kind == "training"
               else Cadence(county.effective.schedule.cron, county.effective.schedule.timezone))
    fresh, description = partition_freshness(last_materialized, cadence, now)
    if changes:
        description += f"; run-time override: {_changes_text(changes)}"
    return Verdict(fresh, description, fresh, metadata={**meta, "cron": cadence.cron, "timezone": cadence.timezone})


# ----------------------------------------------------------------------------- Dagster wiring


def _kind(asset_name: str) -> str:
    return "training" if asset_name in TRAINING_ASSETS else "discovery"


def _latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, county: str) -> datetime | None:
    record = latest_materialization(instance, key, county)
    return datetime.fromtimestamp(record.timestamp, UTC) if record is not None else None


def _freshness_check(assets_def: dg.AssetsDefinition, key: dg.AssetKey, training_cron: str,
                     invalid: dict[str, str]) -> dg.AssetChecksDefinition:
    # Partitioned checks are "preview" in 1.13 (DESIGN.md §8) and the only way a check result
    # names its county; the warning says nothing an operator can act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _define_check(assets_def, key, training_cron, invalid)


def _define_check(assets_def: dg.AssetsDefinition, key: dg.AssetKey, training_cron: str,
                  invalid: dict[str, str]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key, name=CHECK_NAME, partitions_def=assets_def.partitions_def, blocking=False,
        description=("This county's partition was materialized since the county's last scheduled "
                     f"discovery (or training) tick plus {GRACE.total_seconds() / 3600:.0f} h; "
                     f"recorded by the {SENSOR_NAME} sensor when it changes. Judged on the county as "
                     "its steps run it now (its file with its run-time override)."),
    )
    # No annotation on `context`: with postponed annotations Dagster cannot read it.
    # Its result names its asset and check: Dagster 1.13 then resolves which check it is without
    # looking up the partition's latest materialization once more (`execute_core_compute`; the
    # evaluation's own look-up stays), as `common.reported` does for the assets' checks.
    def county_fresh(context, platform: PlatformResource) -> dg.AssetCheckResult:
        county = context.partition_key
        if county in invalid:
            return dg.AssetCheckResult(asset_key=key, check_name=CHECK_NAME, passed=False,
                                       description=county_disabled_reason(invalid[county]))
        found = judge(county_now(county, platform), kind=_kind(key.to_user_string()), training_cron=training_cron,
                      last_materialized=_latest_materialization(context.instance, key, county), now=datetime.now(UTC))
        return dg.AssetCheckResult(asset_key=key, check_name=CHECK_NAME, passed=found.passed,
                                   description=found.description, severity=found.severity, metadata=found.metadata)

    return county_fresh


def with_freshness(assets: Sequence[object], counties: dict[str, CountyConfig], *,
                   training_cron: str | None = None, invalid: dict[str, str] | None = None) -> list[object]:
    """The same definitions with a FreshnessPolicy on every asset, plus a partitioned `county_fresh`
    check per asset (for `Definitions(assets=...)`). Non-asset entries pass through unchanged."""
    training = training_cron or load_scoring().training_cron
    by_kind = cadences(counties, training)
    policies = {kind: policy_for(c) for kind, c in by_kind.items()}
    out: list[object] = []
    checks: list[object] = []
    for item in assets:
        if not isinstance(item, dg.AssetsDefinition) or isinstance(item, dg.AssetChecksDefinition):
            out.append(item)
            continue

        def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
            policy = policies[_kind(spec.key.to_user_string())]
            return dg.apply_freshness_policy(spec, policy) if policy else spec

        out.append(item.map_asset_specs(apply))
        # Per county, so not on (county × tenant) assets: a tenant's packets follow its county's
        # scores through sensors.tenants, and the scores carry the county's check.
        if item.partitions_def is not None and not is_tenant_partitioned(item.partitions_def):
            checks += [_freshness_check(item, key, training, invalid or {}) for key in item.keys]
    return out + checks


def county_freshness_sensor(counties: dict[str, CountyConfig], *, asset_keys: Iterable[dg.AssetKey] | None = None,
                            training_cron: str | None = None, invalid: dict[str, str] | None = None,
                            minimum_interval_seconds: int = 900) -> dg.SensorDefinition:
    """Records `county_fresh` per (asset, county) when it changes. `asset_keys` defaults to every
    asset of the code location that has the check. Counties in `invalid` ({key: error}) are
    recorded as failing (ERROR) with their error, and named in the tick's log. The others are
    judged as their steps run them now (`judge`: file and run-time override)."""
    training = training_cron or load_scoring().training_cron
    disabled = {key: error for key, error in (invalid or {}).items() if PARTITION_KEY.match(key)}

    @dg.sensor(name=SENSOR_NAME, minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Per-county staleness of every table (the county_fresh check on each partition).")
    def county_freshness(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
        keys = list(asset_keys) if asset_keys is not None else _checked_assets(context)
        previous: dict[str, bool | str] = json.loads(context.cursor) if context.cursor else {}
        state: dict[str, bool | str] = {}
        events: list[dg.AssetCheckEvaluation] = []
        stale: list[str] = []
        now = datetime.now(UTC)
        read = {county: county_now(county, platform) for county in sorted(counties)}  # once a tick, not per asset
        for key in keys:
            for county, county_state in read.items():
                found = judge(county_state, kind=_kind(key.to_user_string()), training_cron=training,
                              last_materialized=_latest_materialization(context.instance, key, county), now=now)
                if found.state is None:
                    continue  # inactive in its file: not stale, never judged
                slot = f"{key.to_user_string()}|{county}"
                state[slot] = found.state
                if not found.passed:
                    stale.append(f"{key.to_user_string()}[{county}]")
                if previous.get(slot) != found.state:
                    events.append(dg.AssetCheckEvaluation(
                        asset_key=key, check_name=CHECK_NAME, passed=found.passed, partition=county,
                        severity=found.severity, description=found.description, metadata=found.metadata))
            for county, error in disabled.items():
                slot = f"{key.to_user_string()}|{county}"
                state[slot] = "invalid"  # not False: once the file is fixed, the next state differs
                if previous.get(slot) != "invalid":
                    events.append(dg.AssetCheckEvaluation(
                        asset_key=key, check_name=CHECK_NAME, passed=False, partition=county,
                        severity=dg.AssetCheckSeverity.ERROR, description=county_disabled_reason(error),
                        metadata={"county": county, "config_error": error}))
        if disabled:
            context.log.warning(f"{len(disabled)} county file(s) invalid, those counties are disabled: "
                                + "; ".join(error.splitlines()[0] for error in disabled.values()))
        if stale:
            context.log.warning(f"{len(stale)} stale or switched-off partition(s): {', '.join(stale[:20])}")
        return dg.SensorResult(asset_events=events, cursor=json.dumps(state, sort_keys=True))

    return county_freshness


def _checked_assets(context: dg.SensorEvaluationContext) -> list[dg.AssetKey]:
    defs = context.repository_def
    if defs is None:
        return []
    return sorted({check_key.asset_key for check_key in defs.asset_graph.asset_check_keys
                   if check_key.name == CHECK_NAME}, key=lambda k: k.to_user_string())
