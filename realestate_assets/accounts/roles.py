"""Who may do what: the one table of roles, key scopes and permission levels.

A route needs one permission: `read` (look), `write` (notes, campaigns, recipients), `admin`
(users, keys, subscriptions, tenant settings), `owner` (what only the tenant's owners do: pay for
its plan, api/v1/billing.py) or `platform` (operate the installation: create tenants). A tenant
role grants a level and everything below it; an API key's scopes grant the same levels up to
`admin` (a key never pays); a platform admin has every level in any tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PERMISSIONS = ("read", "write", "admin", "owner", "platform")
ROLES = ("owner", "admin", "analyst", "viewer")
SCOPES = ("read", "write", "admin")

_ROLE_LEVEL = {"viewer": "read", "analyst": "write", "admin": "admin", "owner": "owner"}


def _up_to(level: str) -> frozenset[str]:
    return frozenset(PERMISSIONS[: PERMISSIONS.index(level) + 1])


def role_permissions(role: str | None, platform_admin: bool = False) -> frozenset[str]:
    if platform_admin:
        return frozenset(PERMISSIONS)
    return _up_to(_ROLE_LEVEL[role]) if role in _ROLE_LEVEL else frozenset()


def scope_permissions(scopes: list[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        if scope in SCOPES:
            granted |= _up_to(scope)
    return frozenset(granted)


def may_grant(granter_role: str | None, role: str, platform_admin: bool = False) -> bool:
    """Only an owner (or a platform admin) makes or unmakes owners; admins grant the rest."""
    if platform_admin or granter_role == "owner":
        return role in ROLES
    return granter_role == "admin" and role in ("admin", "analyst", "viewer")


@dataclass(frozen=True)
class TenantStanding:
    """What every API request needs of its tenant: why it is suspended (None: it is not), its plan
    and the counties it follows. Read with the principal, in the round trip that scopes the
    request to the tenant (accounts/store.py), so a request pays no round trip for each; with them,
    the tenant's response-cache generation (api/v1/response_cache.py; None when read without it)."""

    suspended: str | None
    plan: str
    counties: tuple[str, ...]
    generation: int | None = None


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, resolved from a JWT or an API key."""

    tenant_id: str | None
    permissions: frozenset[str]
    actor: str  # email or key prefix, for the audit log
    user_id: int | None = None
    api_key_id: int | None = None
    role: str | None = None
    platform_admin: bool = False
    # Its tenant as the transaction that resolved it reads it (None: not read with the principal).
    standing: TenantStanding | None = field(default=None, compare=False)

    def may(self, permission: str) -> bool:
        return permission in self.permissions
