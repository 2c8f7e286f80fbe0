"""The enrichment clients' shared part: a JSON GET with a call log. Pure Python, no Dagster.

One `SourceClient` per source (ATTOM, Census geocoder, Census ACS ...). A request goes

    breaker check -> net.retrying loop -> httpx.Client
        -> hishel CacheTransport (hit: answered here, no rate-limit token spent)
        -> RateLimitedTransport (pyrate-limiter GCRA bucket, in-process or Redis)
        -> httpx.HTTPTransport (the network)

and every attempt, cache hits included, produces one `SourceCall` that is handed to the
caller's `on_call` callback (the asset inserts them into `source_calls`). The pieces (retry
rule, limiter, cache, breaker) live in `realestate_assets.net`, shared with the discovery
adapters and the SendGrid mailer; this module adds what only enrichment has: cost, the call
log, cacheable non-2xx answers, and errors named after the source.

Secrets: the API key travels in a header or query parameter set here; it is never put in
a `SourceCall`, an exception message, a log line, the cache key, or the stored cache entry.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from hishel import BaseStorage
from hishel.httpx import CacheTransport
from pyrate_limiter import Limiter

from realestate_assets.net import (
    SECRET_NAMES,
    STATUS_HEADER,
    AnswerAsSuccessTransport,
    CircuitBreaker,
    CircuitOpen,
    HttpError,
    RateLimitedTransport,
    RetryPolicy,
    classify,
    retrying,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- call log


@dataclass(frozen=True)
class SourceCall:
    """One row of the `source_calls` table (columns named like the table's)."""

    source: str
    endpoint: str
    status_code: int | None
    latency_ms: float
    cache_hit: bool
    cost_usd: float
    error: str | None
    called_at: datetime

    def as_row(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "endpoint": self.endpoint,
            "status_code": self.status_code,
            "latency_ms": round(self.latency_ms, 3),
            "cache_hit": self.cache_hit,
            "cost_usd": self.cost_usd,
            "error": self.error,
            "called_at": self.called_at,
        }


CallSink = Callable[[SourceCall], None]


class CallLog:
    """A thread-safe in-memory sink; handy for tests, benchmarks and run metadata."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[SourceCall] = []

    def __call__(self, call: SourceCall) -> None:
        with self._lock:
            self.calls.append(call)

    def total_cost_usd(self, source: str | None = None) -> float:
        with self._lock:
            return round(sum(c.cost_usd for c in self.calls if source in (None, c.source)), 6)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per source: calls, cache hits, errors, cost — small enough for asset metadata."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            for c in self.calls:
                s = out.setdefault(c.source, {"calls": 0, "cache_hits": 0, "errors": 0, "cost_usd": 0.0})
                s["calls"] += 1
                s["cache_hits"] += int(c.cache_hit)
                s["errors"] += int(c.error is not None)
                s["cost_usd"] = round(s["cost_usd"] + c.cost_usd, 6)
        return out


# --------------------------------------------------------------------------- errors


class SourceError(HttpError):
    """A source could not answer. `retryable` says whether trying again might help."""

    def __init__(self, source: str, message: str, *, status_code: int | None = None,
                 retryable: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(f"{source}: {message}", status=status_code, retryable=retryable,
                         retry_after_s=retry_after_s)
        self.source = source
        self.status_code = status_code


class CircuitOpenError(SourceError):
    """The breaker is open: the source failed too often in a row, so calls fail fast."""


class QuotaExceededError(SourceError):
    """429 whose Retry-After is longer than we are willing to wait (or retries ran out)."""


class MalformedResponseError(SourceError):
    """The answer was not the JSON shape the source documents (HTML error page, truncation...)."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ClientSettings:
    """What a client needs from the source's config entry (see sources_config.SourceConfig)."""

    name: str
    base_url: str
    timeout_s: float = 10.0
    retries: int = 3
    cost_per_call_usd: float = 0.0
    rate_limit_per_s: float | None = 5.0  # None = no limiter (benchmarks only)
    rate_burst: int = 1
    cache_ttl_s: float | None = 86_400.0  # None or 0 = no HTTP cache
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 60.0
    breaker_threshold: int = 5
    # Whether a non-2xx answer is billed. ATTOM: "only queries that respond with 200 count".
    bill_only_success: bool = True

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.retries + 1, initial_wait_s=self.backoff_initial_s,
                           max_wait_s=self.backoff_max_s, timeout_s=self.timeout_s,
                           max_retry_after_s=self.max_retry_after_s)


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class ApiResponse:
    status_code: int
    body: Any  # parsed JSON
    cache_hit: bool
    endpoint: str
    # When the source produced this answer: its Date header (kept in the cache, so a cache hit
    # reports the original fetch time), else the time we received it.
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _response_date(headers: httpx.Headers) -> datetime:
    raw = headers.get("Date")
    if raw:
        try:
            when = email.utils.parsedate_to_datetime(raw)
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


