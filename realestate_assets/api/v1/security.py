"""The one dependency every /api/v1 route goes through: who is calling, in which tenant, and
may they do this.

`authorize("write")` reads `Authorization: Bearer <jwt | reos_…key>` or `X-API-Key`, opens the
request's transaction as the API role (`SET LOCAL ROLE reos_api`), scopes it to the principal's
tenant (`SET LOCAL app.tenant_id`, so row-level security confines every query), and refuses a
principal without the route's permission. The route gets a `Context` with that cursor; the
transaction commits when the route returns and rolls back when it raises. The list and the detail
take an `Authorize` instead (`needs(..., in_route=True)`) and enter the same `authorized` in their
own worker thread: one thread hop a request instead of three (the detail's: one of the process's few
route threads, `Authorize.run`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from realestate_assets.accounts import credentials as cred
from realestate_assets.accounts import store
from realestate_assets.accounts.roles import PERMISSIONS, Principal, TenantStanding
from realestate_assets.api.v1 import idempotency
from realestate_assets.api.v1.problems import Problem
from realestate_assets.api.v1.quota import count_api_call
from realestate_assets.db.tenancy import set_tenant

T = TypeVar("T")

PERMISSION_KEY = "x-permission"  # OpenAPI extension naming each route's permission

bearer = HTTPBearer(auto_error=False, description="JWT access token from /api/v1/auth/login, or an API key")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key reos_<prefix>_<secret>")


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or uuid.uuid4().hex


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass
class Context:
    """A request's principal and its tenant-scoped cursor."""

    cur: Any
    principal: Principal
    request_id: str
    ip: str | None

    @property
    def tenant_id(self) -> str:
        assert self.principal.tenant_id is not None
        return self.principal.tenant_id

    @property
    def standing(self) -> TenantStanding:
        """The tenant's suspension, plan and followed counties as this request's transaction read
        them when it authenticated (a write of the request itself is not in it)."""
        return self.principal.standing or store.tenant_standing(self.cur, self.tenant_id)

    def scope(self, tenant_id: str) -> None:
        """Move the transaction to another tenant (platform admin creating a tenant)."""
        set_tenant(self.cur, tenant_id)

    def audit(self, action: str, entity: str, entity_key: Any = None, before: Any = None, after: Any = None,
              tenant_id: str | None = None) -> bool:
        """`store.audit`: a write that changed nothing (an idempotent repeat) leaves no row."""
        return store.audit(self.cur, self.principal, tenant_id or self.tenant_id, action, entity, entity_key,
                           before, after, self.request_id, self.ip)


def resolve_principal(cur: Any, token: str, jwt_secret: str, generation: bool = False) -> Principal | None:
    """Principal for a bearer value (API key or JWT), with the cursor's transaction acting as the
    API role (tenancy.act_as_api) scoped to its tenant. One round trip either way: the role, the
    principal's own read (a key's lookup; a user's account and membership, its tenant being in
    the token) and its tenant's standing (store.key_principal, store.user_principal), with the
    response cache's generation when the route is answered from it (`generation`)."""
    if cred.looks_like_api_key(token):
        return store.key_principal(cur, token, act_as_api_first=True, generation=generation)
    try:
        claims = cred.decode_access_token(jwt_secret, token)
    except cred.InvalidToken:
        return None
    return store.user_principal(cur, claims, generation, act_as_api_first=True)


@contextmanager
def authorized(request: Request, token: str, permission: str, cached: bool = False,
               begun_by_first: bool = False) -> Iterator[Context]:
    """The request's transaction as `token`'s principal, once it may do `permission`: the one place
    a route's permission is enforced (both forms of `needs` enter it). Commits when the block ends,
    rolls back when it raises. `begun_by_first`: the transaction begins with authentication's
    first statement (Warehouse.transaction; one round trip fewer, no named cursors)."""
    state = request.app.state.reos
    with state.warehouse.transaction(begun_by_first) as conn, conn.cursor() as cur:
        principal = resolve_principal(cur, token, state.settings.jwt_secret, cached)
        if principal is None:
            raise Problem(401, "credentials not valid (expired, revoked or unknown)")
        # Read with the principal (no round trip of its own): suspension, plan, followed counties.
        standing = principal.standing or store.tenant_standing(cur, principal.tenant_id)  # type: ignore[arg-type]
        if not principal.platform_admin and standing.suspended is not None:
            raise Problem(403, f"workspace {principal.tenant_id} is suspended: {standing.suspended}")
        state.throttle.check("principal", _identity(principal), f"requests of {principal.actor}")
        count_api_call(request, principal, standing.plan)  # the plan's API calls a day (429 when used up)
        if not principal.may(permission):
            have = ", ".join(p for p in PERMISSIONS if principal.may(p)) or "nothing"
            raise Problem(403, f"this route needs the {permission!r} permission; the principal has {have}")
        idempotency.begin(request, cur, principal.tenant_id)  # a keyed POST: replayed, refused or claimed
        yield Context(cur=cur, principal=principal, request_id=request_id(request), ip=client_ip(request))


