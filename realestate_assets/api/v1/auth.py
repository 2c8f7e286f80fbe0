"""Login sessions: password login, refresh-token rotation, logout, and who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from realestate_assets.accounts import credentials as cred
from realestate_assets.accounts import store
from realestate_assets.accounts.roles import PERMISSIONS, Principal, role_permissions
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.schemas import LoginRequest, Me, RefreshRequest, TokenPair
from realestate_assets.api.v1.security import Context, client_ip, needs, request_id
from realestate_assets.db.tenancy import act_as_api

router = APIRouter(tags=["auth"])


def _pair(request: Request, session: store.Session) -> TokenPair:
    token, _ = cred.issue_access_token(
        request.app.state.reos.settings.jwt_secret, user_id=session.user_id, tenant_id=session.tenant_id,
        role=session.role, platform_admin=session.platform_admin, email=session.email)
    return TokenPair(access_token=token, expires_in=int(cred.ACCESS_TTL.total_seconds()),
                     refresh_token=session.refresh_token, tenant_id=session.tenant_id, role=session.role)  # type: ignore[arg-type]


def _principal(session: store.Session) -> Principal:
    return Principal(tenant_id=session.tenant_id, user_id=session.user_id, actor=session.email, role=session.role,
                     platform_admin=session.platform_admin,
                     permissions=role_permissions(session.role, session.platform_admin))


def _audit(request: Request, cur: Any, principal: Principal | None, tenant_id: str, action: str,
           key: Any = None) -> None:
    store.audit(cur, principal, tenant_id, action, "sessions", key, request_id=request_id(request),
                ip=client_ip(request))


@router.post("/auth/login", response_model=TokenPair, responses=responses(401, 422, 429),
             summary="Log in with email and password")
def login(body: LoginRequest, request: Request) -> TokenPair:
    """A short-lived access token (JWT, 15 min) and a single-use refresh token (30 days).
    Attempts are limited per account and per client address (429 with Retry-After)."""
    throttle = request.app.state.reos.throttle
    address = client_ip(request) or "unknown"
    throttle.check("login", f"address:{address}", f"login attempts from {address}")
    throttle.check("login", f"account:{body.email.strip().lower()}", "login attempts for this account")
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        session = store.login(cur, body.email, body.password, body.tenant_id)
        _audit(request, cur, _principal(session), session.tenant_id, "login", session.user_id)
    return _pair(request, session)


@router.post("/auth/refresh", response_model=TokenPair, responses=responses(401, 422),
             summary="Exchange a refresh token for a new pair")
def refresh(body: RefreshRequest, request: Request) -> TokenPair:
    """Rotates: the refresh token works once. Presenting a used one again revokes the whole
    login session (every token of its family), since one of the two holders is a thief."""
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        rotation = store.rotate_refresh(cur, body.refresh_token)
        if rotation.status == "reused":
            cur.execute("SELECT current_setting('app.tenant_id', true)")
            _audit(request, cur, None, cur.fetchone()[0], "refresh_reuse_revoked_session")
        elif rotation.session is not None:
            _audit(request, cur, _principal(rotation.session), rotation.session.tenant_id, "refresh",
                   rotation.session.user_id)
    # Committed above (the revocation must stick) before the refusal below.
    if rotation.session is None:
        raise Problem(401, f"refresh token {rotation.status}")
    return _pair(request, rotation.session)


@router.post("/auth/logout", status_code=204, responses=responses(422), summary="Log out (revoke the session)")
def logout(body: RefreshRequest, request: Request) -> Response:
    """Revokes the refresh token's whole session. Answers 204 for an unknown token too."""
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        if store.logout(cur, body.refresh_token):
            cur.execute("SELECT current_setting('app.tenant_id', true)")
            _audit(request, cur, None, cur.fetchone()[0], "logout")
    return Response(status_code=204)


@router.get("/me", response_model=Me, responses=responses(401, 403), summary="Who the credentials act as")
def me(ctx: Context = needs("read")) -> Me:
    p = ctx.principal
    memberships = store.memberships_of(ctx.cur, p.user_id) if p.user_id is not None else []
    return Me(tenant_id=ctx.tenant_id, actor=p.actor, user_id=p.user_id, api_key_id=p.api_key_id, role=p.role,  # type: ignore[arg-type]
              platform_admin=p.platform_admin, permissions=[x for x in PERMISSIONS if p.may(x)],
              memberships=memberships)  # type: ignore[arg-type]
