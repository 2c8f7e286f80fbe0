"""The API's one launch (realestate_assets/api/serve.py): the heap settled before serving, one process."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from realestate_assets.api import serve

ROOT = Path(__file__).resolve().parents[2]


def test_settle_heap_leaves_full_collections_only_what_is_made_afterwards() -> None:
    try:
        frozen = serve.settle_heap()
        assert frozen > 10_000  # this process's imports: pytest, FastAPI, the app
        # Not `==`: a frozen object freed meanwhile (another test's leftover thread) leaves the count.
        assert gc.get_freeze_count() <= frozen
        # What a full collection still scans: only objects made since (a handful here, not the imports).
        assert len(gc.get_objects()) < frozen / 10
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


@pytest.mark.parametrize("option", ["--workers", "--workers=2", "--reload"])
def test_one_process_per_launch(option: str) -> None:
    """uvicorn's workers would import the app again without the settled heap, and share one socket."""
    with pytest.raises(SystemExit, match="one process per launch"):
        serve.main([option, *(["2"] if option == "--workers" else [])])


def test_an_inherited_tcp_socket_hands_out_connections_without_nagle() -> None:
    """uvicorn wraps `--fd` as AF_UNIX, so uvloop leaves Nagle on: a response's second write then
    waited for the client's delayed ACK (40 ms). Set on the listener, accepted connections inherit it."""
    assert serve.inherited_socket(["--fd", "7", "--log-level", "warning"]) == 7
    assert serve.inherited_socket(["--fd=9"]) == 9
    assert serve.inherited_socket(["--port", "8000"]) is None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        serve.no_delay(listener.fileno())
        assert listener.fileno() != -1  # still open: uvicorn's to use
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_serves_on_a_socket_it_is_given(tmp_path: Path) -> None:
    """As bench/bench_api.py launches it: an inherited, already listening socket (`--fd`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    env = {**os.environ, "REOS_ENV": "local", "REOS_STATE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/reos_serve_unused"}  # /healthz connects to nothing
    server = subprocess.Popen([sys.executable, "-m", "realestate_assets.api.serve", "--fd", str(sock.fileno()),
                               "--log-level", "warning"], pass_fds=(sock.fileno(),), env=env, cwd=ROOT)
    sock.close()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=30)
