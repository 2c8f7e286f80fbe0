"""The account tables, read and written on a psycopg2 cursor.

The caller owns the transaction and its scope: the API runs these as `reos_api` with
`app.tenant_id` set (realestate_assets.db.tenancy.act_as_api), so a tenant-owned row of another
tenant is invisible here whatever the arguments say; the CLI runs them as the owner. The three
`reos_auth_*` database functions are the only way to look across tenants, and each answers for
one credential only (the key prefix, the refresh token, the user's own memberships).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from realestate_assets.accounts import credentials as cred
from realestate_assets.accounts.roles import (
    ROLES,
    SCOPES,
    Principal,
    TenantStanding,
    role_permissions,
    scope_permissions,
)
from realestate_assets.db.prepared import PerConnection
from realestate_assets.db.tenancy import (
    TENANT_ID,
    act_as_api_text,
    set_tenant,
    set_user,
    set_user_text,
    tenant_column_tables,
    tenant_setting,
)
from realestate_assets.db.warehouse import dict_row, dict_rows

COUNTY = re.compile(r"^[a-z0-9_]{2,64}$")
MIN_PASSWORD = 10


class AccountError(ValueError):
    """A request the account rules refuse; `kind` maps to an HTTP status in the API."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # invalid | conflict | not_found | unauthorized | forbidden | email_not_verified
        self.detail = detail


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def normalize_email(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("invalid", f"email {email!r}: {exc}") from exc


# ---- tenants, users, memberships -------------------------------------------------------------

def create_tenant(cur: Any, tenant_id: str, name: str) -> dict[str, Any]:
    if not TENANT_ID.match(tenant_id):
        raise AccountError("invalid", f"tenant id {tenant_id!r}: lower-case letters, digits, - and _ (2-63)")
    cur.execute("INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING "
                "RETURNING id, name, created_at", (tenant_id, name.strip() or tenant_id))
    row = dict_row(cur)
    if row is None:
        raise AccountError("conflict", f"tenant {tenant_id!r} already exists")
    return row


def suspension(cur: Any, tenant_id: str) -> str | None:
    """Why the tenant is suspended (a platform admin's reason), None when it is not."""
    cur.execute("SELECT suspended_at, suspended_reason FROM tenants WHERE id = %s", (tenant_id,))
    row = cur.fetchone()
    return None if row is None else _suspended(row[0], row[1])


def _suspended(suspended_at: datetime | None, reason: str | None) -> str | None:
    if suspended_at is None:
        return None
    return reason or "suspended by the platform's operators"


# The tenant's standing (TenantStanding): suspension, plan, followed counties (the tenant's own
# subscriptions, whoever reads them: a platform admin acting in it too) and, for a route answered
# from the response cache (list, detail), the cache's generation (migration 0037). One PL/pgSQL
# function, reos_tenant_standing (migration 0047: its plan kept per session); it runs as the caller,
# under the request's row-level security. KEY_AUTH and USER_AUTH read it in the authentication's
# own statement; tenant_standing below on its own.
def _standing(row: dict[str, Any]) -> TenantStanding:
    """From a row with reos_tenant_standing's columns (NULLs when no tenant row joined: quotas.tenant_plan's
    default plan, nothing followed)."""
    return TenantStanding(suspended=_suspended(row["standing_suspended_at"], row["standing_suspended_reason"]),
                          plan=row["standing_plan"] or "free", counties=tuple(row["standing_counties"] or ()),
                          generation=row.get("standing_generation"))


def tenant_standing(cur: Any, tenant_id: str) -> TenantStanding:
    """The tenant's standing in its own round trip (for a principal resolved without it)."""
    cur.execute("SELECT * FROM reos_tenant_standing(%s, false)", (tenant_id,))
    return _standing(dict_row(cur))  # type: ignore[arg-type]


def set_suspension(cur: Any, tenant_id: str, reason: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Suspend the tenant with `reason`, or resume it (None); (before, after). A suspended
    tenant's people and keys are refused by the API (api/v1/security.py); its data stays."""
    cur.execute("SELECT suspended_at, suspended_reason FROM tenants WHERE id = %s", (tenant_id,))
    row = cur.fetchone()
    if row is None:
        raise AccountError("not_found", f"no tenant {tenant_id!r}")
    before = {"suspended": row[0] is not None, "reason": row[1]}
    if (reason is None) != (row[0] is None) or (reason is not None and reason != row[1]):
        cur.execute("UPDATE tenants SET suspended_at = CASE WHEN %(r)s::text IS NULL THEN NULL "
                    "ELSE coalesce(suspended_at, now()) END, suspended_reason = %(r)s WHERE id = %(t)s",
                    {"r": reason, "t": tenant_id})
    return before, {"suspended": reason is not None, "reason": reason}


# The foreign keys between tables (child, parent): a tenant's rows are deleted children first,
# so no key is ever left dangling.
_FOREIGN_KEYS = """
SELECT DISTINCT child.relname, parent.relname FROM pg_constraint k
JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace AND n.nspname = current_schema()
WHERE k.contype = 'f' AND child.oid <> parent.oid
"""


def delete_tenant(cur: Any, tenant_id: str) -> dict[str, int]:
    """Every row the tenant owns, in every table with a tenant_id, then the tenant itself; rows
    deleted per table. Runs as the database owner (the CLI), scoped to the tenant so row-level
    security admits exactly its rows. Accounts are people, not tenant data: users stay (they may
    belong to other tenants); their memberships here go. Objects are the caller's (objects.tenant_prefix)."""
    if tenant_id == "default":
        raise AccountError("invalid", "the installation's own tenant 'default' cannot be deleted")
    if not tenant_exists(cur, tenant_id):
        raise AccountError("not_found", f"no tenant {tenant_id!r}")
    set_tenant(cur, tenant_id)
    tables = set(tenant_column_tables(cur))
    cur.execute(_FOREIGN_KEYS)
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in cur.fetchall():
        if child in tables and parent in tables:
            parents[child].add(parent)
    deleted: dict[str, int] = {}
    remaining = set(tables)
    while remaining:
        # Tables no remaining table refers to: nothing points at their rows any more.
        leaves = sorted(t for t in remaining if not any(t in parents[o] for o in remaining if o != t))
        if not leaves:
            raise RuntimeError(f"foreign keys form a cycle among {sorted(remaining)}")
        for table in leaves:
            cur.execute(f'DELETE FROM "{table}" WHERE tenant_id = %s', (tenant_id,))
            if cur.rowcount:
                deleted[table] = cur.rowcount
            remaining.discard(table)
    cur.execute("DELETE FROM tenants WHERE id = %s", (tenant_id,))
    return deleted


def tenant_exists(cur: Any, tenant_id: str) -> bool:
    cur.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant_id,))
    return cur.fetchone() is not None