@dataclass
class SourceClient:
    """A rate-limited, cached, retried, circuit-broken JSON GET client for one source.

    Subclasses add the source's endpoints and parsing. Use as a context manager or call
    `close()`; one instance is meant to be shared by all worker threads of a run.
    """

    settings: ClientSettings
    on_call: CallSink | None = None
    api_key: str | None = None
    api_key_header: str | None = None  # e.g. "apikey" for ATTOM
    api_key_param: str | None = None  # e.g. "key" for Census
    cache_storage: BaseStorage | None = None
    limiter: Limiter | None = None
    breaker: CircuitBreaker | None = None
    transport: httpx.BaseTransport | None = None  # override the network (tests)
    # Which non-2xx statuses can be *answers* for this source (ATTOM: 400 SuccessWithoutResult),
    # and how to recognise one from the body; such answers are cached like a 200.
    answer_statuses: frozenset[int] = frozenset()
    is_answer: Callable[[bytes], bool] | None = None
    _client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = self.settings
        if self.breaker is None:
            self.breaker = CircuitBreaker(s.breaker_threshold)
        network = self.transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        chain: httpx.BaseTransport = RateLimitedTransport(network, self.limiter, s.name)
        if self.answer_statuses and self.is_answer is not None:
            chain = AnswerAsSuccessTransport(chain, self.answer_statuses, self.is_answer)
        self._caching = bool(self.cache_storage is not None and s.cache_ttl_s)
        if self._caching:
            chain = CacheTransport(next_transport=chain, storage=self.cache_storage)
        headers = {"Accept": "application/json", "User-Agent": "realestate-os enrichment"}
        if self.api_key and self.api_key_header:
            headers[self.api_key_header] = self.api_key
        self._client = httpx.Client(base_url=s.base_url, transport=chain, headers=headers,
                                    timeout=httpx.Timeout(s.timeout_s))

    # -- plumbing --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit(self, endpoint: str, status: int | None, started: float, cache_hit: bool, cost: float,
              error: str | None) -> None:
        if self.on_call is None:
            return
        call = SourceCall(self.name, endpoint, status, (time.perf_counter() - started) * 1000.0, cache_hit,
                          cost, error, datetime.now(UTC))
        try:
            self.on_call(call)
        except Exception:  # a broken sink must not break enrichment
            logger.exception("on_call sink failed for %s %s", self.name, endpoint)

    def _cache_key(self, endpoint: str, params: Mapping[str, Any]) -> str:
        # Keyed without the API key, so rotating a key keeps the cache.
        clean = sorted((k, str(v)) for k, v in params.items() if k.lower() not in SECRET_NAMES)
        return hashlib.sha256(f"{self.name} GET {endpoint}?{urlencode(clean)}".encode()).hexdigest()

    def _snippet(self, text: str) -> str:
        """A short excerpt of a body for an error message, with our key blanked if echoed."""
        if self.api_key:
            text = text.replace(self.api_key, "***")
        return _snippet(text)

    def _evict(self, key: str) -> None:
        if self.cache_storage is None:
            return
        try:
            for entry in self.cache_storage.get_entries(key):
                self.cache_storage.remove_entry(entry.id)
        except Exception:
            logger.exception("could not evict a bad cache entry for %s", self.name)

    # -- one attempt -----------------------------------------------------------------

    def _attempt(self, endpoint: str, params: dict[str, Any], key: str) -> ApiResponse:
        s = self.settings
        assert self.breaker is not None
        started = time.perf_counter()
        try:
            self.breaker.check()
        except CircuitOpen as exc:
            err = CircuitOpenError(self.name, str(exc))
            self._emit(endpoint, None, started, False, 0.0, str(err))
            raise err from None
        send_params = dict(params)
        if self.api_key and self.api_key_param:
            send_params[self.api_key_param] = self.api_key
        extensions = {"caching": {"key": key, "ttl": s.cache_ttl_s}} if self._caching else {}
        try:
            resp = self._client.get(endpoint, params=send_params, extensions=extensions)
            resp.read()
        except httpx.TimeoutException as exc:
            err = SourceError(self.name, f"timeout after {s.timeout_s}s ({type(exc).__name__})", retryable=True)
            self._emit(endpoint, None, started, False, 0.0, str(err))
            raise err from None
        except httpx.TransportError as exc:
            err = SourceError(self.name, f"transport error ({type(exc).__name__})", retryable=True)
            self._emit(endpoint, None, started, False, 0.0, str(err))
            raise err from None
        except HttpError as exc:  # from the limiter
            err = SourceError(self.name, str(exc))
            self._emit(endpoint, None, started, False, 0.0, str(err))
            raise err from None
        cache_hit = bool((resp.extensions.get("caching") or {}).get("from_cache", False))
        status = int(resp.headers.get(STATUS_HEADER, resp.status_code))
        billed = (not cache_hit) and (200 <= status < 300 or not s.bill_only_success)
        cost = s.cost_per_call_usd if billed else 0.0

        verdict = classify(status, resp.headers, max_retry_after_s=s.max_retry_after_s)
        if verdict.action in ("retry", "give_up"):
            kind = QuotaExceededError if status == 429 else SourceError
            err = kind(self.name, verdict.reason, status_code=status, retryable=verdict.action == "retry",
                       retry_after_s=verdict.wait_s)
            self._emit(endpoint, status, started, cache_hit, cost, str(err))
            raise err
        if verdict.action == "reject" and status not in self.answer_statuses:
            err = SourceError(self.name, f"{verdict.reason}: {self._snippet(resp.text)}", status_code=status)
            self._emit(endpoint, status, started, cache_hit, cost, str(err))
            raise err
        if status == 204:  # "no content": an answer with no rows (Census does this)
            self._emit(endpoint, status, started, cache_hit, cost, None)
            return ApiResponse(status, None, cache_hit, endpoint, _response_date(resp.headers))
        try:
            body = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            if cache_hit or 200 <= status < 300:
                self._evict(key)  # never serve a broken answer from the cache next time
            err = MalformedResponseError(self.name, f"HTTP {status} body is not JSON: {self._snippet(resp.text)}",
                                         status_code=status)
            self._emit(endpoint, status, started, cache_hit, cost, str(err))
            raise err from None
        self._emit(endpoint, status, started, cache_hit, cost, None)
        return ApiResponse(status, body, cache_hit, endpoint, _response_date(resp.headers))

    # -- the public call -----------------------------------------------------------

    def get_json(self, endpoint: str, params: Mapping[str, Any] | None = None,
                 validate: Callable[[ApiResponse], object] | None = None) -> ApiResponse:
        """GET `endpoint` with retries; returns the parsed JSON or raises `SourceError`.

        `validate(resp)` may raise MalformedResponseError for JSON of the wrong shape: the
        answer is then evicted from the cache and counted as a failure, like unparseable JSON.
        """
        s = self.settings
        assert self.breaker is not None
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        key = self._cache_key(endpoint, clean)
        try:
            resp = retrying(s.retry_policy())(self._attempt, endpoint, clean, key)
            if validate is not None:
                try:
                    validate(resp)
                except MalformedResponseError:
                    self._evict(key)
                    raise
        except CircuitOpenError:
            raise
        except SourceError as exc:
            self.breaker.record_failure(str(exc))
            raise
        self.breaker.record_success()
        return resp


def _snippet(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text[:n] + ("…" if len(text) > n else "")


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
