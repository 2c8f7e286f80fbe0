"""The REST API under /api/v1 (issue #11): accounts, API keys, tenants, subscriptions, properties,
notes, saved searches, analytics, the model registry, the tenant's export, recipients,
segments and campaigns, and settings.

`install(app)` adds the routers, the problem+json error handlers and the request id; it is the
only thing app.py calls. Later routers (properties, analytics, campaigns…) are added here.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, FastAPI, Request

from realestate_assets.api.v1 import (
    admin,
    analytics,
    auth,
    campaigns,
    models,
    privacy,
    properties,
    property_activity,
    property_market,
    property_search,
    settings,
    webhook_endpoints,
    workspace,
)
from realestate_assets.api.v1.problems import PREFIX, install_problem_handlers, responses
from realestate_assets.api.v1.security import client_ip, document_permissions
from realestate_assets.api.v1.ws import install_ws

REQUEST_ID = "X-Request-ID"


def limit_by_address(request: Request) -> None:
    """Every /api/v1 request counts against its client address's limit, before authentication."""
    address = client_ip(request) or "unknown"
    request.app.state.reos.throttle.check("ip", address, f"requests from {address}")


def install(app: FastAPI) -> None:
    for router in (auth.router, admin.router, properties.router, property_market.router, property_activity.router,
                   property_search.router, workspace.router, analytics.router, models.router, privacy.router,
                   webhook_endpoints.router, campaigns.router, settings.router):
        document_permissions(router.routes)
        for route in router.routes:  # every route may answer 429 (limit_by_address, the principal's limit)
            route.responses = {**responses(429), **getattr(route, "responses", {})}
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(limit_by_address)])
    install_ws(app)  # /api/v1/ws: authenticated by its first message, throttled per address inside
    install_problem_handlers(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Any) -> Any:
        # A caller's id (≤ 64 printable chars) is kept so logs correlate; otherwise a new one.
        given = request.headers.get(REQUEST_ID, "")
        request.state.request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        response = await call_next(request)
        response.headers[REQUEST_ID] = request.state.request_id
        return response
