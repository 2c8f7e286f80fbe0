"""Request and response models of training, activation and the settings routes (api/v1/settings.py,
api/v1/models.py). The tenant's values are validated by `config_models.TenantSettings`, the model
the pipeline reads them with; these only shape the HTTP side."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _example(**example: object) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


# ---- models -----------------------------------------------------------------------------------

class TrainRequest(BaseModel):
    model_config = _example(county="king_wa")
    county: str = Field(pattern=r"^[a-z0-9_]{2,64}$", description="A county the tenant follows")


class TrainAccepted(BaseModel):
    model_config = _example(county="king_wa", run_id="8e0b3c1f-0f8a-4c5e-9a57-1f7d3c2b6a10",
                            launched_at="2026-12-03T06:00:00Z")
    county: str
    run_id: str = Field(description="Dagster run id of `ml_model` for the county (GET /models/train/{run_id})")
    launched_at: datetime


class TrainRun(BaseModel):
    model_config = _example(run_id="8e0b3c1f-0f8a-4c5e-9a57-1f7d3c2b6a10", county="king_wa",
                            launched_at="2026-12-03T06:00:00Z", status="STARTED", finished=False)
    run_id: str
    county: str
    launched_at: datetime
    status: str | None = Field(description="Dagster's run status (QUEUED, STARTED, SUCCESS, FAILURE, ...); "
                                           "null when Dagster cannot be asked")
    finished: bool


class ActivateRequest(BaseModel):
    model_config = _example(reason="the challenger's MdAPE is worse only on condos we do not target")
    reason: str = Field(min_length=3, max_length=500, description="Why, recorded in the model's promotion")


# ---- counties and schedules -------------------------------------------------------------------

class CountySource(BaseModel):
    name: str
    type: str
    provides: str
    enabled: bool


class CountyChange(BaseModel):
    reason: str
    updated_by: int | None = Field(description="users.id of the platform admin")
    updated_at: datetime


class CountyUpdate(BaseModel):
    """A platform admin's change of a county's editable fields. Applied to the file and validated
    like the file; the pipeline applies it at its next step."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 0, "reason": "the 2026 file has more unparseable dates",
         "changes": {"quality.max_reject_rate": 0.1, "sources.kc_sales.enabled": None}},
        {"version": 1, "reason": "the county now publishes daily", "changes": {"schedule.cron": "0 6 * * *"}}]})
    version: int = Field(ge=0, description="The `version` read with the county: a change made since is a 409")
    reason: str = Field(min_length=3, max_length=500, description="Why, kept with the override and in the audit")
    changes: dict[str, Any] = Field(min_length=1, description=(
        "Dotted path (one of the county's `editable`) → new value; null gives the field back to the file"))


class CodeLocationReload(BaseModel):
    model_config = _example(requested=True, state="loaded", detail="code location realestate_assets reloaded",
                            version=2, requested_at="2026-12-03T06:00:00Z", started_at="2026-12-03T06:00:00Z",
                            finished_at="2026-12-03T06:00:13Z")
    requested: bool = Field(description=(
        "A reload of Dagster's code location was asked for: the change moves what the asset-level freshness "
        "policies are built from (discovery cron, time zone, the county active or not) and Dagster is configured"))
    state: Literal["not_needed", "not_configured", "pending", "running", "loaded", "failed"] = Field(description=(
        "not_needed / not_configured (not requested); pending (no reload started since the change), running "
        "(a reload that started after it is under way), loaded (Dagster loaded the code location with it), "
        "failed (the reload did not complete: `detail` says why; the next reload asked for retries it)"))
    detail: str | None = Field(None, description="Why not requested, or what Dagster answered; null while pending")
    version: int | None = Field(None, description="The county's `version` whose change asked for the reload")
    requested_at: datetime | None = None
    started_at: datetime | None = Field(None, description="When the reload that loads the change started")
    finished_at: datetime | None = Field(None, description="When it ended, loaded or failed")


# What a county's `reload` says, in the list and in the PATCH's answer.
_RELOAD_DOC = ("the asset freshness windows follow the change once Dagster loaded it (state `loaded`); a failed "
               "reload does not undo the change (the county's steps and its county_fresh checks apply it anyway)")


# One county as GET /settings/counties lists it (also the PATCH answer's example).
_COUNTY_EXAMPLE: dict[str, Any] = dict(
    key="king_wa", name="King County", state="WA", timezone="America/Los_Angeles",
    followed=True, valid=True, error=None,
    schedule={"cron": "0 5 * * 1", "timezone": "America/Los_Angeles"},
    quality={"max_reject_rate": 0.05, "min_enrichment_coverage": 0.9},
    sources=[{"name": "kc_sales", "type": "bulk_file", "provides": "sales", "enabled": True}],
    parcel_viewer_url=None,
    editable={"quality.max_reject_rate": 0.1, "quality.min_enrichment_coverage": 0.9,
              "parcel_viewer_url": None, "sources.kc_sales.enabled": True,
              "schedule.cron": "0 5 * * 1", "schedule.timezone": "America/Los_Angeles"},
    overridden={"quality.max_reject_rate": 0.1}, version=1,
    last_change={"reason": "the 2026 file has more unparseable dates", "updated_by": 1,
                 "updated_at": "2026-12-03T06:00:00Z"})


