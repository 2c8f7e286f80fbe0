"""Request body limits, enforced before a route reads the body (docs/api.md, "Limits").

Enforced by the API's one ASGI layer (api/layer.py) in front of every route, with the pieces below:

* a `Content-Length` over the route's limit is answered 413 (problem+json) at once — the body
  is never read, so a client cannot make the API buffer a gigabyte to be told no;
* a body without a length (chunked transfer) is read with a cap: at limit + 1 bytes reading
  stops and the answer is the same 413;
* a body within the limit is handed to the route unchanged.

The limits per route are one decision, `body_limit_for` below, from the API settings:

* `POST /webhooks/sendgrid` — `WEBHOOK_MAX_BODY_BYTES` (1 MiB). SendGrid posts its events "within
  approximately 30 seconds or when the batch size reaches 768 kilobytes" (Twilio SendGrid,
  Getting Started with the Event Webhook): a batch is about 768 KiB at most, and the extra
  quarter is headroom for the batch that crosses the threshold ("approximately"). A larger
  body did not come from SendGrid. `POST /api/v1/billing/stripe/webhook` has the same limit: one
  Stripe event a request, usually a few KiB, but Stripe documents no maximum (an invoice's event
  carries its lines and metadata), and a 413 would have Stripe retry, for days, an event that can
  never fit.
* `/unsubscribe` — `UNSUBSCRIBE_MAX_BODY_BYTES` (4 KiB): the RFC 8058 body is
  `List-Unsubscribe=One-Click`; the landing page's form posts the same.
* everything else, the JSON API under /api/v1 included — `REOS_API_MAX_BODY_BYTES`
  (default 64 KiB): the largest request today (creating a tenant with its owner) is well
  under 1 KiB.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from realestate_assets.api.v1.problems import problem_response

WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
UNSUBSCRIBE_MAX_BODY_BYTES = 4 * 1024
DEFAULT_API_MAX_BODY_BYTES = 64 * 1024
STRIPE_WEBHOOK_PATH = "/api/v1/billing/stripe/webhook"  # api/v1/billing.py

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def body_limit_for(path: str, api_max_body_bytes: int, webhook_max_body_bytes: int = WEBHOOK_MAX_BODY_BYTES) -> int:
    """The most bytes a request to `path` may carry."""
    if path.startswith("/webhooks/") or path == STRIPE_WEBHOOK_PATH:
        return webhook_max_body_bytes
    if path.rstrip("/") == "/unsubscribe":
        return UNSUBSCRIBE_MAX_BODY_BYTES
    return api_max_body_bytes


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length, None when absent; ValueError when it is not one non-negative integer."""
    values = [v for k, v in headers if k.lower() == b"content-length"]
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].strip().isdigit():
        raise ValueError("Content-Length is not one non-negative integer")
    return int(values[0])


def may_have_body(scope: Scope, length: int | None) -> bool:
    """Whether the request can carry a body at all: HTTP/1.x frames one only with a Content-Length
    or a Transfer-Encoding, so a GET without either has none to read (nor to replay)."""
    if length is not None or scope.get("http_version") not in ("1.0", "1.1"):
        return True
    return any(k.lower() == b"transfer-encoding" for k, _ in scope.get("headers") or [])


async def read_capped(receive: Receive, limit: int) -> tuple[bytes, Message | None] | None:
    """The body read with a cap: (body, None) when whole; (b"", message) when the client went away
    first (`message` is handed on to the app); None at limit + 1 bytes (reading stops there). A
    declared length is not trusted for this: the cap counts what arrives."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"", message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), None


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    """The 400/413 problem, sent before the route runs."""
    # `Connection: close`: the unread rest of the body must not be taken for the next request.
    response = problem_response(status, detail, headers={"Connection": "close"})
    await response(scope, receive, send)


def replay(body: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read (or the disconnect that ended the
    reading), then defers to the server's."""
    queue: list[Message] = [{"type": "http.request", "body": body, "more_body": False}] \
        if pending is None else [pending]

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed
