"""The circuit breaker: after `threshold` failed calls in a row, calls fail fast.

Kept rather than pybreaker: pybreaker 1.4's `CircuitBreaker.call` holds the breaker's RLock
for the whole guarded call, so the enrichment workers sharing one client would be serialized
(one request in flight per source). This one only locks to read or bump its counter.
"""

from __future__ import annotations

import threading
import time

from realestate_assets.net.retry import HttpError


class CircuitOpen(HttpError):
    """The breaker is open: the source failed too often in a row, so calls fail fast."""


class CircuitBreaker:
    """Opens after `threshold` consecutive failed calls and stays open for the run.

    A "failure" is a logical call that ended in an error after its retries (a no-match is an
    answer, not a failure). A success resets the count. `cooldown_s=None` keeps the breaker
    open until `reset()`; a number lets calls through again (half-open) after that many
    seconds, and one more failure re-opens it.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float | None = None) -> None:
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self.last_error: str | None = None

    @property
    def failures(self) -> int:
        """Failed calls in a row so far."""
        with self._lock:
            return self._consecutive

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._is_open_locked()

    def _is_open_locked(self) -> bool:
        if self._opened_at is None:
            return False
        return self.cooldown_s is None or time.monotonic() - self._opened_at < self.cooldown_s

    def check(self) -> None:
        """Raise CircuitOpen if calls should not go out now."""
        with self._lock:
            if self._is_open_locked():
                raise CircuitOpen(f"circuit open after {self._consecutive} consecutive failures "
                                  f"(last: {self.last_error}); not calling the source for the rest of this run")

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None

    def record_failure(self, error: str) -> None:
        with self._lock:
            self._consecutive += 1
            self.last_error = error
            if self._consecutive >= self.threshold:
                self._opened_at = time.monotonic()

    def reset(self) -> None:
        self.record_success()
