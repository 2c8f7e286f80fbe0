"""The property detail served as a plain Starlette route, ahead of FastAPI's router.

Why: the detail is the bench's hottest route (issue 11: p95 < 100 ms at 50 closed-loop clients), and
FastAPI's part of it — matching through the included routers, solving four dependencies (the
address limit, the two security schemes, `needs`) with their exit stacks, validating the path
parameter — was 12–22 % of the detail's held-GIL samples in the profile (docs/api.md "Not done yet"
1, stop 30 (b)). What it does is small and fixed, so this route does it in a few calls:

* it matches only what the FastAPI declaration would accept and answer the same way: a GET whose
  id is digits within the declared bounds. Anything else (another method, HEAD, `abc`, `0`, an id
  past the bigint) is left to the declaration, which answers 405/422 exactly as before;
* it runs the same rules in the same order: `limit_by_address`, the token as the two security
  schemes read it (`security.request_token`), an `Authorize` with the declaration's own permission
  and cache flag (read from its `needs` dependency, not repeated here), then the declared route
  function itself (`properties.get_property`) and the `Authorize.ensure_entered` check;
* errors raise into the same exception handlers (problem+json); the request layer (request id,
  slots, metrics) wraps it as any route. `scope["route"]` is this route, whose template is the
  declaration's, so the metrics label is unchanged.

The FastAPI declaration stays registered: it generates the OpenAPI document and answers whatever
this route leaves to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from realestate_assets.api.v1.security import Authorize, request_token

Scope = Any


class DirectDetail(Route):
    """GET `{prefix}/properties/{property_id}` for the ids the declaration accepts (`bounds`)."""

    def __init__(self, path: str, bounds: tuple[int, int], endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        super().__init__(path, endpoint, methods=["GET"], include_in_schema=False)
        self.bounds = bounds

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":  # HEAD too: the declaration's 405
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        low, high = self.bounds
        if not low <= child["path_params"]["property_id"] <= high:  # the declaration's 422
            return Match.NONE, {}
        child["route"] = self  # the metrics' route template (APIRoute sets it for itself)
        return match, child


def detail_route(prefix: str, declared: APIRoute,
                 limit_by_address: Callable[[Request], Awaitable[None]]) -> DirectDetail:
    """The direct route for `declared` (the detail's APIRoute: `property_id` and an in-route `needs`)."""
    (param,) = declared.dependant.path_params
    bounds = (next(m.ge for m in param.field_info.metadata if hasattr(m, "ge")),
              next(m.le for m in param.field_info.metadata if hasattr(m, "le")))
    needs = next(d.call for d in declared.dependant.dependencies if hasattr(d.call, "permission"))
    permission, cached = needs.permission, needs.cached  # type: ignore[union-attr]
    route_function = declared.endpoint

    async def endpoint(request: Request) -> Response:
        await limit_by_address(request)  # the router's dependency, first, as FastAPI solves it
        auth = Authorize(request, await request_token(request), permission, cached)
        answer = await route_function(request.path_params["property_id"], request, auth)
        auth.ensure_entered()
        return answer

    # `{property_id:int}`: digits only; its template (path_format) is the declaration's.
    return DirectDetail(prefix + declared.path.replace("{property_id}", "{property_id:int}"), bounds, endpoint)
