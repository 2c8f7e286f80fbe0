"""Rate limits with pyrate-limiter: a GCRA bucket per source, in-process or shared in Redis."""

from __future__ import annotations

import httpx
from pyrate_limiter import GCRA, InMemoryStateStore, Limiter, Rate, RedisStateStore, StateBucket

from realestate_assets.net.retry import HttpError


def make_limiter(source: str, rate_per_s: float, *, burst: int = 1, redis_url: str | None = None,
                 key_prefix: str = "reos:ratelimit") -> Limiter:
    """A GCRA limiter of `rate_per_s` (fractional rates fine) for one source.

    In-process state by default; with `redis_url` the state lives in one Redis hash per source
    (`{key_prefix}:{source}`), updated by an atomic Lua script, so every pod shares the budget.
    `burst=1` spaces calls evenly (1/rate apart) instead of allowing a burst at start.
    """
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be > 0")
    # Expressed as 1000 units per (1000/rate) seconds: GCRA's emission interval is then exactly
    # 1/rate s in integer microseconds, whatever the rate.
    rate = Rate(1000, max(1, round(1_000_000 / rate_per_s)), burst=max(1, burst))
    if redis_url:
        import redis  # local import: only production needs it

        store = RedisStateStore(redis.Redis.from_url(redis_url), key=f"{key_prefix}:{source}")
    else:
        store = InMemoryStateStore()
    bucket = StateBucket([rate], algorithm=GCRA(), store=store)
    # buffer_ms is added to every computed wait; GCRA's wait is exact, so keep it tiny.
    return Limiter(bucket, buffer_ms=1)


class RateLimitedTransport(httpx.BaseTransport):
    """Takes one token from the limiter before each request that reaches the network.

    It sits under the HTTP cache, so a cache hit never waits for a token."""

    def __init__(self, inner: httpx.BaseTransport, limiter: Limiter | None, source: str,
                 acquire_timeout_s: float = 300.0) -> None:
        self.inner = inner
        self.limiter = limiter
        self.source = source
        self.acquire_timeout_s = acquire_timeout_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.limiter is not None:
            try:
                ok = self.limiter.try_acquire(self.source, blocking=True, timeout=self.acquire_timeout_s)
            except TimeoutError:
                ok = False
            if not ok:
                raise HttpError(f"rate limiter gave no token within {self.acquire_timeout_s}s")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