def _token(credentials: HTTPAuthorizationCredentials | None, api_key: str | None) -> str:
    token = credentials.credentials if credentials else api_key
    if not token:
        raise Problem(401, "no credentials: send Authorization: Bearer <token> or X-API-Key")
    return token


async def request_token(request: Request) -> str:
    """The caller's bearer value or API key, read by the same two security schemes `needs` declares
    (for a route served without FastAPI's dependency solving: api/v1/direct.py)."""
    return _token(await bearer(request), await api_key_header(request))


@dataclass
class Authorize:
    """What a route declared with `needs(..., in_route=True)` receives: `with auth() as ctx:` in its
    own body authorizes it (`authorized`) in the route's worker thread. The dependency itself runs
    in the event loop, so the request makes one thread hop instead of three (the sync dependency's
    enter and exit, the route); the route's whole body goes inside the `with`."""

    request: Request
    token: str
    permission: str
    cached: bool
    entered: bool = False

    def __call__(self) -> AbstractContextManager[Context]:
        self.entered = True
        # The list and the detail: no named cursors, so their BEGIN rides in authentication's first statement.
        return authorized(self.request, self.token, self.permission, self.cached, begun_by_first=True)

    def ensure_entered(self) -> None:
        """After the route: one that answered without authorizing is a 500, never an unchecked answer."""
        if not self.entered:
            raise RuntimeError(f"{self.request.url.path}: the route did not authorize (`with auth() as ctx:`)")

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` — the route's body, `with self() as ctx:` inside — in a worker thread of the
        process's few route threads (app.ROUTE_THREADS), the request waiting its turn in the event
        loop until one is free."""
        return await to_thread.run_sync(work, limiter=self.request.app.state.reos.route_threads)


def authorize(permission: str, cached: bool = False, in_route: bool = False) -> Any:
    """Dependency (routes use it through `needs`) for one permission; `cached`: the route answers
    from the response cache (its generation is read with the principal); `in_route`: the route
    authorizes itself through the `Authorize` it receives (no worker thread for the dependency)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                   api_key: str | None = Depends(api_key_header)) -> Iterator[Context]:
        with authorized(request, _token(credentials, api_key), permission, cached) as ctx:
            yield ctx

    async def in_route_dependency(request: Request,
                                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                                  api_key: str | None = Depends(api_key_header)) -> AsyncIterator[Authorize]:
        auth = Authorize(request, _token(credentials, api_key), permission, cached)
        yield auth
        auth.ensure_entered()

    chosen = in_route_dependency if in_route else dependency
    chosen.permission = permission  # type: ignore[attr-defined]  # read by document_permissions
    chosen.cached = cached  # type: ignore[attr-defined]  # read by api/v1/direct.py
    return chosen


def _identity(principal: Principal) -> str:
    """Whose budget a request spends: the API key, or the user within the tenant."""
    if principal.api_key_id is not None:
        return f"key:{principal.api_key_id}"
    return f"user:{principal.user_id}@{principal.tenant_id}"


def document_permissions(routes: list[Any]) -> None:
    """Write each route's permission into its OpenAPI operation (`x-permission`), from the
    dependency itself, so the document and the enforcement cannot disagree."""
    from fastapi.routing import APIRoute

    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        found = [d.call.permission for d in route.dependant.dependencies if hasattr(d.call, "permission")]
        if found:
            route.openapi_extra = {**(route.openapi_extra or {}), PERMISSION_KEY: found[0]}


def needs(permission: str, streaming: bool = False, cached: bool = False, in_route: bool = False) -> Any:
    """`ctx: Context = needs("write")` in a route signature (`cached=True` for a route answered
    from api/v1/response_cache.py); `auth: Authorize = needs("read", in_route=True)` for a route
    that authorizes in its own thread (`with auth() as ctx:`: the list and the detail)."""
    # scope="function": the transaction commits before the response is sent, not after. A
    # streamed response reads from the cursor while it is sent: its transaction (a read, or an
    # audit row that must not outlive a failed stream) ends after the last byte ("request").
    return Depends(authorize(permission, cached, in_route), scope="request" if streaming else "function")

