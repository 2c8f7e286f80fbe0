"""Tenants (platform admin), members, API keys and county subscriptions (tenant admin).

Every write leaves one audit row (before/after, never a secret) in the same transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from realestate_assets.accounts import quotas, store
from realestate_assets.accounts.roles import may_grant
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Member,
    MemberInvite,
    MemberUpdate,
    Subscription,
    SubscriptionCreate,
    Tenant,
    TenantCreate,
    TenantUpdate,
)
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_row, dict_rows

router = APIRouter()
ERRORS = (401, 403, 422)
TENANT_COLUMNS = "id, name, created_at, suspended_at, suspended_reason, plan"


# ---- tenants ---------------------------------------------------------------------------------

@router.get("/tenants", response_model=list[Tenant], responses=responses(*ERRORS), tags=["tenants"],
            summary="List tenants (platform admin)")
def list_tenants(ctx: Context = needs("platform")) -> list[dict[str, Any]]:
    ctx.cur.execute(f"SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id")
    return dict_rows(ctx.cur)


@router.patch("/tenants/{tenant_id}", response_model=Tenant, responses=responses(*ERRORS, 404, 409),
              tags=["tenants"], summary="Suspend or resume a tenant, or change its plan (platform admin)")
def update_tenant(tenant_id: str, body: TenantUpdate, ctx: Context = needs("platform")) -> dict[str, Any]:
    """A suspended tenant's people and API keys are refused (403 naming the reason) until it is
    resumed; nothing of its data changes. A plan change takes effect at once (its limits:
    `GET /usage`). Deleting a tenant is an operator's command (`reos tenant delete`), not a route."""
    if body.suspended is None and body.plan is None:
        raise Problem(422, "nothing to change: give suspended and/or plan")
    if tenant_id == "default" and body.suspended:
        raise Problem(409, "the installation's own tenant 'default' cannot be suspended")
    if body.suspended is not None:
        reason = (body.reason or "suspended by the platform's operators") if body.suspended else None
        before, after = store.set_suspension(ctx.cur, tenant_id, reason)
        ctx.scope(tenant_id)
        ctx.audit("suspend" if body.suspended else "resume", "tenants", tenant_id, before=before, after=after,
                  tenant_id=tenant_id)
    # The one audited way a plan changes (quotas.change_plan), as the billing webhook's.
    if body.plan is not None and quotas.change_plan(ctx.cur, ctx.principal, tenant_id, body.plan, ctx.request_id,
                                                    ctx.ip) is None:
        raise Problem(404, f"no tenant {tenant_id!r}")
    ctx.cur.execute(f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = %s", (tenant_id,))
    row = dict_row(ctx.cur)
    assert row is not None
    return row


@router.post("/tenants", response_model=Tenant, status_code=201, responses=responses(*ERRORS, 409), tags=["tenants"],
             summary="Create a tenant (platform admin)")
def create_tenant(body: TenantCreate, ctx: Context = needs("platform")) -> dict[str, Any]:
    tenant = store.create_tenant(ctx.cur, body.id, body.name)
    ctx.scope(tenant["id"])  # the new tenant's own rows: its owner and its audit trail
    ctx.audit("create", "tenants", tenant["id"], after=tenant, tenant_id=tenant["id"])
    if body.owner_email:
        user = store.find_user(ctx.cur, body.owner_email) or store.create_user(ctx.cur, body.owner_email)
        _, after = store.set_membership(ctx.cur, tenant["id"], user["id"], "owner")
        ctx.audit("create", "memberships", user["id"], after=after, tenant_id=tenant["id"])
    ctx.cur.execute(f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = %s", (tenant["id"],))
    return dict_row(ctx.cur) or tenant  # with the plan it starts on (the column's default)


# ---- members ---------------------------------------------------------------------------------

def _granter(ctx: Context) -> str | None:
    """The role a principal grants as: its own, or admin for an API key with the admin scope."""
    p = ctx.principal
    return p.role or ("admin" if p.may("admin") else None)


def _member(ctx: Context, user_id: int) -> dict[str, Any]:
    found = [m for m in store.list_members(ctx.cur) if m["user_id"] == user_id]
    if not found:
        raise Problem(404, f"user {user_id} is not a member of this tenant")
    return found[0]


def _check_grant(ctx: Context, role: str) -> None:
    if not may_grant(_granter(ctx), role, ctx.principal.platform_admin):
        raise Problem(403, f"granting or changing the role {role!r} needs an owner")


def _keep_an_owner(ctx: Context, member: dict[str, Any]) -> None:
    if member["role"] == "owner" and sum(m["role"] == "owner" for m in store.list_members(ctx.cur)) <= 1:
        raise Problem(409, "the tenant's last owner cannot be removed or demoted")


@router.get("/members", response_model=list[Member], responses=responses(*ERRORS), tags=["members"],
            summary="List the tenant's members")
def list_members(ctx: Context = needs("admin")) -> list[dict[str, Any]]:
    return store.list_members(ctx.cur)


@router.post("/members", response_model=Member, status_code=201, responses=responses(*ERRORS), tags=["members"],
             summary="Invite a user (created when new) or change their role")
def invite_member(body: MemberInvite, request: Request, ctx: Context = needs("admin")) -> dict[str, Any]:
    _check_grant(ctx, body.role)
    user = store.find_user(ctx.cur, body.email)
    current = next((m for m in store.list_members(ctx.cur) if m["user_id"] == user["id"]), None) if user else None
    if current and current["role"] == "owner" and body.role != "owner":
        _check_grant(ctx, "owner")
        _keep_an_owner(ctx, current)
    invite = user is None and body.password is None
    if user is None:
        user = store.create_user(ctx.cur, body.email, body.password)
        ctx.audit("create", "users", user["id"], after={"email": user["email"]})
    before, after = store.set_membership(ctx.cur, ctx.tenant_id, user["id"], body.role)
    ctx.audit("update" if before else "create", "memberships", user["id"], before=before, after=after)
    member = _member(ctx, user["id"])
    if invite:  # a new account without a password: a link to choose one
        member["invitation"] = "sent" if _send_invitation(request, ctx, user["email"]) else "not_sent"
    return member


def _send_invitation(request: Request, ctx: Context, email: str) -> bool:
    from realestate_assets.accounts.notices import PURPOSE, TTL
    from realestate_assets.api.v1.auth import send_account_mail

    issued = store.issue_account_token(ctx.cur, email, PURPOSE["invite"], TTL["invite"])
    if issued is None:
        return False
    ctx.cur.execute("SELECT name FROM tenants WHERE id = %s", (ctx.tenant_id,))
    row = ctx.cur.fetchone()
    # Sent before the route's transaction commits (a moment later); see auth.request_verification.
    return send_account_mail(request, "invite", issued, inviter=ctx.principal.actor,
                             tenant_name=row[0] if row else ctx.tenant_id)


@router.patch("/members/{user_id}", response_model=Member, responses=responses(*ERRORS, 404, 409),
              tags=["members"], summary="Change a member's role")
def update_member(user_id: int, body: MemberUpdate, ctx: Context = needs("admin")) -> dict[str, Any]:
    member = _member(ctx, user_id)
    _check_grant(ctx, body.role)
    if member["role"] == "owner":
        _check_grant(ctx, "owner")
        if body.role != "owner":
            _keep_an_owner(ctx, member)
    before, after = store.set_membership(ctx.cur, ctx.tenant_id, user_id, body.role)
    ctx.audit("update", "memberships", user_id, before=before, after=after)
    return _member(ctx, user_id)


@router.delete("/members/{user_id}", status_code=204, responses=responses(*ERRORS, 404, 409), tags=["members"],
               summary="Remove a member from the tenant")
def remove_member(user_id: int, ctx: Context = needs("admin")) -> Response:
    member = _member(ctx, user_id)
    if member["role"] == "owner":
        _check_grant(ctx, "owner")
        _keep_an_owner(ctx, member)
    before = store.remove_membership(ctx.cur, ctx.tenant_id, user_id)
    ctx.cur.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
                    (user_id,))  # their sessions in this tenant end now (RLS: this tenant's rows only)
    ctx.audit("delete", "memberships", user_id, before=before)
    return Response(status_code=204)


# ---- API keys --------------------------------------------------------------------------------

@router.get("/api-keys", response_model=list[ApiKey], responses=responses(*ERRORS), tags=["api keys"],
            summary="List the tenant's API keys (never the secrets)")
def list_api_keys(ctx: Context = needs("admin")) -> list[dict[str, Any]]:
    return store.list_api_keys(ctx.cur)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, responses=responses(*ERRORS),
             tags=["api keys"], summary="Create an API key (the key is shown once)")
