"""Request body limits (issue #14 item 5): refused before the body is read, or read with a cap.

The ASGI app is called directly, with a `receive` that counts what the server would have read:
that is the only way to see that a refused body was never read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.api.app import ApiSettings, create_app
from realestate_assets.api.body_limits import (
    DEFAULT_API_MAX_BODY_BYTES,
    UNSUBSCRIBE_MAX_BODY_BYTES,
    WEBHOOK_MAX_BODY_BYTES,
    body_limit_for,
    declared_length,
)
from tests.api.helpers_api import api_client


def app(**kw: Any) -> Any:
    return create_app(ApiSettings(database_url="postgresql://unused/x", unsubscribe_secret="u", link_secret="l",
                                  jwt_secret="j" * 32, webhook_public_key=None, **kw))


def call(asgi: Any, path: str, headers: dict[str, str], chunks: list[bytes] | None = None,
         endless_chunk: bytes | None = None) -> tuple[int, dict[str, str], bytes, int]:
    """(status, headers, body, bytes the app pulled from the client)."""
    pulled = 0
    queue = list(chunks or [])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if endless_chunk is not None:
            pulled += len(endless_chunk)
            return {"type": "http.request", "body": endless_chunk, "more_body": True}
        if not queue:
            return {"type": "http.disconnect"}
        chunk = queue.pop(0)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    asyncio.run(asgi(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body, pulled


def test_declared_length_over_the_limit_is_refused_without_reading() -> None:
    status, headers, body, pulled = call(app(), "/webhooks/sendgrid", {
        "content-type": "application/json", "content-length": str(50 * 1024 * 1024)}, chunks=[b"[" * 1024])
    assert status == 413 and pulled == 0
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 413 and str(WEBHOOK_MAX_BODY_BYTES) in problem["detail"]


def test_chunked_body_is_read_with_a_cap_and_cut_off() -> None:
    chunk = b"x" * 65536
    status, _, body, pulled = call(app(), "/api/v1/auth/login", {"content-type": "application/json",
                                                                 "transfer-encoding": "chunked"}, endless_chunk=chunk)
    assert status == 413 and json.loads(body)["status"] == 413
    # Reading stopped at the first chunk past the limit, not at the end of an endless body.
    assert DEFAULT_API_MAX_BODY_BYTES < pulled <= DEFAULT_API_MAX_BODY_BYTES + len(chunk)


def test_a_lying_content_length_is_cut_off_too() -> None:
    status, _, _, pulled = call(app(), "/unsubscribe", {"content-length": "10"}, endless_chunk=b"y" * 1024)
    assert status == 413 and pulled <= UNSUBSCRIBE_MAX_BODY_BYTES + 1024


def test_bad_content_length_is_a_400() -> None:
    for value in ("-1", "ten", "1e9"):
        status, _, _, pulled = call(app(), "/webhooks/sendgrid", {"content-length": value}, chunks=[b"[]"])
        assert status == 400 and pulled == 0, value


def test_limits_per_route_and_from_settings() -> None:
    assert body_limit_for("/webhooks/sendgrid", 10) == WEBHOOK_MAX_BODY_BYTES == 1024 * 1024
    assert body_limit_for("/unsubscribe", 10) == UNSUBSCRIBE_MAX_BODY_BYTES
    assert body_limit_for("/api/v1/auth/login", 10) == 10
    assert declared_length([]) is None and declared_length([(b"content-length", b"12")]) == 12
    with pytest.raises(ValueError):
        declared_length([(b"content-length", b"1"), (b"content-length", b"2")])
    small = app(api_max_body_bytes=100)
    status, _, _, pulled = call(small, "/api/v1/auth/login", {"content-length": "101"}, chunks=[b"{" * 101])
    assert status == 413 and pulled == 0


def test_bodies_within_the_limit_reach_the_routes(database_url: str, tmp_path) -> None:
    with api_client(database_url, tmp_path) as client:
        big = client.post("/api/v1/auth/login", content=b'{"email": "' + b"a" * 70000 + b'"}',
                          headers={"Content-Type": "application/json"})
        assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"
        # Under the limit: the route answers (a 401 for an unknown user), the body arrived whole.
        ok = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
        assert ok.status_code == 401
        # A webhook batch of about SendGrid's 768 KB passes the limit (503 here: no key configured).
        batch = json.dumps([{"event": "open", "sg_event_id": f"e{i}", "pad": "p" * 700} for i in range(1000)])
        assert 700_000 < len(batch) < WEBHOOK_MAX_BODY_BYTES
        assert client.post("/webhooks/sendgrid", content=batch).status_code == 503


def test_testclient_streamed_body_is_cut(database_url: str, tmp_path) -> None:
    def stream():
        for _ in range(40):
            yield b"z" * 65536

    with TestClient(app()) as client:
        response = client.post("/webhooks/sendgrid", content=stream())
        assert response.status_code == 413
