"""Settings (issue #11): the counties configured on this installation, its schedules and sensors,
the tenant's branding, sender and feature flags, and the caller's own profile.

* Counties are read-only here, for everyone: a county file (config/counties/<key>.yaml) is code
  — its sources, field maps and cron are reviewed and deployed with the code location, which
  reads them when it loads. An edit through the API would change what the API shows but not what
  Dagster runs until a redeploy, so there is no PATCH; the runtime switch is the schedule below.
* Schedules and sensors are Dagster's own state, read (tenant admin) and switched (platform
  admin: they run for every tenant) through its GraphQL API (api/dagster_schedules.py).
* Tenant settings (tenant admin) are `tenant_settings` (migration 0028), validated as
  `config_models.TenantSettings` and merged into the installation's sender by the one loader the
  pipeline uses (`outreach/tenant_data.load_tenant_outreach`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import ValidationError

from realestate_assets.accounts import profile as profiles
from realestate_assets.api import dagster_schedules
from realestate_assets.api.dagster_runs import DagsterUnavailable
from realestate_assets.api.v1.problems import Problem, from_validation_error, responses
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.api.v1.settings_schemas import (
    CountySetting,
    Profile,
    ProfileUpdate,
    ScheduleState,
    ScheduleUpdate,
    TenantSettingsUpdate,
    TenantSettingsView,
)
from realestate_assets.config_models import FEATURE_FLAGS, ConfigError, TenantSettings, load_outreach, read_county_files
from realestate_assets.outreach.tenant_data import read_tenant_settings, write_tenant_settings

router = APIRouter()
ERRORS = (401, 403, 422)


# ---- counties ----------------------------------------------------------------------------------

@router.get("/settings/counties", response_model=list[CountySetting], responses=responses(*ERRORS),
            tags=["settings"], summary="The installation's counties (read-only) and which the tenant follows")
def list_counties(request: Request, ctx: Context = needs("read")) -> list[dict[str, Any]]:
    ctx.cur.execute("SELECT county FROM subscriptions")
    followed = {r[0] for r in ctx.cur.fetchall()}
    try:
        files = read_county_files(Path(request.app.state.reos.settings.config_dir))
    except ConfigError:
        return []  # no county file at all: nothing configured yet
    found = [{"key": key, "followed": key in followed, "valid": False, "error": error}
             for key, error in files.invalid.items()]
    for key, county in files.counties.items():
        found.append({
            "key": key, "name": county.name, "state": county.state, "timezone": county.timezone,
            "followed": key in followed, "valid": True, "error": None,
            "schedule": county.schedule.model_dump(), "quality": county.quality.model_dump(),
            "sources": [{"name": s.name, "type": s.type, "provides": s.provides, "enabled": s.enabled}
                        for s in county.sources],
            "parcel_viewer_url": county.parcel_viewer_url})
    return sorted(found, key=lambda c: c["key"])


# ---- schedules and sensors ---------------------------------------------------------------------

def _instigators(request: Request) -> list[dagster_schedules.Instigator]:
    try:
        return dagster_schedules.instigators(request.app.state.reos.dagster)
    except DagsterUnavailable as exc:
        raise Problem(503, str(exc)) from exc


@router.get("/settings/schedules", response_model=list[ScheduleState], responses=responses(*ERRORS, 503),
            tags=["settings"], summary="The pipeline's schedules and sensors, running or stopped (from Dagster)")
def list_schedules(request: Request, ctx: Context = needs("admin")) -> list[dict[str, Any]]:
    return [i.public() for i in _instigators(request)]


@router.patch("/settings/schedules/{name}", response_model=ScheduleState, responses=responses(*ERRORS, 404, 503),
              tags=["settings"], summary="Start or stop a schedule or sensor in Dagster (platform admin)")
def update_schedule(name: Annotated[str, PathParam(max_length=200)], body: ScheduleUpdate, request: Request,
                    ctx: Context = needs("platform")) -> dict[str, Any]:
    found = next((i for i in _instigators(request) if i.name == name), None)
    if found is None:
        raise Problem(404, f"Dagster has no schedule or sensor named {name!r}")
    if found.running != body.running:
        try:
            running = dagster_schedules.switch(request.app.state.reos.dagster, found, body.running)
        except DagsterUnavailable as exc:
            raise Problem(503, str(exc)) from exc
        ctx.audit("start" if body.running else "stop", found.kind + "s", name,
                  before={"running": found.running}, after={"running": running})
        found = replace(found, running=running)
    return found.public()


# ---- the tenant's settings ---------------------------------------------------------------------

def _view(request: Request, own: TenantSettings) -> dict[str, Any]:
    sender = own.apply(load_outreach(Path(request.app.state.reos.settings.config_dir)).sender)
    b = sender.branding
    effective = {"company": b.company, "color": b.color, "logo_url": b.logo_url, "tagline": b.tagline,
                 "from_name": sender.name, "from_email": sender.email, "reply_to": sender.reply_to or sender.email,
                 "postal_address": sender.postal_address}
    flags = {name: {"enabled": own.flag(name), "default": default, "description": text}
             for name, (default, text) in FEATURE_FLAGS.items()}
    return {**own.model_dump(), "effective": effective, "flags": flags}


@router.get("/tenant/settings", response_model=TenantSettingsView, responses=responses(*ERRORS),
            tags=["settings"], summary="The tenant's branding, sender and feature flags, and what memos and emails use")
def get_tenant_settings(request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    return _view(request, read_tenant_settings(ctx.cur, ctx.tenant_id))


@router.patch("/tenant/settings", response_model=TenantSettingsView, responses=responses(*ERRORS),
              tags=["settings"], summary="Change the tenant's branding, sender or feature flags (tenant admin)")
def update_tenant_settings(body: TenantSettingsUpdate, request: Request,
                           ctx: Context = needs("admin")) -> dict[str, Any]:
    before = read_tenant_settings(ctx.cur, ctx.tenant_id)
    changes = body.model_dump(exclude_unset=True)
    if "feature_flags" in changes:
        changes["feature_flags"] = {**before.feature_flags, **(changes["feature_flags"] or {})}
    try:
        after = TenantSettings.model_validate({**before.model_dump(), **changes})
        view = _view(request, after)  # the merged sender must be a valid one too (CAN-SPAM fields)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
    if after != before:
        write_tenant_settings(ctx.cur, ctx.tenant_id, after)
        ctx.audit("update", "tenant_settings", ctx.tenant_id, before=before.model_dump(), after=after.model_dump())
    return view


# ---- the caller's profile ----------------------------------------------------------------------

def _profile(ctx: Context) -> dict[str, Any]:
    user_id = ctx.principal.user_id
    row = profiles.read_profile(ctx.cur, user_id) if user_id is not None else None
    if row is None:
        raise Problem(409, "an API key has no profile: log in as a person")
    return row


def _profile_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "notification_preferences": profiles.effective(row["notification_preferences"] or {}),
            "notifications": profiles.NOTIFICATIONS}


@router.get("/me/profile", response_model=Profile, responses=responses(401, 403, 409),
            tags=["auth"], summary="The caller's name and notification preferences")
def get_profile(ctx: Context = needs("read")) -> dict[str, Any]:
    return _profile_view(_profile(ctx))


@router.patch("/me/profile", response_model=Profile, responses=responses(*ERRORS, 409),
              tags=["auth"], summary="Change the caller's name or notification preferences")
def update_profile(body: ProfileUpdate, ctx: Context = needs("read")) -> dict[str, Any]:
    before = _profile(ctx)
    changes = body.model_dump(exclude_unset=True)
    preferences = {**(before["notification_preferences"] or {}), **(changes.get("notification_preferences") or {})}
    if unknown := profiles.unknown_notifications(preferences):
        raise Problem(422, f"unknown notifications {unknown}; known: {sorted(profiles.NOTIFICATIONS)}")
    name = changes["display_name"] if "display_name" in changes else before["display_name"]
    name = (name or "").strip() or None
    after = {**before, "display_name": name, "notification_preferences": preferences}
    if after != before:
        profiles.write_profile(ctx.cur, before["user_id"], name, preferences)
        keep = ("display_name", "notification_preferences")
        ctx.audit("update", "profile", before["user_id"], before={k: before[k] for k in keep},
                  after={k: after[k] for k in keep})
    return _profile_view(after)
