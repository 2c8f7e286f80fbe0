"""HTTP retry rules shared by every outside caller (discovery adapters, enrichment clients).

Which answers are worth retrying, how to read a server's `Retry-After`, and how long to wait:
the server's word when it gave one, else jittered exponential backoff.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime

import tenacity

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterOrJitter(tenacity.wait.wait_base):
    """Wait what the server asked (`retry_after(exception)`, capped), else jittered backoff."""

    def __init__(self, retry_after: Callable[[BaseException | None], float | None], initial: float,
                 maximum: float, cap: float | None = None) -> None:
        self.retry_after = retry_after
        self.jitter = tenacity.wait_random_exponential(multiplier=initial, max=maximum)
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = self.retry_after(exc)
        if asked is not None:
            return asked if self.cap is None else min(asked, self.cap)
        return self.jitter(retry_state)
