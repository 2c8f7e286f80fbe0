"""Settings (issue #11): the counties configured on this installation, its schedules and sensors,
the tenant's branding, sender and feature flags, and the caller's own profile.

* Counties: a county file (config/counties/<key>.yaml) is code — its sources and field maps are
  reviewed and deployed with the code location. A few run-time settings of it
  (`config_models.EDITABLE_COUNTY_FIELDS`: quality thresholds, the parcel viewer, a source on or
  off, the discovery cron and its time zone) are changed by platform admins here, kept in
  `county_overrides` (migration 0034) and applied by every step where it reads its county, and by
  the county's discovery sensor at its next evaluation (PlatformResource.county); tenants read the
  effective configuration. A change is validated as the file is (a cron Dagster would refuse, an
  unknown time zone: 422 naming the path). A change names the version it was based on: a stale
  one is a 409. A change of what the asset freshness policies take from the county (its discovery
  cron, time zone, active or not) then asks Dagster to reload the code location, which builds them
  at load: in the background (api/code_reloads.py), so the PATCH answers at once with the reload
  `pending`; `GET /settings/counties` tells what became of it (db/county_reloads.py, `reload`), and
  a failed reload never undoes the change.
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
from realestate_assets.activity import discovery_cadence
from realestate_assets.api import dagster_schedules
from realestate_assets.api.dagster_runs import DagsterUnavailable
from realestate_assets.api.v1.problems import Problem, from_validation_error, responses
from realestate_assets.api.v1.security import Authorize, Context, needs
from realestate_assets.api.v1.settings_schemas import (
    CountyChanged,
    CountySetting,
    CountyUpdate,
    Profile,
    ProfileUpdate,
    ScheduleState,
    ScheduleUpdate,
    TenantSettingsUpdate,
    TenantSettingsView,
)
from realestate_assets.config_models import (
    FEATURE_FLAGS,
    PARTITION_KEY,
    ConfigError,
    CountyConfig,
    CountyPatchError,
    TenantSettings,
    apply_county_patch,
    county_field_path,
    county_file_data,
    editable_county_paths,
    editable_county_values,
    load_county,
    load_outreach,
    patched_county,
    read_county_files,
)
from realestate_assets.db import county_reloads
from realestate_assets.db.county_overrides import OverrideRow, read_overrides, write_override
from realestate_assets.db.county_reloads import ReloadRow
from realestate_assets.outreach.tenant_data import read_tenant_settings, write_tenant_settings

router = APIRouter()
ERRORS = (401, 403, 422)


# ---- counties ----------------------------------------------------------------------------------

def _county_view(key: str, county: CountyConfig | None, error: str | None, followed: set[str],
                 row: OverrideRow | None, reload: ReloadRow | None = None) -> dict[str, Any]:
    """One county as the settings list shows it: effective values, what may change, what did, and
    what became of the code-location reload its latest such change asked for."""
    change = {"overridden": row.override.patch, "version": row.override.version,
              "last_change": {"reason": row.reason, "updated_by": row.updated_by, "updated_at": row.updated_at},
              "reload": reload.public() if reload is not None else None} if row is not None else {}
    if county is None:
        return {"key": key, "followed": key in followed, "valid": False, "error": error, **change}
    return {
        "key": key, "name": county.name, "state": county.state, "timezone": county.timezone,
        "followed": key in followed, "valid": True, "error": None,
        "schedule": county.schedule.model_dump(), "quality": county.quality.model_dump(),
        "sources": [{"name": s.name, "type": s.type, "provides": s.provides, "enabled": s.enabled}
                    for s in county.sources],
        "parcel_viewer_url": county.parcel_viewer_url, "editable": editable_county_values(county), **change}


def _followed(ctx: Context) -> set[str]:
    ctx.cur.execute("SELECT county FROM subscriptions")
    return {r[0] for r in ctx.cur.fetchall()}


@router.get("/settings/counties", response_model=list[CountySetting], responses=responses(*ERRORS),
            tags=["settings"], summary="The installation's counties as the pipeline runs them, and which the "
                                       "tenant follows")
def list_counties(request: Request, ctx: Context = needs("read")) -> list[dict[str, Any]]:
    followed, overrides, reloads = _followed(ctx), read_overrides(ctx.cur), county_reloads.read_reloads(ctx.cur)
    try:
        files = read_county_files(Path(request.app.state.reos.settings.config_dir),
                                  {k: row.override for k, row in overrides.items()})
    except ConfigError:
        return []  # no county file at all: nothing configured yet
    found = [_county_view(key, None, error, followed, overrides.get(key), reloads.get(key))
             for key, error in files.invalid.items()]
    found += [_county_view(key, county, None, followed, overrides.get(key), reloads.get(key))
              for key, county in files.counties.items()]
    return sorted(found, key=lambda c: c["key"])


def _changes_refused(exc: ValidationError, merged: dict[str, Any]) -> Problem:
    return Problem(422, "the county with these changes is not valid", errors=[
        {"loc": ["body", "changes", county_field_path(merged, tuple(e.get("loc", ())))], "msg": e.get("msg"),
         "type": e.get("type")} for e in exc.errors()])


@router.patch("/settings/counties/{county}", response_model=CountyChanged,
              responses=responses(*ERRORS, 404, 409), tags=["settings"],
              summary="Change a county's run-time settings (platform admin): the next step of its runs applies them")
def update_county(county: Annotated[str, PathParam(max_length=64)], body: CountyUpdate, request: Request,
                  auth: Authorize = needs("platform", in_route=True)) -> dict[str, Any]:
    # Authorized in the route (`in_route`): the change (and its pending reload) is committed when
    # the `with` ends, before the background reload claims it, so the reloaded location reads it.
    state = request.app.state.reos
    with auth() as ctx:
        view, policies_move = _change_county(county, body, request, ctx)
        reload = _reload_asked(ctx, view, policies_move, state.dagster is not None)
    if reload["state"] == "pending":
        state.reloader.request(ctx.tenant_id)  # answers at once; GET /settings/counties tells the outcome
    return {**view, "reload": reload}


def _reload_asked(ctx: Context, view: dict[str, Any], policies_move: bool, dagster: bool) -> dict[str, Any]:
    """What the change asks of Dagster's code location: nothing, or a reload recorded as pending
    in the change's transaction (db/county_reloads.py; api/code_reloads.py carries it out)."""
    if not policies_move:
        return {"requested": False, "state": "not_needed", "detail": (
            "not needed: the asset freshness policies do not depend on the fields changed (only on the "
            "discovery cron, its time zone and whether the county is active)")}
    if not dagster:
        return {"requested": False, "state": "not_configured", "detail": (
            "Dagster is not configured for the API (REOS_DAGSTER_URL): the code location was not reloaded")}
    return county_reloads.request(ctx.cur, view["key"], view["version"]).public()


