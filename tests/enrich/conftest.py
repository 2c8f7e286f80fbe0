"""Fixtures for the enrichment client tests; the fake services live in fakes.py."""

from __future__ import annotations

import pytest

from tests.enrich.fakes import App, LocalServer

# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def serve():
    """serve(app) -> LocalServer, closed at the end of the test."""
    servers: list[LocalServer] = []

    def start(app: App) -> LocalServer:
        s = LocalServer(app)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def redis_url():
    """The real Redis at 127.0.0.1:6379 (db 15), or skip."""
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.3)
        client.ping()
    except Exception as exc:  # pragma: no cover - environment dependent
        pytest.skip(f"no Redis at 127.0.0.1:6379: {exc}")
    yield "redis://127.0.0.1:6379/15"
    for key in client.scan_iter("reos-test-*"):
        client.delete(key)
    client.close()
