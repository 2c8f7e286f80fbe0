"""Live updates for the dashboard: PostgreSQL NOTIFY on `reos_live` → the tenant's WebSockets.

The writes themselves notify (triggers of migration 0017: an email's state, a new investor memo;
of 0029: a finished pipeline run, to each tenant following its county; the API's campaign send):
nothing polls the tables. One listening connection per API process, in a thread (psycopg2 has
no asyncio LISTEN): it waits on the socket, parses each payload and hands it to the event loop,
which puts it on the queue of every socket of that payload's tenant. The thread starts with the
first socket and reconnects after a lost connection; events of that gap are not replayed
(clients refetch what they show when the socket reopens).
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import threading
from collections import defaultdict
from typing import Any

CHANNEL = "reos_live"
QUEUE_SIZE = 256  # events waiting for one slow socket; beyond, the oldest are dropped
log = logging.getLogger(__name__)


def notify(cur: Any, tenant_id: str, kind: str, **payload: Any) -> None:
    """Tell the tenant's sockets, when the current transaction commits."""
    cur.execute("SELECT pg_notify(%s, %s)",
                (CHANNEL, json.dumps({"tenant": tenant_id, "kind": kind, **payload}, default=str)))


class LiveHub:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._queues: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listening = threading.Event()  # set once LISTEN is in place (tests wait for it)

    def subscribe(self, tenant_id: str) -> asyncio.Queue:
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._queues[tenant_id].add(queue)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen, name="reos-live", daemon=True)
            self._thread.start()
        return queue

    def unsubscribe(self, tenant_id: str, queue: asyncio.Queue) -> None:
        self._queues[tenant_id].discard(queue)
        if not self._queues[tenant_id]:
            del self._queues[tenant_id]

    def stop(self) -> None:
        self._stop.set()

    def _dispatch(self, event: dict[str, Any]) -> None:
        for queue in list(self._queues.get(event.get("tenant", ""), ())):
            if queue.full():
                queue.get_nowait()  # a socket that does not keep up loses its oldest events, not the others
            queue.put_nowait(event)

    def _listen(self) -> None:
        import psycopg2

        backoff = 0.5
        while not self._stop.is_set():
            try:
                conn = psycopg2.connect(self._dsn)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                backoff = 0.5
                while not self._stop.is_set():
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.poll()
                        while conn.notifies:
                            self._forward(conn.notifies.pop(0).payload)
                conn.close()
            except Exception as exc:  # a lost connection: wait, then listen again
                self.listening.clear()
                log.warning("live updates: listening on %s failed (%s); retrying in %.1f s", CHANNEL, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _forward(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if isinstance(event, dict) and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._dispatch, event)
