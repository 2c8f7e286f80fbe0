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