def _change_county(county: str, body: CountyUpdate, request: Request, ctx: Context) -> tuple[dict[str, Any], bool]:
    """The county's view after the change, and whether the change moves what the code location's
    asset freshness policies are built from (`discovery_cadence`, the one rule)."""
    path = Path(request.app.state.reos.settings.config_dir) / "counties" / f"{county}.yaml"
    if not PARTITION_KEY.match(county) or not path.is_file():
        raise Problem(404, f"no county {county!r} is configured")
    try:
        data = county_file_data(path)
        load_county(path)  # the file alone must be valid: an override cannot repair it
    except ConfigError as exc:
        raise Problem(422, f"the county's file is invalid; fix the file first: {exc}") from exc
    current = read_overrides(ctx.cur, county).get(county)
    version = current.override.version if current is not None else 0
    if body.version != version:
        raise Problem(409, f"the county's settings changed since version {body.version} (now {version}): "
                           "read them again and redo the change")
    before = dict(current.override.patch) if current is not None else {}
    editable = editable_county_paths(data)
    # A path the file no longer has (a source renamed) may still be removed.
    if unknown := sorted(p for p, v in body.changes.items() if p not in editable and not (v is None and p in before)):
        raise Problem(422, f"not editable: {unknown}", errors=[
            {"loc": ["body", "changes", p], "msg": f"not an editable field of this county; editable: {editable}",
             "type": "not_editable"} for p in unknown])
    patch = {**before, **body.changes}
    patch = {p: v for p, v in patch.items() if v is not None}  # null: the file's value again
    try:
        effective = patched_county(data, patch)
    except CountyPatchError as exc:  # also an earlier change the file no longer admits: remove it (null)
        raise Problem(422, str(exc), errors=[{"loc": ["body", "changes", exc.path], "msg": exc.reason,
                                              "type": "county_patch"}]) from exc
    except ValidationError as exc:
        raise _changes_refused(exc, apply_county_patch(data, patch)) from exc
    values = editable_county_values(effective)
    patch = {p: values[p] for p in patch}  # as CountyConfig parsed them ("0.1" → 0.1)
    row, policies_move = current, False
    if patch != before:
        row = write_override(ctx.cur, county, patch, based_on=version, reason=body.reason,
                             user_id=ctx.principal.user_id)
        if row is None:  # written by someone else between our read and our write
            raise Problem(409, "the county's settings changed meanwhile: read them again and redo the change")
        ctx.audit("update", "county_overrides", county, before={"patch": before, "version": version},
                  after={"patch": patch, "version": row.override.version, "reason": body.reason})
        try:
            was: CountyConfig | None = load_county(path, current.override if current is not None else None)
        except ConfigError:
            was = None  # an override the file no longer admitted: the county was out of the policies
        policies_move = discovery_cadence(was) != discovery_cadence(effective)
    return _county_view(county, effective, None, _followed(ctx), row), policies_move


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