def create_user(cur: Any, email: str, password: str | None = None, *, platform_admin: bool = False,
                verified: bool = False) -> dict[str, Any]:
    email = normalize_email(email)
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountError("invalid", f"password: at least {MIN_PASSWORD} characters")
    # Through the definer function: the API role may not insert into users (RLS, migration 0007).
    cur.execute("SELECT id, email, is_platform_admin, email_verified_at, is_active, created_at "
                "FROM reos_create_user(%s, %s, %s, %s)",
                (email, cred.hash_password(password) if password else None, platform_admin, verified))
    row = dict_row(cur)
    if row is None:
        raise AccountError("conflict", f"user {email} already exists")
    return row


def find_user(cur: Any, email: str) -> dict[str, Any] | None:
    """The account of an email address, in any tenant (definer function: login and invitations)."""
    cur.execute("SELECT id, email, password_hash, is_platform_admin, is_active, email_verified_at "
                "FROM reos_find_user(%s)", (email,))
    return dict_row(cur)


def set_membership(cur: Any, tenant_id: str, user_id: int, role: str) -> tuple[dict | None, dict]:
    """Add the user to the tenant or change their role; (before, after)."""
    if role not in ROLES:
        raise AccountError("invalid", f"role {role!r}: one of {', '.join(ROLES)}")
    cur.execute("SELECT role FROM memberships WHERE tenant_id = %s AND user_id = %s FOR UPDATE", (tenant_id, user_id))
    before = dict_row(cur)
    cur.execute("INSERT INTO memberships (tenant_id, user_id, role) VALUES (%s, %s, %s) "
                "ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role "
                "RETURNING id, tenant_id, user_id, role", (tenant_id, user_id, role))
    return before, dict_row(cur)  # type: ignore[return-value]


def list_members(cur: Any) -> list[dict[str, Any]]:
    """Members of the tenant the cursor is scoped to (RLS on memberships does the filtering)."""
    cur.execute("SELECT m.user_id, u.email, m.role, u.is_active, u.email_verified_at, m.created_at "
                "FROM memberships m JOIN users u ON u.id = m.user_id ORDER BY u.email")
    return dict_rows(cur)


