"""The API's own handling of every HTTP request, as ONE plain ASGI layer in front of the FastAPI app.

In order, for each request:

* request id — `X-Request-ID` (`request_id_of`): a caller's id (≤ 64 printable characters) is
  kept so logs correlate, otherwise a new one; in `request.state.request_id` for the routes and on
  every response;
* database slots (`DatabaseSlots`) — no more requests that may use the database in flight than
  the pool has connections; the wait happens in the event loop;
* body limit (api/body_limits.py) — 400/413 before a route reads the body, a body without a
  length read with a cap;
* idempotency keys (api/v1/idempotency.py) — a keyed POST under /api/v1 is fingerprinted and its
  answer kept once authentication claimed the key;
* metrics (api/metrics.py `ApiMetrics.observe`) — every request's latency by route template,
  method and status (a 413 and a wait for a slot included).

Each piece stays a small named rule in its own module; only the calls are here. They were five
ASGI middlewares: each a coroutine resumed on every await of the request and, for three, one more
wrapper around `send` — with FastAPI's and Starlette's own, some fifteen nested callables, a
visible share of a property detail's API CPU (docs/api.md "Not done yet" 1). No BaseHTTPMiddleware
(it runs each request through an extra task and memory stream).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from realestate_assets.api import body_limits
from realestate_assets.api.metrics import ApiMetrics
from realestate_assets.api.v1 import idempotency
from realestate_assets.api.v1.problems import problem_response

REQUEST_ID = "X-Request-ID"
REQUEST_ID_HEADER = REQUEST_ID.lower().encode()

# Paths whose routes use the database (the rest of `/` is the dashboard's static files).
DATABASE_PATHS = ("/api/", "/webhooks/", "/unsubscribe", "/p/", "/objects/", "/metrics")

Scope = Any
Message = Any
Receive = Any
Send = Any


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-ID` when usable, else a new one (32 hex digits, as uuid4().hex is
    long: os.urandom alone, the UUID object was a visible cost on every request)."""
    given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER), b"").decode("latin-1")
    return given if 0 < len(given) <= 64 and given.isprintable() else os.urandom(16).hex()


class DatabaseSlots:
    """At most as many requests that may use the database in flight as the pool has connections.

    Sync routes and their dependencies run in AnyIO's worker threads: a request takes a connection
    in its dependency's thread and uses it in the route's thread. When more requests than
    connections are in flight, threads waiting for a connection can take every worker thread the
    holders need to finish, and all of them stall until the pool's 30 s timeout (measured: 50
    concurrent clients, bench/bench_api.py). Waiting here happens in the event loop, holding no
    thread. The dashboard's static files and the health probe do not wait."""

    FREE = ("/healthz",)

    def __init__(self, slots: Callable[[], int]) -> None:
        self.slots = slots  # called once, on the first request: the pool is built lazily
        self._semaphore: asyncio.Semaphore | None = None

    def semaphore_for(self, path: str) -> asyncio.Semaphore | None:
        """The semaphore a request to `path` holds while it runs; None when it needs no slot."""
        if not path or path in self.FREE or not path.startswith(DATABASE_PATHS):
            return None
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots())
        return self._semaphore


class RequestLayer:
    """The one ASGI layer (`app.add_middleware(RequestLayer, ...)`): see the module's docstring."""

    def __init__(self, app: Any, metrics: ApiMetrics, slots: DatabaseSlots, limit_for: Callable[[str], int]) -> None:
        self.app, self.metrics, self.slots, self.limit_for = app, metrics, slots, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        stamp = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        status = 500  # what the client gets if the app raises before answering
        answer: idempotency.Answer | None = None

        async def respond(message: Message) -> None:  # the one wrapper around the server's `send`
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), stamp]
            if answer is not None:
                answer.capture(message)
            await send(message)

        semaphore = self.slots.semaphore_for(scope["path"])
        try:
            if semaphore is not None:
                await semaphore.acquire()
            try:
                # The body limit: a bad or too large declared length is refused unread; a body is
                # read with the cap (a declared length is not trusted for it) and replayed.
                limit = self.limit_for(scope["path"])
                try:
                    length = body_limits.declared_length(scope.get("headers") or [])
                except ValueError as exc:
                    await body_limits.refuse(scope, receive, respond, 400, str(exc))
                    return
                if length is not None and length > limit:
                    await body_limits.refuse(scope, receive, respond, 413, f"request body of {length} bytes is "
                                             f"over this route's limit of {limit} bytes")
                    return
                body = b""
                if body_limits.may_have_body(scope, length):
                    read = await body_limits.read_capped(receive, limit)
                    if read is None:
                        await body_limits.refuse(scope, receive, respond, 413, f"request body is over this "
                                                 f"route's limit of {limit} bytes (read stopped there)")
                        return
                    body, pending = read
                    receive = body_limits.replay(body, pending, receive)
                # Idempotency: a keyed POST's body is fingerprinted only once it is allowed.
                try:
                    key = idempotency.requested_key(scope)
                except ValueError as exc:
                    await problem_response(400, str(exc))(scope, receive, respond)
                    return
                if key is None:
                    await self.app(scope, receive, respond)
                    return
                wanted = idempotency.expect(scope, key, body)
                answer = idempotency.Answer()
                await self.app(scope, receive, respond)
                await idempotency.keep(scope, wanted, answer)
            finally:
                if semaphore is not None:
                    semaphore.release()
        finally:
            self.metrics.observe(scope, status, time.perf_counter() - started)
