"""Several API processes on one listening socket, each holding its share of the open connections.

A client that keeps its connection open (wrk, a script, a proxy's pool) stays on the process that
accepted it. Spread by the kernel (`SO_REUSEPORT`: a hash of the addresses) or by whichever process
wakes first (one shared socket), 50 such connections land 25/25 … 33/17 on two processes; each
process still serves about half the requests (both stay busy), so the crowded one's clients wait
longer: bench/bench_split.py measured the detail's p95 at a median 85 ms for 25/25 against 123 ms
for 33/17 (docs/api.md, "The split of connections").

Here the processes share one listening socket and a ledger (a small file in shared memory, one
slot per process: its open connections and a heartbeat). A process accepts only while it holds no
more connections than any other live process; otherwise it stops watching the socket until one of
its connections closes or its next heartbeat finds the others have caught up. The least-loaded
process always watches, so a connection never waits for a paused one. A slot whose heartbeat is
older than `STALE_S` (a process gone, or a loop stalled that long) is left out of the comparison.

Opt-in, for processes that share a host (bench/bench_api.py's two): `REOS_API_BALANCE=PATH:SLOT`
makes `python -m realestate_assets.api.serve --fd N` serve through `BalancedLoop`. Production runs
one process a pod behind a Service, which spreads connections too (kube-proxy: a pod per
connection), and an L7 proxy in front (the ingress) spreads requests; nothing to balance there.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

try:  # uvicorn's own choice when installed ("auto")
    from uvloop import Loop as BaseLoop
except ImportError:  # pragma: no cover
    from asyncio import SelectorEventLoop as BaseLoop

ENV = "REOS_API_BALANCE"
SLOT = struct.Struct("qd")  # open connections, heartbeat (time.monotonic: one clock for the host)
BEAT_S = 0.05
STALE_S = 1.0

log = logging.getLogger(__name__)


def create_ledger(path: str, processes: int) -> None:
    """A ledger for `processes` processes, every slot empty (no heartbeat yet: left out)."""
    with open(path, "wb") as file:
        file.write(bytes(SLOT.size * processes))


class Ledger:
    """This process's slot in a ledger file, and its view of the others'."""

    def __init__(self, path: str, slot: int) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            self.map = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self.processes = len(self.map) // SLOT.size
        if not 0 <= slot < self.processes:
            raise ValueError(f"{ENV}: slot {slot} outside the ledger's {self.processes}")
        self.slot = slot

    @classmethod
    def from_env(cls) -> Ledger | None:
        value = os.environ.get(ENV)
        if not value:
            return None
        path, _, slot = value.rpartition(":")
        return cls(path, int(slot))

    def write(self, open_connections: int, beat: float) -> None:
        SLOT.pack_into(self.map, self.slot * SLOT.size, open_connections, beat)

    def others(self, now: float) -> list[int]:
        """The open connections of the other live processes."""
        found = []
        for slot in range(self.processes):
            if slot != self.slot:
                count, beat = SLOT.unpack_from(self.map, slot * SLOT.size)
                if now - beat < STALE_S:
                    found.append(count)
        return found

    def may_accept(self, mine: int) -> bool:
        return all(mine <= theirs for theirs in self.others(time.monotonic()))


class BalancedServer:
    """What uvicorn needs of an `asyncio.Server` (`sockets`, `close`, `wait_closed`), accepting by
    the ledger's rule and handing each connection to uvicorn's protocol."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Callable[[], asyncio.Protocol], ledger: Ledger) -> None:
        self.loop, self.sock, self.protocol_factory, self.ledger = loop, sock, protocol_factory, ledger
        self.sockets = (sock,)
        self.open = 0
        self.serving = True
        self.watching = False
        sock.setblocking(False)
        self._beat()

    def _beat(self) -> None:
        if not self.serving:
            return
        self.ledger.write(self.open, time.monotonic())
        self._watch_if_due()
        self.timer = self.loop.call_later(BEAT_S, self._beat)

    def _watch_if_due(self) -> None:
        if self.serving and not self.watching and self.ledger.may_accept(self.open):
            self.loop.add_reader(self.sock.fileno(), self._accept)
            self.watching = True

    def _stop_watching(self) -> None:
        if self.watching:
            self.loop.remove_reader(self.sock.fileno())
            self.watching = False

    def _accept(self) -> None:
        while self.serving and self.ledger.may_accept(self.open):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # another process took it: keep watching
            except OSError as error:  # out of descriptors, say: try again at the next beat
                log.warning("accept failed: %s", error)
                break
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.open += 1
            self.ledger.write(self.open, time.monotonic())
            self.loop.create_task(self._serve(conn))
        self._stop_watching()

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self._protocol, conn)
        except Exception:  # the client left before the transport was made
            conn.close()
            self._closed()

    def _protocol(self) -> asyncio.Protocol:
        protocol = self.protocol_factory()
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            self._closed()
            lost(exc)

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        return protocol

    def _closed(self) -> None:
        self.open -= 1
        if self.serving:
            self.ledger.write(self.open, time.monotonic())
            self._watch_if_due()

    def close(self) -> None:
        """Stop accepting; the slot left to go stale at once (the others stop counting it)."""
        if not self.serving:
            return
        self._stop_watching()
        self.serving = False
        self.timer.cancel()
        self.ledger.write(self.open, 0.0)
        self.sock.close()

    def is_serving(self) -> bool:
        return self.serving

    async def wait_closed(self) -> None:
        return None


class BalancedLoop(BaseLoop):
    """uvloop's loop (asyncio's without it), whose `create_server(sock=…)` serves through a `BalancedServer` when
    `REOS_API_BALANCE` names this process's ledger slot (uvicorn's `--loop` takes it by name)."""

    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, *,  # type: ignore[override]
                            sock: socket.socket | None = None, **kwargs: Any) -> Any:
        ledger = Ledger.from_env()
        if sock is None or ledger is None:
            return await super().create_server(protocol_factory, host, port, sock=sock, **kwargs)
        # uvicorn wraps an inherited descriptor as AF_UNIX whatever it is: read the family from it.
        real = socket.socket(fileno=os.dup(sock.fileno()))
        sock.close()
        return BalancedServer(self, real, protocol_factory, ledger)
