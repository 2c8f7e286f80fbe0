"""A tenant's outgoing webhook endpoints (issue #11): register, change, remove, test, and read the
delivery log. Tenant admins only; rows under row-level security (migration 0023). What is sent,
how it is signed and retried: realestate_assets/outreach/webhooks.py (the `webhooks_sensor` sends).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from realestate_assets.api.v1.problems import Problem, found, responses
from realestate_assets.api.v1.schemas import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointUpdate,
)
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_row, dict_rows
from realestate_assets.outreach import webhooks

router = APIRouter(tags=["webhook endpoints"])
ERRORS = (401, 403, 422)
EndpointId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DeliveryStatus = Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")]
COLUMNS = ("id, url, description, event_types, is_active, disabled_reason, left(secret, 10) || '…' AS secret_hint, "
           "created_at, updated_at")


def _check_url(url: str) -> str:
    from realestate_assets.settings import environment_name

    problem = webhooks.url_problem(url.strip(), local=environment_name() == "local")
    if problem:
        raise Problem(422, f"webhook url {url!r}: {problem}")
    return url.strip()


def _endpoint(ctx: Context, endpoint_id: int) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = %s", (endpoint_id,))
    return found(ctx.cur, f"no webhook endpoint {endpoint_id}")


@router.get("/webhook-endpoints", response_model=list[WebhookEndpoint], responses=responses(*ERRORS),
            summary="The tenant's webhook endpoints")
def list_endpoints(ctx: Context = needs("admin")) -> list[dict[str, Any]]:
    ctx.cur.execute(f"SELECT {COLUMNS} FROM webhook_endpoints ORDER BY id")
    return dict_rows(ctx.cur)


@router.post("/webhook-endpoints", response_model=WebhookEndpointCreated, status_code=201,
             responses=responses(*ERRORS), summary="Register an endpoint (its signing secret is in this answer only)")
def create_endpoint(body: WebhookEndpointCreate, ctx: Context = needs("admin")) -> dict[str, Any]:
    """Deliveries start with events after this moment (no history is replayed). Verify them with any
    Standard Webhooks library and the returned `secret`."""
    secret = webhooks.new_secret()
    ctx.cur.execute(f"INSERT INTO webhook_endpoints (tenant_id, url, description, event_types, secret) "
                    f"VALUES (%s, %s, %s, %s, %s) RETURNING {COLUMNS}",
                    (ctx.tenant_id, _check_url(body.url), body.description, sorted(set(body.event_types)), secret))
    row = dict_row(ctx.cur)
    assert row is not None
    ctx.audit("create", "webhook_endpoints", row["id"], after={"url": row["url"], "event_types": row["event_types"]})
    return {**row, "secret": secret}


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpoint, responses=responses(*ERRORS, 404),
              summary="Change an endpoint; switching it back on clears the reason it was off")
def update_endpoint(endpoint_id: EndpointId, body: WebhookEndpointUpdate, ctx: Context = needs("admin")) -> dict:
    before = _endpoint(ctx, endpoint_id)
    changes: dict[str, Any] = {}
    if body.url is not None:
        changes["url"] = _check_url(body.url)
    if body.description is not None:
        changes["description"] = body.description
    if body.event_types is not None:
        changes["event_types"] = sorted(set(body.event_types))
    if body.is_active is not None:
        changes["is_active"] = body.is_active
        changes["disabled_reason"] = None if body.is_active else f"switched off by {ctx.principal.actor}"
    if changes:
        assignments = ", ".join(f"{column} = %({column})s" for column in changes)
        ctx.cur.execute(f"UPDATE webhook_endpoints SET {assignments} WHERE id = %(id)s", {**changes, "id": endpoint_id})
    after = _endpoint(ctx, endpoint_id)
    keep = ("url", "description", "event_types", "is_active")
    ctx.audit("update", "webhook_endpoints", endpoint_id, before={k: before[k] for k in keep},
              after={k: after[k] for k in keep})
    return after


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, responses=responses(*ERRORS, 404),
               summary="Remove an endpoint and its delivery log")
def delete_endpoint(endpoint_id: EndpointId, ctx: Context = needs("admin")) -> Response:
    before = _endpoint(ctx, endpoint_id)
    ctx.cur.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))
    ctx.audit("delete", "webhook_endpoints", endpoint_id, before={"url": before["url"]})
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/ping", response_model=WebhookDelivery, status_code=202,
             responses=responses(*ERRORS, 404, 409), summary="Send the endpoint a `ping` event")
def ping_endpoint(endpoint_id: EndpointId, ctx: Context = needs("admin")) -> dict[str, Any]:
    """Enqueued now, sent by the webhooks sensor within about 30 s; follow it in the delivery log."""
    endpoint = _endpoint(ctx, endpoint_id)
    if not endpoint["is_active"]:
        raise Problem(409, f"webhook endpoint {endpoint_id} is switched off ({endpoint['disabled_reason']})")
    key = webhooks.ping_key()
    webhooks.enqueue(ctx.cur, ctx.tenant_id, "ping", key, {"endpoint_id": endpoint_id}, endpoint_id=endpoint_id)
    ctx.cur.execute(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = %s AND event_key = %s",
                    (endpoint_id, key))
    row = dict_row(ctx.cur)
    assert row is not None
    return row


DELIVERY_COLUMNS = ("id, message_id, event_type, event_key, status, attempts, next_attempt_at, last_status_code, "
                    "last_error, delivered_at, created_at, payload")


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=list[WebhookDelivery],
            responses=responses(*ERRORS, 404), summary="The endpoint's deliveries, newest first")
def list_deliveries(endpoint_id: EndpointId, status: DeliveryStatus = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100,
                    ctx: Context = needs("admin")) -> list[dict[str, Any]]:
    _endpoint(ctx, endpoint_id)
    ctx.cur.execute(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = %s "
                    "AND (%s::text IS NULL OR status = %s) ORDER BY created_at DESC, id DESC LIMIT %s",
                    (endpoint_id, status, status, limit))
    return dict_rows(ctx.cur)
