"""The REST API under /api/v1 (issue #11): accounts, API keys, tenants, subscriptions, properties,
notes, saved searches, analytics, the model registry, the tenant's export, recipients,
segments and campaigns, settings, the tenant's usage of its plan, and billing (its plan bought
through Stripe).

`install(app)` adds the routers and the problem+json error handlers (the request id is api/layer.py's); it is
the only thing app.py calls. Later routers (properties, analytics, campaigns…) are added here.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from realestate_assets.api.v1 import (
    admin,
    analytics,
    auth,
    billing,
    campaign_preview,
    campaign_properties,
    campaigns,
    direct,
    idempotency,
    models,
    privacy,
    properties,
    property_activity,
    property_market,
    property_reasons,
    property_search,
    settings,
    usage,
    webhook_endpoints,
    workspace,
)
from realestate_assets.api.v1.problems import PREFIX, install_problem_handlers, responses
from realestate_assets.api.v1.security import client_ip, document_permissions
from realestate_assets.api.v1.ws import install_ws


async def limit_by_address(request: Request) -> None:
    """Every /api/v1 request counts against its client address's limit, before authentication.

    In the event loop when the counters are in process memory: the check takes microseconds, less
    than a sync dependency's hop to a worker thread (waking worker threads, four hops a request, was
    a seventh of a list request's Python time in bench_api's profile). In a worker thread when they
    are in Redis: a network round trip must not hold up the loop."""
    address = client_ip(request) or "unknown"
    throttle = request.app.state.reos.throttle
    if throttle.in_memory:
        throttle.check("ip", address, f"requests from {address}")
    else:
        await run_in_threadpool(throttle.check, "ip", address, f"requests from {address}")


def install(app: FastAPI) -> None:
    for router in (auth.router, admin.router, properties.router, property_market.router, property_reasons.router,
                   property_activity.router, property_search.router, workspace.router, analytics.router,
                   models.router, privacy.router, webhook_endpoints.router, campaign_preview.router,
                   campaign_properties.router, campaigns.router, settings.router, usage.router, billing.router):
        document_permissions(router.routes)
        idempotency.document(router.routes)
        for route in router.routes:  # every route may answer 429 (limit_by_address, the principal's limit)
            route.responses = {**responses(429), **getattr(route, "responses", {})}
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(limit_by_address)])
    # The property detail served ahead of FastAPI's router (api/v1/direct.py: why, and what stays the same).
    declared = next(r for r in properties.router.routes if getattr(r, "endpoint", None) is properties.get_property)
    app.router.routes.insert(0, direct.detail_route(PREFIX, declared, limit_by_address))
    install_ws(app)  # /api/v1/ws: authenticated by its first message, throttled per address inside
    install_problem_handlers(app)
    idempotency.install(app)