def remove_membership(cur: Any, tenant_id: str, user_id: int) -> dict[str, Any] | None:
    cur.execute("DELETE FROM memberships WHERE tenant_id = %s AND user_id = %s RETURNING user_id, role",
                (tenant_id, user_id))
    return dict_row(cur)


def memberships_of(cur: Any, user_id: int) -> list[dict[str, Any]]:
    """All of a user's tenants and roles (definer function: crosses tenants for this user only)."""
    cur.execute("SELECT tenant_id, role FROM reos_auth_memberships(%s)", (user_id,))
    return dict_rows(cur)


# ---- one-time account tokens (password reset, invitation, address verification) ------------

TOKEN_PURPOSES = ("reset_password", "verify_email")


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued for an account: the raw value goes into one email and nowhere else."""

    user_id: int
    email: str
    verified: bool
    token: str


def issue_account_token(cur: Any, email: str, purpose: str, ttl: timedelta) -> IssuedToken | None:
    """A fresh one-time token for the active account with this email (older open ones of the same
    purpose stop working); None when there is no such account — the caller answers the same way
    either way, so the answer never tells whether an address has an account."""
    if purpose not in TOKEN_PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    token = cred.new_refresh_token()
    cur.execute("SELECT user_id, email, email_verified_at FROM reos_issue_account_token(%s, %s, %s, %s)",
                (email, purpose, cred.sha256_hex(token), ttl))
    row = cur.fetchone()
    return None if row is None else IssuedToken(user_id=row[0], email=row[1], verified=row[2] is not None, token=token)


def redeem_account_token(cur: Any, token: str, purpose: str, new_password: str | None = None) -> int:
    """Use a token once: verifies the address; a reset also sets the password and ends every login
    session of the account. The user id; AccountError("invalid") for an unknown, used, superseded
    or expired token (one message for all: which one it was helps only a guesser)."""
    if purpose == "reset_password" and (new_password is None or len(new_password) < MIN_PASSWORD):
        raise AccountError("invalid", f"password: at least {MIN_PASSWORD} characters")
    cur.execute("SELECT reos_redeem_account_token(%s, %s, %s)",
                (cred.sha256_hex(token), purpose, cred.hash_password(new_password) if new_password else None))
    user_id = cur.fetchone()[0]
    if user_id is None:
        raise AccountError("invalid", "this link is not valid: it was used, replaced by a newer one, or expired")
    return int(user_id)


# ---- login sessions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    user_id: int
    email: str
    tenant_id: str
    role: str | None
    platform_admin: bool
    refresh_token: str


def login(cur: Any, email: str, password: str, tenant_id: str | None = None,
          now: datetime | None = None) -> Session:
    """Check the password, pick the tenant, start a refresh-token family. The cursor is then
    scoped to the session's tenant. One message for every failure before the password matched: no
    account enumeration. An address not verified yet (`email_verified_at`) may not log in:
    AccountError("email_not_verified"); an invitation's link verifies it when it sets the password."""
    user = find_user(cur, email)
    # Verify against a throwaway hash when the user is unknown, so both paths cost the same.
    ok, rehash = cred.verify_password(user["password_hash"] if user else _dummy_hash(), password)
    if not user or not ok or not user["is_active"]:
        raise AccountError("unauthorized", "email or password not valid")
    # Only after the password matched: telling an unverified address apart reveals nothing to a
    # guesser, and the person who knows the password learns what to do next.
    if user["email_verified_at"] is None:
        raise AccountError("email_not_verified", f"the address {user['email']} is not verified yet: open the link "
                           "in the verification email, or ask for a new one (POST /auth/verify-email/resend)")
    set_user(cur, user["id"], user["is_platform_admin"])
    tenants = {m["tenant_id"]: m["role"] for m in memberships_of(cur, user["id"])}
    if tenant_id is None:
        if len(tenants) == 1:
            tenant_id = next(iter(tenants))
        elif len(tenants) > 1:
            raise AccountError("invalid", "member of several tenants: say which (tenant_id)")
        elif user["is_platform_admin"]:
            tenant_id = "default"  # the installation's own tenant (migration 0001)
        else:
            raise AccountError("unauthorized", "email or password not valid")  # a member of nothing
    if tenant_id not in tenants and not (user["is_platform_admin"] and tenant_exists(cur, tenant_id)):
        raise AccountError("unauthorized", "email or password not valid")
    set_tenant(cur, tenant_id)
    if not user["is_platform_admin"] and (reason := suspension(cur, tenant_id)) is not None:
        raise AccountError("forbidden", f"workspace {tenant_id} is suspended: {reason}")
    if rehash:
        cur.execute("UPDATE users SET password_hash = %s WHERE id = %s", (cred.hash_password(password), user["id"]))
    token = _issue_refresh(cur, tenant_id, user["id"], uuid.uuid4(), now)
    return Session(user_id=user["id"], email=user["email"], tenant_id=tenant_id, role=tenants.get(tenant_id),
                   platform_admin=user["is_platform_admin"], refresh_token=token)