class CountySetting(BaseModel):
    model_config = _example(**_COUNTY_EXAMPLE)
    key: str
    name: str | None = None
    state: str | None = None
    timezone: str | None = None
    followed: bool = Field(description="The tenant follows it (POST/DELETE /subscriptions)")
    valid: bool = Field(description="false: its file is invalid and the county is disabled (`error` says why)")
    error: str | None = None
    schedule: dict[str, str] | None = Field(None, description=(
        "Discovery cron and its time zone, as the county's discovery sensor reads them now (file + override)"))
    quality: dict[str, float] | None = Field(None, description="Blocking checks' thresholds")
    sources: list[CountySource] = Field(default_factory=list)
    parcel_viewer_url: str | None = None
    editable: dict[str, Any] = Field(default_factory=dict, description=(
        "What a platform admin may change (PATCH /settings/counties/{county}), by dotted path, with the "
        "effective value (empty when the county is invalid)"))
    overridden: dict[str, Any] = Field(default_factory=dict, description=(
        "The paths changed through the API, with the value that replaces the file's"))
    version: int = Field(0, description="The override's version (0: never changed); a PATCH names it")
    last_change: CountyChange | None = Field(None, description="Who changed the override last, when and why")
    reload: CodeLocationReload | None = Field(None, description=(
        "The code-location reload the county's latest change of its discovery cron, time zone or activity asked "
        "for, and what became of it (null: none); " + _RELOAD_DOC))


class CountyChanged(CountySetting):
    model_config = _example(**{**_COUNTY_EXAMPLE, "reload": {
        "requested": True, "state": "pending", "detail": None, "version": 2,
        "requested_at": "2026-12-03T06:00:00Z", "started_at": None, "finished_at": None}})
    reload: CodeLocationReload = Field(description=(  # type: ignore[assignment]  # required here
        "What the change asks of Dagster's code location: nothing (`requested` false, `state` says why), or a "
        "reload done in the background after the answer (`pending`; GET /settings/counties follows it): "
        + _RELOAD_DOC))


class ScheduleState(BaseModel):
    # Discovery is a sensor per county (its cron is the county's setting, read at each evaluation).
    model_config = _example(name="discover_king_wa", kind="sensor", running=True,
                            description="Discovery for King County, WA, on its cron as its steps run it now.",
                            cron=None, timezone=None)
    name: str
    kind: Literal["schedule", "sensor"]
    running: bool
    description: str | None = None
    cron: str | None = None
    timezone: str | None = None


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"running": False}]})
    running: bool = Field(description="true starts it, false stops it (Dagster's own state)")


# ---- tenant settings --------------------------------------------------------------------------

SETTINGS_EXAMPLE: dict[str, Any] = {
    "display_name": "Acme Capital", "brand_color": "#1f6f43", "logo_url": "https://acme.example/logo.png",
    "tagline": None, "from_name": "Acme Deals", "from_email": "deals@acme.example", "reply_to": None,
    "postal_address": "500 Pine St, Seattle, WA 98101", "feature_flags": {"campaign_email": True}}


class TenantSettingsUpdate(BaseModel):
    """Only the fields sent change; null gives a field back to the installation's value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"display_name": "Acme Capital", "brand_color": "#1f6f43"}]})
    display_name: str | None = None
    brand_color: str | None = None
    logo_url: str | None = None
    tagline: str | None = None
    from_name: str | None = None
    from_email: str | None = None
    reply_to: str | None = None
    postal_address: str | None = None
    feature_flags: dict[str, bool] | None = None


class TenantSettingsView(BaseModel):
    model_config = _example(**SETTINGS_EXAMPLE, effective={
        "company": "Acme Capital", "color": "#1f6f43", "logo_url": "https://acme.example/logo.png",
        "tagline": None, "from_name": "Acme Deals", "from_email": "deals@acme.example",
        "reply_to": "deals@acme.example", "postal_address": "500 Pine St, Seattle, WA 98101"},
        flags={"campaign_email": {"enabled": True, "default": True, "description": "campaigns send email"}})
    display_name: str | None
    brand_color: str | None
    logo_url: str | None
    tagline: str | None
    from_name: str | None
    from_email: str | None
    reply_to: str | None
    postal_address: str | None
    feature_flags: dict[str, bool] = Field(description="The tenant's own switches (absent: the default)")
    effective: dict[str, Any] = Field(description="What memos and emails use: the tenant's values over the "
                                                  "installation's (config/recipients.yaml)")
    flags: dict[str, dict[str, Any]] = Field(description="Every known flag: enabled, default, description")


# ---- the caller's profile ---------------------------------------------------------------------

class Profile(BaseModel):
    model_config = _example(user_id=7, email="analyst@example.com", display_name="Casey",
                            notification_preferences={"new_deal": True, "campaign_send": False,
                                                      "campaign_progress": True},
                            notifications={"new_deal": "a new deal in a followed county"})
    user_id: int
    email: str
    display_name: str | None
    notification_preferences: dict[str, bool] = Field(description="Every notification: on or off")
    notifications: dict[str, str] = Field(description="What each notification is")


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"display_name": "Casey", "notification_preferences": {"campaign_send": False}}]})
    display_name: str | None = Field(None, max_length=120)
    notification_preferences: dict[str, bool] | None = Field(None, description="Only the names sent change")
