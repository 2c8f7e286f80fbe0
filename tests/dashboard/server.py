"""The real API (uvicorn, real sockets) on the test database, in a thread, for browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from tests.api.helpers_api import JWT_SECRET, TEST_POOL, UNLIMITED


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def api_server(database_url: str, state_dir: Path, qdrant_path: Path | None = None, **settings: Any) -> Iterator[str]:
    """Serve create_app() on a free loopback port; yields its base URL. The vector store is
    `qdrant_path` (default: an empty place under `state_dir`, never the machine's own state);
    `settings`: more ApiSettings."""
    from realestate_assets.api.app import ApiSettings, create_app
    from realestate_assets.api.v1.throttle import RateLimits
    from realestate_assets.settings import repo_root

    settings.setdefault("config_dir", str(repo_root() / "config"))
    app = create_app(ApiSettings(database_url=database_url, jwt_secret=JWT_SECRET,
                                 objects_dir=str(state_dir / "objects"),
                                 unsubscribe_secret="u" * 32, link_secret="l" * 32,
                                 outbox_dir=str(state_dir / "outbox"),
                                 rate_limits=RateLimits(ip=UNLIMITED, principal=UNLIMITED, login=UNLIMITED),
                                 qdrant_path=str(qdrant_path or state_dir / "qdrant"), **{**TEST_POOL, **settings}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
