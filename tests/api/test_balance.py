"""API processes sharing one listening socket hold equal shares of the open connections
(realestate_assets/api/balance.py), as bench/bench_api.py --spread balance launches them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from realestate_assets.api import balance

ROOT = Path(__file__).resolve().parents[2]


def slots(path: Path) -> list[tuple[int, float]]:
    data = path.read_bytes()
    return [balance.SLOT.unpack_from(data, i * balance.SLOT.size) for i in range(len(data) // balance.SLOT.size)]


def test_a_process_accepts_while_it_holds_no_more_than_the_live_others(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    balance.create_ledger(str(path), 3)
    mine, second, third = (balance.Ledger(str(path), slot) for slot in range(3))
    assert mine.may_accept(7)  # the others have no heartbeat yet: left out
    second.write(2, time.monotonic())
    third.write(4, time.monotonic())
    assert mine.may_accept(2) and not mine.may_accept(3)  # ties accept; the least-loaded always does
    assert second.may_accept(2) and not third.may_accept(4)
    second.write(2, 0.0)  # gone (a closed server zeroes its heartbeat; a dead one stops beating)
    assert mine.may_accept(4) and not mine.may_accept(5)
    assert mine.others(time.monotonic()) == [4]


def test_two_processes_on_one_socket_take_turns_with_the_connections(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    balance.create_ledger(str(ledger), 2)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    env = {**os.environ, "REOS_ENV": "local", "REOS_STATE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/reos_balance_unused"}  # /healthz connects to nothing
    servers = [subprocess.Popen([sys.executable, "-m", "realestate_assets.api.serve", "--fd", str(sock.fileno()),
                                 "--log-level", "warning"], pass_fds=(sock.fileno(),), cwd=ROOT,
                                env={**env, balance.ENV: f"{ledger}:{slot}"}) for slot in range(2)]
    sock.close()
    clients: list[httpx.Client] = []
    try:
        deadline = time.monotonic() + 120
        # Serving when both slots beat (each process writes its slot once its server is made).
        while not all(time.monotonic() - beat < balance.STALE_S for _, beat in slots(ledger)):
            assert all(server.poll() is None for server in servers) and time.monotonic() < deadline
            time.sleep(0.2)
        for _ in range(20):  # one at a time, each answered (so accepted) before the next connects
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            clients.append(client)
            assert client.get("/healthz").json() == {"status": "ok"}
        assert [count for count, _ in slots(ledger)] == [10, 10]
        held = [sum(1 for c in psutil.Process(server.pid).net_connections("tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port) for server in servers]
        assert held == [10, 10]
        for client in clients:  # each connection still served by the process holding it
            assert client.get("/healthz").status_code == 200
        for client in clients:
            client.close()
        clients.clear()
        while [count for count, _ in slots(ledger)] != [0, 0]:  # closed connections given back
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)  # uvicorn shuts down, then raises SIGTERM again: -15
    assert [beat for _, beat in slots(ledger)] == [0.0, 0.0]  # closed at shutdown: the slots left to the others
