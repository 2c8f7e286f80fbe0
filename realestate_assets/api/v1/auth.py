"""Login sessions: password login, refresh-token rotation, logout, and who am I; and the account
email flows: password reset, address verification (one-time links, accounts/notices.py)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from realestate_assets.accounts import credentials as cred
from realestate_assets.accounts import store
from realestate_assets.accounts.roles import PERMISSIONS, Principal, role_permissions
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.schemas import (
    Accepted,
    LoginRequest,
    Me,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenConfirm,
    TokenPair,
    VerificationResend,
)
from realestate_assets.api.v1.security import Context, client_ip, needs, request_id
from realestate_assets.db.tenancy import act_as_api, set_tenant

router = APIRouter(tags=["auth"])
log = logging.getLogger(__name__)


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


def limit_account_attempts(request: Request, email: str, what: str) -> None:
    """Attempts at an account (log-ins, reset requests) count per client address and per account:
    a password cannot be guessed from many addresses at one account nor at many from one."""
    throttle = request.app.state.reos.throttle
    address = client_ip(request) or "unknown"
    throttle.check("login", f"address:{address}", f"{what} from {address}")
    throttle.check("login", f"account:{email.strip().lower()}", f"{what} for this account")


def _audit(request: Request, cur: Any, principal: Principal | None, tenant_id: str, action: str,
           key: Any = None) -> None:
    store.audit(cur, principal, tenant_id, action, "sessions", key, request_id=request_id(request),
                ip=client_ip(request))


@router.post("/auth/login", response_model=TokenPair, responses=responses(401, 403, 422, 429),
             summary="Log in with email and password")
def login(body: LoginRequest, request: Request) -> TokenPair:
    """A short-lived access token (JWT, 15 min) and a single-use refresh token (30 days).
    Attempts are limited per account and per client address (429 with Retry-After). The right
    password of an address not verified yet answers 403 `email_not_verified` (a new link:
    `POST /auth/verify-email/resend`)."""
    limit_account_attempts(request, body.email, "login attempts")
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


def link_base(request: Request) -> str:
    """Where the links in account email point: the public address, else the one the request came to."""
    return request.app.state.reos.settings.public_base_url or str(request.base_url)


def send_account_mail(request: Request, kind: Any, issued: store.IssuedToken, **names: str | None) -> bool:
    """Send one account email; False (logged, never raised) when the mailer refused it."""
    from realestate_assets.outreach.mailer import ProviderError

    try:
        request.app.state.reos.account_mail.send(kind, issued, base_url=link_base(request), **names)
    except ProviderError as exc:
        log.error("account email (%s) to user %s not sent: %s", kind, issued.user_id, exc)
        return False
    return True


@router.post("/auth/password-reset", response_model=Accepted, status_code=202, responses=responses(422, 429),
             summary="Email a password-reset link")
def request_password_reset(body: PasswordResetRequest, request: Request) -> Accepted:
    """Always 202 with the same answer, whether or not the address has an account (no account
    enumeration). When it has, a one-time link valid for an hour goes to it, replacing any earlier
    one. Counted against the login attempt limits (per account and per client address)."""
    from realestate_assets.accounts.notices import PURPOSE, TTL

    limit_account_attempts(request, body.email, "account requests")
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        issued = store.issue_account_token(cur, body.email, PURPOSE["reset"], TTL["reset"])
    if issued is not None:  # committed first: the link in the email must already work
        send_account_mail(request, "reset", issued)
    return Accepted(detail=f"If an account exists for {body.email.strip()}, a link is on its way.")


@router.post("/auth/password-reset/confirm", status_code=204, responses=responses(400, 422),
             summary="Set a new password with the emailed token")
def confirm_password_reset(body: PasswordResetConfirm, request: Request) -> Response:
    """Sets the password (invitations use this too), marks the address verified and ends every
    login session of the account. 400 for a used, replaced or expired link."""
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        user_id = _redeem(cur, body.token, "reset_password", body.password)
        _audit_account(request, cur, user_id, "password_reset")
    return Response(status_code=204)


@router.post("/auth/verify-email", response_model=Accepted, status_code=202, responses=responses(400, 401, 403),
             summary="Email the caller a link to verify their address")
def request_verification(request: Request, ctx: Context = needs("read")) -> Accepted:
    """For a logged-in user whose address is not verified yet; a no-op (still 202) otherwise."""
    from realestate_assets.accounts.notices import PURPOSE, TTL

    if ctx.principal.user_id is None:
        raise Problem(400, "an API key has no email address to verify: log in as the user")
    issued = None
    if store.find_user(ctx.cur, ctx.principal.actor) is not None:
        issued = store.issue_account_token(ctx.cur, ctx.principal.actor, PURPOSE["verify"], TTL["verify"])
    if issued is not None and not issued.verified:
        # Sent before the route's transaction commits (a moment later): a commit that failed
        # leaves a dead link and a 500, and the person asks again.
        send_account_mail(request, "verify", issued)
    return Accepted(detail=f"If {ctx.principal.actor} is not verified yet, a link is on its way.")


@router.post("/auth/verify-email/resend", response_model=Accepted, status_code=202, responses=responses(422, 429),
             summary="Email a new verification link (no login needed)")
def resend_verification(body: VerificationResend, request: Request) -> Accepted:
    """For the person whose login answered `email_not_verified`: they cannot log in to ask. Always
    202 with the same answer, whether or not the address has an account or is verified already (no
    account enumeration); a link goes only to an account not verified yet, replacing any earlier one.
    Counted against the login attempt limits (per account and per client address)."""
    from realestate_assets.accounts.notices import PURPOSE, TTL

    limit_account_attempts(request, body.email, "account requests")
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        issued = store.issue_account_token(cur, body.email, PURPOSE["verify"], TTL["verify"])
    if issued is not None and not issued.verified:  # committed first: the link must already work
        send_account_mail(request, "verify", issued)
    return Accepted(detail=f"If {body.email.strip()} has an account not verified yet, a link is on its way.")


@router.post("/auth/verify-email/confirm", status_code=204, responses=responses(400, 422),
             summary="Verify an address with the emailed token")
def confirm_verification(body: TokenConfirm, request: Request) -> Response:
    with request.app.state.reos.warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, None)
        user_id = _redeem(cur, body.token, "verify_email")
        _audit_account(request, cur, user_id, "verify_email")
    return Response(status_code=204)


def _redeem(cur: Any, token: str, purpose: str, password: str | None = None) -> int:
    try:
        return store.redeem_account_token(cur, token, purpose, password)
    except store.AccountError as exc:
        raise Problem(400, exc.detail) from None


def _audit_account(request: Request, cur: Any, user_id: int, action: str) -> None:
    """An account's own change, in the audit log of each tenant it belongs to (each tenant's
    admins see what happened to their member's login); none for an account of no tenant."""
    for membership in store.memberships_of(cur, user_id):
        set_tenant(cur, membership["tenant_id"])
        store.audit(cur, None, membership["tenant_id"], action, "users", user_id,
                    request_id=request_id(request), ip=client_ip(request))