def create_api_key(body: ApiKeyCreate, ctx: Context = needs("admin")) -> dict[str, Any]:
    row, key = store.create_api_key(ctx.cur, ctx.tenant_id, ctx.principal.user_id, body.name, list(body.scopes),
                                    body.expires_at)
    ctx.audit("create", "api_keys", row["id"], after=row)
    return {**row, "key": key}


@router.delete("/api-keys/{key_id}", response_model=ApiKey, responses=responses(*ERRORS, 404), tags=["api keys"],
               summary="Revoke an API key")
def revoke_api_key(key_id: int, ctx: Context = needs("admin")) -> dict[str, Any]:
    changed = store.revoke_api_key(ctx.cur, key_id)
    if changed is None:
        raise Problem(404, f"no API key {key_id} in this tenant")
    before, after = changed
    ctx.audit("revoke", "api_keys", key_id, before=before, after=after)
    return after


# ---- subscriptions ---------------------------------------------------------------------------

@router.get("/subscriptions", response_model=list[Subscription], responses=responses(*ERRORS),
            tags=["subscriptions"], summary="Counties the tenant follows")
def list_subscriptions(ctx: Context = needs("read")) -> list[dict[str, Any]]:
    return store.list_subscriptions(ctx.cur)


@router.post("/subscriptions", response_model=Subscription, status_code=201, responses=responses(*ERRORS, 404),
             tags=["subscriptions"], summary="Follow a configured county")
def add_subscription(body: SubscriptionCreate, request: Request, response: Response,
                     ctx: Context = needs("admin")) -> dict[str, Any]:
    config_dir = Path(request.app.state.reos.settings.config_dir)
    if not (config_dir / "counties" / f"{body.county}.yaml").is_file():
        raise Problem(404, f"no configured county {body.county!r} (config/counties/{body.county}.yaml)")
    row = store.subscribe(ctx.cur, ctx.tenant_id, body.county)
    if row is None:
        response.status_code = 200
        return next(s for s in store.list_subscriptions(ctx.cur) if s["county"] == body.county)
    ctx.audit("create", "subscriptions", body.county, after=row)
    return row


@router.delete("/subscriptions/{county}", status_code=204, responses=responses(*ERRORS, 404),
               tags=["subscriptions"], summary="Stop following a county")
def remove_subscription(county: str, ctx: Context = needs("admin")) -> Response:
    before = store.unsubscribe_county(ctx.cur, county)
    if before is None:
        raise Problem(404, f"the tenant does not follow {county!r}")
    ctx.audit("delete", "subscriptions", county, before=before)
    return Response(status_code=204)
