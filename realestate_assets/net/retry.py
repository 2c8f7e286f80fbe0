"""What an HTTP answer means, and how long to wait before asking again.

`classify(status, headers)` is the one place that turns an answer into a decision:

* `ok`      2xx: use it.
* `retry`   429 or 5xx: ask again, after what the server asked (`Retry-After`, or SendGrid's
            `X-RateLimit-Reset`) or else a jittered exponential backoff.
* `give_up` 429/5xx whose server asked for a longer wait than the policy accepts: fail now
            rather than sleep for an hour or hammer a server that said "not before".
* `reject`  any other status (400 bad query, 401/403 key, 404 dataset): retrying cannot fix it.

`retrying(policy)` is the tenacity loop every caller runs its attempt in: it retries an
`HttpError` whose `retryable` is set and a transport error, and waits what the error carries.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx
import tenacity

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Action = Literal["ok", "retry", "give_up", "reject"]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all (first one included), backoff, and patience."""

    attempts: int = 6
    initial_wait_s: float = 1.0
    max_wait_s: float = 60.0  # cap of the exponential backoff
    timeout_s: float = 60.0  # per attempt
    max_retry_after_s: float = 60.0  # a server asking for a longer wait is given up on


class HttpError(Exception):
    """An answer (or no answer) the caller cannot use; `retryable` says whether to ask again."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after_s: float | None = None, text: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.text = text


@dataclass(frozen=True)
class Verdict:
    action: Action
    status: int
    wait_s: float | None = None  # what the server asked us to wait, if it said
    reason: str = ""

    def error(self, text: str = "") -> HttpError:
        return HttpError(self.reason, status=self.status, retryable=self.action == "retry",
                         retry_after_s=self.wait_s, text=text)


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


def asked_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: `Retry-After`, else `X-RateLimit-Reset` (epoch seconds)."""
    lower = {k.lower(): v for k, v in dict(headers or {}).items()}
    now = time.time() if now is None else now
    wait = parse_retry_after(lower.get("retry-after"), datetime.fromtimestamp(now, UTC))
    if wait is not None:
        return wait
    try:
        return max(0.0, float(lower["x-ratelimit-reset"]) - now)
    except (KeyError, TypeError, ValueError):
        return None


def classify(status: int, headers: Mapping[str, str] | None = None, *, max_retry_after_s: float = 60.0,
             now: float | None = None) -> Verdict:
    """The one rule for what an HTTP status (plus its wait headers) means; see the module doc."""
    if 200 <= status < 300:
        return Verdict("ok", status)
    if status not in RETRY_STATUSES:
        return Verdict("reject", status, reason=f"HTTP {status}")
    wait = asked_wait(headers or {}, now)
    if wait is not None and wait > max_retry_after_s:
        return Verdict("give_up", status, wait, f"HTTP {status}; the server asks for a {wait:.0f}s wait, "
                                                f"more than the {max_retry_after_s:.0f}s we wait")
    return Verdict("retry", status, wait, f"HTTP {status}")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) or (isinstance(exc, HttpError) and exc.retryable)


class _AskedOrJitter(tenacity.wait.wait_base):
    """Wait what the server asked (carried by the HttpError), else jittered exponential backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.jitter = tenacity.wait_random_exponential(multiplier=policy.initial_wait_s, max=policy.max_wait_s)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = exc.retry_after_s if isinstance(exc, HttpError) else None
        return asked if asked is not None else self.jitter(retry_state)


def retrying(policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep) -> tenacity.Retrying:
    """The retry loop: `retrying(policy)(attempt, *args)` returns the first good result or
    re-raises the last error once the attempts run out (or at once, if it is not retryable)."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=_AskedOrJitter(policy),
        retry=tenacity.retry_if_exception(_is_retryable),
        reraise=True,
        sleep=sleep,
    )
