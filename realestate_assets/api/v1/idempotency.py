"""`Idempotency-Key` on every authenticated POST under /api/v1, in one place (IETF
draft-ietf-httpapi-idempotency-key-header).

A client that may retry a POST (a timeout, a dropped connection) sends a unique key with it. The
first request with a key runs and its answer is kept (`idempotency_keys`, per tenant, 24 hours);
the same key again with the same request (method, path, query, body) gets that answer back,
marked `Idempotent-Replayed: true`, and nothing runs twice. The same key with another request is
refused (422, the draft's "key reuse"); the same key while the first request is still being
answered is refused (409, the draft's "concurrent request"), to be retried later.

Two halves, because the tenant is known only after authentication and the answer only after the
route:

* the pieces the API's one ASGI layer calls (api/layer.py; after the body limit, so it never reads
  more than a route would): `requested_key` for a POST with the header, `expect` fingerprinting
  the request (its body read by the layer) into the scope's state, `Answer` capturing what is
  sent, and `keep` keeping the answer when the route claimed the key;
* `begin`, called by `security.authorize` once the tenant is known: replays a kept answer, refuses
  a mismatch or a concurrent request, or claims the key in the request's own transaction (a
  concurrent request with the same key waits on the row and then sees the claim).

An answer with a 5xx status is not kept (the claim is dropped): the client may retry it.
Unauthenticated POSTs (log-in, the provider's webhook, unsubscribe) are not covered: they have no
tenant, and each is idempotent by its own rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response

from realestate_assets.api.v1.problems import PREFIX, Problem
from realestate_assets.db.tenancy import act_as_api

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
RETENTION = "24 hours"
STATE = "idempotency"  # scope["state"] entry: {"key", "fingerprint", "claimed_by"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

OPENAPI_PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "description": "A unique key (≤ 255 characters) making a retry safe: the same key and request again "
                   "within 24 hours get the first answer back (`Idempotent-Replayed: true`) and run nothing; "
                   "the same key with another request is a 422, while the first is still running a 409.",
    "schema": {"type": "string", "maxLength": MAX_KEY_CHARS},
}


class Replay(Exception):
    """The kept answer of an earlier request with the same key (raised before the route runs)."""

    def __init__(self, status_code: int, body: bytes, content_type: str | None) -> None:
        super().__init__(status_code)
        self.status_code, self.body, self.content_type = status_code, body, content_type


def fingerprint(method: str, path: str, query: bytes, content_type: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, content_type.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def begin(request: Request, cur: Any, tenant_id: str | None) -> None:
    """Replay, refuse or claim the request's key (no key, or no tenant: nothing to do)."""
    wanted = request.scope.get("state", {}).get(STATE)
    if wanted is None or tenant_id is None:
        return
    key, fp = wanted["key"], wanted["fingerprint"]
    cur.execute("SELECT request_hash, status_code, response_body, content_type, "
                f"created_at < now() - interval '{RETENTION}' FROM idempotency_keys WHERE key = %s", (key,))
    row = cur.fetchone()
    if row is not None and row[4]:
        cur.execute("DELETE FROM idempotency_keys WHERE key = %s", (key,))  # expired: the key is free again
        row = None
    if row is not None:
        request_hash, status, body, content_type, _ = row
        if status is None:
            raise Problem(409, f"a request with this {HEADER} is still being answered: retry later")
        if request_hash != fp:
            raise Problem(422, f"this {HEADER} was used for another request (method, path or body differ): "
                               "use a new key for a new request")
        raise Replay(status, bytes(body or b""), content_type)
    cur.execute("INSERT INTO idempotency_keys (tenant_id, key, request_hash, method, path) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, key) DO NOTHING",
                (tenant_id, key, fp, request.method, request.url.path))
    if cur.rowcount == 0:  # another request claimed it and committed while this one waited
        raise Problem(409, f"a request with this {HEADER} is still being answered: retry later")
    wanted["claimed_by"] = tenant_id


def _keep(warehouse: Any, tenant_id: str, key: str, fp: str, method: str, path: str, status: int,
          body: bytes, content_type: str | None) -> None:
    """The answer, kept for replays (upserted: a route that raised rolled its claim back); a 5xx
    drops the claim instead, so a retry runs again."""
    with warehouse.transaction() as conn, conn.cursor() as cur:
        act_as_api(cur, tenant_id)
        if status >= 500:
            cur.execute("DELETE FROM idempotency_keys WHERE key = %s AND request_hash = %s", (key, fp))
            return
        cur.execute("INSERT INTO idempotency_keys (tenant_id, key, request_hash, method, path, status_code, "
                    "response_body, content_type) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (tenant_id, key) DO UPDATE SET status_code = EXCLUDED.status_code, "
                    "response_body = EXCLUDED.response_body, content_type = EXCLUDED.content_type "
                    "WHERE idempotency_keys.request_hash = EXCLUDED.request_hash",
                    (tenant_id, key, fp, method, path, status, body, content_type))


def requested_key(scope: Scope) -> str | None:
    """The key of a POST under /api/v1 (the authenticated routes: elsewhere there is no tenant) that
    sends one, else None; ValueError when it is not usable."""
    if scope["method"] != "POST" or not scope["path"].startswith(PREFIX):
        return None
    wanted = HEADER.lower().encode()
    key = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == wanted), "").strip()
    if not key:
        return None
    if len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise ValueError(f"{HEADER} must be 1-{MAX_KEY_CHARS} printable characters")
    return key


def expect(scope: Scope, key: str, body: bytes) -> dict[str, Any]:
    """The keyed request's fingerprint in the scope's state, where `begin` finds it."""
    content_type = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"content-type"), "")
    fp = fingerprint("POST", scope["path"], scope.get("query_string", b""), content_type, body)
    wanted: dict[str, Any] = {"key": key, "fingerprint": fp, "claimed_by": None}
    scope.setdefault("state", {})[STATE] = wanted
    return wanted


class Answer:
    """What a keyed request was answered: status, content type and body, as sent."""

    def __init__(self) -> None:
        self.status: int = 500  # what the client gets if the app raises before answering
        self.content_type: str | None = None
        self.body: list[bytes] = []

    def capture(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))


async def keep(scope: Scope, wanted: dict[str, Any], answer: Answer) -> None:
    """The answer kept once `begin` claimed the key (nothing when the route did not get that far)."""
    if wanted["claimed_by"] is None:
        return
    warehouse = scope["app"].state.reos.warehouse
    await anyio.to_thread.run_sync(lambda: _keep(
        warehouse, wanted["claimed_by"], wanted["key"], wanted["fingerprint"], "POST", scope["path"], answer.status,
        b"".join(answer.body), answer.content_type))


def install(app: FastAPI) -> None:
    """The replay handler, and the header documented on every POST that authenticates."""

    @app.exception_handler(Replay)
    async def replayed(request: Request, exc: Replay) -> Response:
        return Response(content=exc.body, status_code=exc.status_code, media_type=exc.content_type,
                        headers={REPLAYED: "true"})


def document(routes: list[Any]) -> None:
    """The Idempotency-Key header parameter on every POST route with a permission (OpenAPI)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute) and "POST" in route.methods and any(
                hasattr(d.call, "permission") for d in route.dependant.dependencies):
            extra = route.openapi_extra or {}
            if not any(p.get("name") == HEADER for p in extra.get("parameters", [])):
                route.openapi_extra = {**extra, "parameters": [*extra.get("parameters", []), OPENAPI_PARAMETER]}