@cache
def _dummy_hash() -> str:
    return cred.hash_password("not a password anyone has")


def _issue_refresh(cur: Any, tenant_id: str, user_id: int, family: uuid.UUID, now: datetime | None) -> str:
    token = cred.new_refresh_token()
    cur.execute("INSERT INTO refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (tenant_id, user_id, str(family), cred.sha256_hex(token), _now(now) + cred.REFRESH_TTL))
    return token


def scope_to_refresh_token(cur: Any, token: str) -> str | None:
    """Scope the cursor to the tenant of a refresh token (None when the token is unknown)."""
    cur.execute("SELECT reos_auth_refresh_tenant(%s)", (cred.sha256_hex(token),))
    row = cur.fetchone()
    tenant_id = row[0] if row else None
    if tenant_id:
        set_tenant(cur, tenant_id)
    return tenant_id


@dataclass(frozen=True)
class Rotation:
    """`status`: ok, reused (the whole family is now revoked), expired, revoked or unknown."""

    status: str
    session: Session | None = None


def rotate_refresh(cur: Any, token: str, now: datetime | None = None) -> Rotation:
    """Exchange a refresh token for a new one of the same family. A token presented twice means
    it was stolen (or the client raced itself): the family is revoked, so both holders are logged
    out. The caller commits whatever the status, so the revocation sticks."""
    if scope_to_refresh_token(cur, token) is None:
        return Rotation("unknown")
    cur.execute("SELECT id, tenant_id, user_id, family_id, used_at, revoked_at, expires_at FROM refresh_tokens "
                "WHERE token_hash = %s FOR UPDATE", (cred.sha256_hex(token),))
    row = dict_row(cur)
    if row is None:
        return Rotation("unknown")
    set_user(cur, row["user_id"])
    cur.execute("SELECT email, is_active, is_platform_admin FROM users WHERE id = %s", (row["user_id"],))
    row.update(dict_row(cur) or {"email": "", "is_active": False, "is_platform_admin": False})
    set_user(cur, row["user_id"], row["is_platform_admin"])
    if row["used_at"] is not None:
        revoke_family(cur, row["family_id"])
        return Rotation("reused")
    if row["revoked_at"] is not None or not row["is_active"]:
        return Rotation("revoked")
    if row["expires_at"] <= _now(now):
        return Rotation("expired")
    cur.execute("UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (_now(now), row["id"]))
    cur.execute("SELECT role FROM memberships WHERE tenant_id = %s AND user_id = %s",
                (row["tenant_id"], row["user_id"]))
    member = cur.fetchone()
    if member is None and not row["is_platform_admin"]:
        revoke_family(cur, row["family_id"])  # removed from the tenant since login
        return Rotation("revoked")
    new = _issue_refresh(cur, row["tenant_id"], row["user_id"], row["family_id"], now)
    return Rotation("ok", Session(user_id=row["user_id"], email=row["email"], tenant_id=row["tenant_id"],
                                  role=member[0] if member else None, platform_admin=row["is_platform_admin"],
                                  refresh_token=new))


def revoke_family(cur: Any, family_id: Any) -> int:
    cur.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL",
                (str(family_id),))
    return cur.rowcount


def logout(cur: Any, token: str) -> bool:
    """Revoke the session (the token's whole family). False when the token is unknown."""
    if scope_to_refresh_token(cur, token) is None:
        return False
    cur.execute("SELECT family_id FROM refresh_tokens WHERE token_hash = %s", (cred.sha256_hex(token),))
    row = cur.fetchone()
    if row is None:
        return False
    revoke_family(cur, row[0])
    return True


# A user's re-read (user_principal): the account, its membership in the token's tenant and the
# tenant's standing; prepared once per connection (db/prepared.py), planned on every request before.
USER_AUTH = ("SELECT u.email, u.is_active, u.is_platform_admin, m.role, t.* FROM users u "
             "LEFT JOIN memberships m ON m.user_id = u.id AND m.tenant_id = $1::text "
             "CROSS JOIN reos_tenant_standing($1::text, $3::boolean) t WHERE u.id = $2::bigint")
_user_auth: PerConnection[None] = PerConnection("reos_user_auth", lambda cur: (USER_AUTH, None))


def user_principal(cur: Any, claims: cred.AccessClaims, generation: bool = False,
                   act_as_api_first: bool = False) -> Principal | None:
    """The principal behind a valid access token, re-read so that a deactivated user or a
    removed membership stops working at once, not when the token expires. `generation`: read the
    response cache's generation with the tenant's standing. `act_as_api_first`: the transaction
    takes the API role scoped to the token's tenant (tenancy.act_as_api) in the same round trip."""
    scope = f"{act_as_api_text(cur, claims.tenant_id)}; " if act_as_api_first else ""
    _user_auth.execute(cur, (claims.tenant_id, claims.user_id, generation),
                       before=scope + set_user_text(cur, claims.user_id))
    row = dict_row(cur)
    if row is None or not row["is_active"] or (row["role"] is None and not row["is_platform_admin"]):
        return None
    if row["is_platform_admin"]:  # app.user_id is set already; only an operator needs the second setting
        set_user(cur, claims.user_id, True)
    return Principal(tenant_id=claims.tenant_id, user_id=claims.user_id, actor=row["email"], role=row["role"],
                     platform_admin=row["is_platform_admin"],
                     permissions=role_permissions(row["role"], row["is_platform_admin"]), standing=_standing(row))


# ---- API keys --------------------------------------------------------------------------------

def create_api_key(cur: Any, tenant_id: str, user_id: int | None, name: str, scopes: list[str],
                   expires_at: datetime | None = None, now: datetime | None = None) -> tuple[dict[str, Any], str]:
    """(row, key string). The key string is returned once and never stored."""
    if not scopes or not set(scopes) <= set(SCOPES):
        raise AccountError("invalid", f"scopes {scopes!r}: one or more of {', '.join(SCOPES)}")
    scopes = sorted(set(scopes), key=SCOPES.index)
    if expires_at is not None and expires_at <= _now(now):
        raise AccountError("invalid", "expires_at is in the past")
    key = cred.new_api_key()
    cur.execute("INSERT INTO api_keys (tenant_id, user_id, name, prefix, secret_hash, scopes, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING " + _KEY_COLUMNS,
                (tenant_id, user_id, name.strip() or "key", key.prefix, cred.sha256_hex(key.secret), scopes,
                 expires_at))
    return dict_row(cur), key.token  # type: ignore[return-value]


# How stale an API key's last_used_at may be (it is written at most once per this, see key_principal).
KEY_USE_PRECISION = timedelta(minutes=1)
_KEY_COLUMNS = "id, name, prefix, scopes, expires_at, revoked_at, last_used_at, user_id, created_at"


# An API key's authentication in one statement, one round trip (it was two: the lookup, then the
# tenant scope with the key's use and the standing). The lookup by prefix (reos_auth_api_key, the
# definer function); only a key whose secret's SHA-256 matches ($4) and that is neither revoked nor
# expired at $2 goes on (a qual on `k` alone: applied at its scan, before any lateral subquery
# runs); then the transaction is scoped to its tenant, and the lateral subqueries that read under
# row-level security take the scope's result as their input, so they run after it: the key's use
# noted (reos_note_api_key_use: at most once a minute, SKIP LOCKED) and the tenant's standing
# read. `set_config` is volatile, so PostgreSQL evaluates `s` once a row (never inlined into its
# readers). Prepared once per connection (db/prepared.py): planning the joined statement on every
# request cost more than the round trip it saves (PostgreSQL CPU 0.18 → 0.28 ms unprepared,
# 0.13 ms prepared). Python still compares the secret in constant time (cred.secret_matches).
KEY_AUTH = (
    "SELECT k.id, k.tenant_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, st.* "
    "FROM reos_auth_api_key($1::text) k "
    f"CROSS JOIN LATERAL (SELECT {tenant_setting('k.tenant_id')} AS tenant) s "
    "CROSS JOIN LATERAL (SELECT reos_note_api_key_use(k.id, $2::timestamptz, $3::timestamptz) "
    "WHERE s.tenant IS NOT NULL) u "
    "CROSS JOIN LATERAL reos_tenant_standing(s.tenant, $5::boolean) st "
    "WHERE k.secret_hash = $4::text AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)")
_key_auth: PerConnection[None] = PerConnection("reos_key_auth", lambda cur: (KEY_AUTH, None))


def key_principal(cur: Any, token: str, now: datetime | None = None,
                  act_as_api_first: bool = False, generation: bool = False) -> Principal | None:
    """The principal behind an API key string (None: malformed, unknown, wrong secret, revoked,
    expired). Scopes the cursor to the key's tenant and records the use, in one round trip
    (KEY_AUTH). `act_as_api_first`: the transaction takes the API role (tenancy.act_as_api) in
    the same round trip. `generation`: read the response cache's generation with the tenant's standing."""
    parsed = cred.parse_api_key(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    # Recorded to the minute, and skipped while another request holds the row: an UPDATE on every
    # request held the key's row lock until that request's commit, so every request of one key
    # waited for the one before it (bench/bench_api.py: 50 clients on one key ran one at a time).
    at = _now(now)
    _key_auth.execute(cur, (prefix, at, at - KEY_USE_PRECISION, cred.sha256_hex(secret), generation),
                      before=act_as_api_text(cur) if act_as_api_first else "")
    row = dict_row(cur)
    if row is None or not cred.secret_matches(secret, row["secret_hash"]) or row["revoked_at"] is not None:
        return None
    if row["expires_at"] is not None and row["expires_at"] <= at:
        return None
    return Principal(tenant_id=row["tenant_id"], api_key_id=row["id"], actor=f"key:{prefix}",
                     permissions=scope_permissions(row["scopes"]), standing=_standing(row))


def list_api_keys(cur: Any) -> list[dict[str, Any]]:
    cur.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")
    return dict_rows(cur)


def revoke_api_key(cur: Any, key_id: int) -> tuple[dict, dict] | None:
    cur.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = %s FOR UPDATE", (key_id,))
    before = dict_row(cur)
    if before is None:
        return None
    cur.execute(f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING {_KEY_COLUMNS}",
                (key_id,))
    return before, dict_row(cur)  # type: ignore[return-value]


# ---- subscriptions ---------------------------------------------------------------------------

def list_subscriptions(cur: Any) -> list[dict[str, Any]]:
    cur.execute("SELECT county, created_at FROM subscriptions ORDER BY county")
    return dict_rows(cur)


def subscribe(cur: Any, tenant_id: str, county: str) -> dict[str, Any] | None:
    """Follow a county; None when already followed."""
    if not COUNTY.match(county):
        raise AccountError("invalid", f"county {county!r}: a county key such as king_wa")
    cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s) ON CONFLICT DO NOTHING "
                "RETURNING county, created_at", (tenant_id, county))
    return dict_row(cur)


