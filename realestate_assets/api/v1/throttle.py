"""Request rate limits for /api/v1 (issue #11), on the `limits` library.

Three limits, each a `limits` rate string ("600/minute", "10 per 1 minute"):

* per client address, on every /api/v1 request before authentication (`ip`);
* per principal — an API key, or a user within a tenant — once it is authenticated (`principal`);
* login attempts, per account and per address, so a password cannot be guessed from many
  addresses at one account nor at many accounts from one address (`login`).

A sliding-window counter per limit and identity, kept in process memory, or in Redis when
`REDIS_URL` is set so that every API replica shares one budget. Over a limit: 429 problem+json
saying which limit, how many requests it allows and when it resets, with `Retry-After` and the
`RateLimit-*` headers of the IETF draft. Plan quotas (402) are a different thing, not here;
their daily API-call count (`count_today`) is kept in the same storage, so it is shared the same way.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from limits import RateLimitItem, parse, storage, strategies

from realestate_assets.api.v1.problems import Problem


@dataclass(frozen=True)
class RateLimits:
    ip: str = "1200/minute"
    principal: str = "600/minute"
    login: str = "10/minute"


class Throttle:
    def __init__(self, limits: RateLimits, storage_uri: str = "memory://", key_prefix: str = "reos:api") -> None:
        self.items: dict[str, RateLimitItem] = {kind: parse(getattr(limits, kind)) for kind in ("ip", "principal",
                                                                                                 "login")}
        self.in_memory = storage_uri.startswith("memory")  # no I/O: callable from the event loop
        self.storage = SweptMemory() if self.in_memory else storage.storage_from_string(storage_uri,
                                                                                        key_prefix=key_prefix)
        self.limiter = strategies.SlidingWindowCounterRateLimiter(self.storage)

    def check(self, kind: str, identity: str, label: str) -> None:
        """Count one request of IDENTITY against the KIND limit; 429 when it is over. LABEL names
        the limit for a person ("requests from 203.0.113.9")."""
        item = self.items[kind]
        if self.limiter.hit(item, kind, identity):
            return
        stats = self.limiter.get_window_stats(item, kind, identity)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise Problem(429, f"rate limit: {label} are limited to {item.amount} per {_window(item)}; "
                           f"try again in {retry_after} s",
                      headers={"Retry-After": str(retry_after), "RateLimit-Limit": str(item.amount),
                               "RateLimit-Remaining": str(stats.remaining), "RateLimit-Reset": str(retry_after)})

    def count_today(self, name: str, identity: str, now: datetime, add: int = 1) -> int:
        """Add `add` to IDENTITY's NAME counter of the UTC day `now` is in and return it (`add=0`:
        read it). A plain counter per day, not a window: a plan's daily quota resets at midnight UTC."""
        key = f"day/{name}/{identity}/{now.astimezone(UTC):%Y-%m-%d}"
        if add == 0:
            return int(self.storage.get(key))
        return int(self.storage.incr(key, 2 * 86400, amount=add))  # kept past the day's end, then gone


class SweptMemory(storage.MemoryStorage):
    """`limits`' in-memory storage, its expired counters swept once a second instead of 100 times.

    The library starts a new `threading.Timer(0.01)` on a counter's write whenever the last one
    has run: under load a thread started (and waited for) in the request's own thread about every
    10 ms — 3% of a property detail's Python time in bench_api's py-spy profile. A read expires
    its counter by itself (`get`, which every write calls first), so the sweep only frees the
    memory of counters nobody asks for again; a second's delay changes no count."""

    SWEEP_S = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._scheduling = threading.Lock()
        super().__init__(*args, **kwargs)

    def _MemoryStorage__schedule_expiry(self) -> None:  # the base class's private hook, as it is named there
        # Writes come from the event loop (limit_by_address) and the worker threads (the principal's
        # limit, the day's API calls) at once. The timer is made daemon *before* it is started and
        # shared only once started: setting `daemon` on `self.timer` after assigning it let another
        # thread start that very timer first ("cannot set daemon status of active thread", a 500
        # under bench_api's closed loop). One thread schedules; the others find it running.
        if self.timer.is_alive() or not self._scheduling.acquire(blocking=False):
            return
        try:
            if not self.timer.is_alive():
                timer = threading.Timer(self.SWEEP_S, self._MemoryStorage__expire_events)  # type: ignore[attr-defined]
                timer.daemon = True  # never holds the process open at exit
                timer.start()
                self.timer = timer
        finally:
            self._scheduling.release()


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
