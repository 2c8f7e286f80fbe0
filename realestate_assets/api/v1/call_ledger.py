"""API calls kept for billing history (issue #11): `api_call_days` (migration 0038), per tenant and UTC day.

The daily quota is enforced on the rate limiter's counter (api/v1/throttle.py: Redis or memory),
which forgets a day two days after it. Billing needs the history, so every call that
api/v1/quota.count_api_call counts is also added here — the same call, counted by the same rule —
to a per-process tally that a background thread writes to PostgreSQL every `FLUSH_S` seconds in one
statement for every (tenant, day) that made calls since the last flush (`calls = calls + n`): one
upsert per flush, never one write per request. The API's shutdown flushes what is left.

Bounded loss: a process that dies without its shutdown (SIGKILL, out of memory, a lost node) loses
the calls it counted since its last flush, at most `FLUSH_S` seconds of its traffic. A flush that
fails (the database restarting) puts its tally back and is tried again at the next one.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import Any

log = logging.getLogger(__name__)

FLUSH_S = 10.0

UPSERT_SQL = """
INSERT INTO api_call_days (tenant_id, day, calls)
SELECT t, d, n FROM unnest(%s::text[], %s::date[], %s::bigint[]) AS x(t, d, n)
ON CONFLICT (tenant_id, day) DO UPDATE SET calls = api_call_days.calls + EXCLUDED.calls
"""


def day_of(now: datetime) -> date:
    return now.astimezone(UTC).date()


class CallLedger:
    """A process's tally of API calls per (tenant, UTC day) not yet written, and its writer.

    `transaction`: a callable returning a context manager that yields a psycopg2 connection and
    commits on exit (Warehouse.transaction); it connects as the tables' owner, so one statement
    writes every tenant's rows."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Any]], flush_s: float = FLUSH_S) -> None:
        self._transaction = transaction
        self.flush_s = flush_s
        self._pending: Counter[tuple[str, date]] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, tenant_id: str, now: datetime, calls: int = 1) -> None:
        """Count `calls` of the tenant on `now`'s UTC day; no I/O (starts the writer on first use)."""
        with self._lock:
            self._pending[(tenant_id, day_of(now))] += calls
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="api-call-ledger", daemon=True)
                self._thread.start()

    def pending(self) -> dict[tuple[str, date], int]:
        with self._lock:
            return dict(self._pending)

    def _take(self) -> Counter[tuple[str, date]]:
        with self._lock:
            taken, self._pending = self._pending, Counter()
        return taken

    def flush(self) -> int:
        """Write the tally in one statement; the (tenant, day) rows written. On failure the tally
        goes back (the next flush retries it) and the error is raised."""
        taken = self._take()
        if not taken:
            return 0
        keys = sorted(taken)
        try:
            with self._transaction() as conn, conn.cursor() as cur:
                cur.execute(UPSERT_SQL, ([t for t, _ in keys], [d for _, d in keys], [taken[k] for k in keys]))
        except Exception:
            with self._lock:
                self._pending.update(taken)
            raise
        return len(keys)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception as exc:  # the database away: kept in memory, retried next time
                log.warning("API call ledger not flushed (retried in %.0f s): %s", self.flush_s, exc)

    def close(self) -> None:
        """Stop the writer and flush what is left (the API's shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.flush_s + 5)
        try:
            self.flush()
        except Exception as exc:
            log.error("API call ledger: %d (tenant, day) tallies lost at shutdown: %s", len(self.pending()), exc)


def history(cur: Any, tenant_id: str, since: date) -> Iterator[tuple[date, int]]:
    """(day, calls) written for the tenant since `since`, oldest first."""
    cur.execute("SELECT day, calls FROM api_call_days WHERE tenant_id = %s AND day >= %s ORDER BY day",
                (tenant_id, since))
    for day, calls in cur.fetchall():
        yield day, int(calls)