def unsubscribe_county(cur: Any, county: str) -> dict[str, Any] | None:
    cur.execute("DELETE FROM subscriptions WHERE county = %s RETURNING county, created_at", (county,))
    return dict_row(cur)


# ---- audit -----------------------------------------------------------------------------------

def unchanged(before: Any, after: Any) -> bool:
    """True when a write changed nothing it records: there was a before, and every field of it
    has the same value after (`before` may name fewer fields than `after`, e.g. only a role)."""
    if before is None or after is None:
        return False
    if isinstance(before, dict) and isinstance(after, dict):
        return all(k in after and _json(after[k]) == _json(v) for k, v in before.items())
    return _json(before) == _json(after)


def audit(cur: Any, principal: Principal | None, tenant_id: str, action: str, entity: str, entity_key: Any = None,
          before: Any = None, after: Any = None, request_id: str | None = None, ip: str | None = None) -> bool:
    """One audit row per write that changed something; never pass secrets in before/after.

    A repeated idempotent request (the same revoke, the same role set again) changes nothing and
    writes no row — the rule is here, once, rather than a unique key per request: the trail
    records changes to the data, and an identical retry is not one. Rows without a before/after
    (log-ins, log-outs, creations) are always written. True when a row was written."""
    if unchanged(before, after):
        return False
    cur.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_key, user_id, api_key_id, before, after, "
        "request_id, ip) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, principal.actor if principal else "system", action, entity,
         None if entity_key is None else str(entity_key),
         principal.user_id if principal else None, principal.api_key_id if principal else None,
         _json(before), _json(after), request_id, ip))
    return True


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)
