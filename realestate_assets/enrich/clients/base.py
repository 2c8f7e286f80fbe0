"""The HTTP machinery every enrichment source shares. Pure Python, no Dagster.

One `SourceClient` per source (ATTOM, Census geocoder, Census ACS ...). A request goes

    breaker check -> tenacity retry loop -> httpx.Client
        -> hishel CacheTransport (hit: answered here, no rate-limit token spent)
        -> RateLimitedTransport (pyrate-limiter GCRA bucket, in-process or Redis)
        -> httpx.HTTPTransport (the network)

and every attempt, cache hits included, produces one `SourceCall` that is handed to the
caller's `on_call` callback (the asset inserts them into `source_calls`).

Why the limiter sits *under* the cache: a cache hit must not wait for a token, otherwise a
fully cached re-run would take as long as the first one.

Secrets: the API key travels in a header or query parameter set here; it is never put in
a `SourceCall`, an exception message, a log line, the cache key, or the stored cache entry
(`_RedactingStorage` strips it before hishel writes the request).
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
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import tenacity
from hishel import BaseStorage, RedisStorage, SqliteStorage
from hishel import Request as CacheRequest
from hishel.httpx import CacheTransport
from pyrate_limiter import GCRA, InMemoryStateStore, Limiter, Rate, RedisStateStore, StateBucket

from realestate_assets.net import RETRY_STATUSES, RetryAfterOrJitter, parse_retry_after

logger = logging.getLogger(__name__)

# Header and query names whose values are secrets: never logged, cached or keyed on.
SECRET_NAMES = frozenset({"apikey", "api_key", "key", "x-app-token", "authorization", "token"})


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


class SourceError(Exception):
    """A source could not answer. `retryable` says whether trying again might help."""

    def __init__(self, source: str, message: str, *, status_code: int | None = None,
                 retryable: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after_s = retry_after_s


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


# --------------------------------------------------------------------------- circuit breaker


class CircuitBreaker:
    """Opens after `threshold` consecutive failed calls and stays open for the run.

    A "failure" is a logical call that ended in an error after its retries (a no-match is an
    answer, not a failure). A success resets the count. `cooldown_s=None` keeps the breaker
    open until `reset()`; a number lets one trial call through after that many seconds.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float | None = None) -> None:
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._is_open_locked()

    def _is_open_locked(self) -> bool:
        if self._opened_at is None:
            return False
        # After a cooldown the breaker is half-open: calls go through; one failure re-opens it.
        return self.cooldown_s is None or time.monotonic() - self._opened_at < self.cooldown_s

    def check(self, source: str) -> None:
        with self._lock:
            if self._is_open_locked():
                raise CircuitOpenError(
                    source,
                    f"circuit open after {self._consecutive} consecutive failures "
                    f"(last: {self.last_error}); not calling the source for the rest of this run",
                )

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


# --------------------------------------------------------------------------- rate limiter


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
    """Takes one token from the limiter before each request that reaches the network."""

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
                raise SourceError(self.source, f"rate limiter gave no token within {self.acquire_timeout_s}s",
                                  retryable=False)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AnswerAsSuccessTransport(httpx.BaseTransport):
    """Makes a non-2xx *answer* cacheable: e.g. ATTOM's HTTP 400 "SuccessWithoutResult" (no
    match) becomes a 200 carrying `X-Reos-Status: 400`, so hishel stores it and a re-run does
    not ask ATTOM again about an address it does not know. The client reads the real status
    back from that header, so the call log stays truthful."""

    def __init__(self, inner: httpx.BaseTransport, statuses: frozenset[int],
                 is_answer: Callable[[bytes], bool]) -> None:
        self.inner = inner
        self.statuses = statuses
        self.is_answer = is_answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        if resp.status_code not in self.statuses:
            return resp
        body = resp.read()
        resp.close()
        headers = [(k, v) for k, v in resp.headers.multi_items()
                   if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")]
        if not self.is_answer(body):
            return httpx.Response(resp.status_code, headers=headers, content=body, extensions=resp.extensions)
        headers.append((STATUS_HEADER, str(resp.status_code)))
        return httpx.Response(200, headers=headers, content=body, extensions=resp.extensions)

    def close(self) -> None:
        self.inner.close()


STATUS_HEADER = "X-Reos-Status"


# --------------------------------------------------------------------------- HTTP cache


def redact_url(url: str) -> str:
    """The URL with secret query parameters removed (for cache keys, stored entries, logs)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_NAMES]
    return urlunsplit(parts._replace(query=urlencode(sorted(query))))


class _RedactingStorage(BaseStorage):
    """Wraps a hishel storage so that the stored request carries no key (header or query)."""

    def __init__(self, inner: BaseStorage) -> None:
        super().__init__(default_ttl=inner.default_ttl, default_tti=inner.default_tti,
                         max_stream_size=inner.max_stream_size)
        self.inner = inner

    def create_entry(self, request, response, key, *, ttl=None, tti=None):  # type: ignore[no-untyped-def]
        headers = request.headers
        for name in list(headers.keys()):
            if name.lower() in SECRET_NAMES:
                del headers[name]
        clean = CacheRequest(method=request.method, url=redact_url(request.url), headers=headers)
        return self.inner.create_entry(clean, response, key, ttl=ttl, tti=tti)

    def get_entries(self, key):  # type: ignore[no-untyped-def]
        return self.inner.get_entries(key)

    def update_headers(self, id, headers):  # type: ignore[no-untyped-def]
        return self.inner.update_headers(id, headers)

    def remove_entry(self, id):  # type: ignore[no-untyped-def]
        return self.inner.remove_entry(id)

    def close(self) -> None:
        self.inner.close()


def make_cache_storage(source: str, *, cache_dir: str | Path | None = None, redis_url: str | None = None,
                       key_prefix: str = "reos:httpcache") -> BaseStorage:
    """hishel 2.0 storage: Redis (shared by all pods) when `redis_url`, else SQLite in `cache_dir`."""
    if redis_url:
        import redis

        inner: BaseStorage = RedisStorage(redis.Redis.from_url(redis_url), default_ttl=None,
                                          key_prefix=f"{key_prefix}:{source}")
    else:
        directory = Path(cache_dir or ".reos/http_cache")
        directory.mkdir(parents=True, exist_ok=True)
        inner = SqliteStorage(database_path=directory / f"{source}.sqlite", default_ttl=None)
    return _RedactingStorage(inner)


# --------------------------------------------------------------------------- retry waits


def _asked_wait(exc: BaseException | None) -> float | None:
    return exc.retry_after_s if isinstance(exc, SourceError) else None


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
            self.breaker.check(self.name)
        except CircuitOpenError as exc:
            self._emit(endpoint, None, started, False, 0.0, str(exc))
            raise
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
        except SourceError as exc:  # from the limiter
            self._emit(endpoint, None, started, False, 0.0, str(exc))
            raise
        cache_hit = bool((resp.extensions.get("caching") or {}).get("from_cache", False))
        status = int(resp.headers.get(STATUS_HEADER, resp.status_code))
        billed = (not cache_hit) and (200 <= status < 300 or not s.bill_only_success)
        cost = s.cost_per_call_usd if billed else 0.0

        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            kind = QuotaExceededError if status == 429 else SourceError
            if retry_after is not None and retry_after > s.max_retry_after_s:
                err = kind(self.name, f"HTTP {status}; Retry-After {retry_after:.0f}s exceeds the "
                           f"{s.max_retry_after_s:.0f}s we wait", status_code=status, retryable=False)
            else:
                err = kind(self.name, f"HTTP {status}", status_code=status, retryable=True,
                           retry_after_s=retry_after)
            self._emit(endpoint, status, started, cache_hit, cost, str(err))
            raise err
        if not (200 <= status < 300) and status not in self.answer_statuses:
            err = SourceError(self.name, f"HTTP {status}: {self._snippet(resp.text)}", status_code=status)
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
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, s.retries + 1)),
            wait=RetryAfterOrJitter(_asked_wait, s.backoff_initial_s, s.backoff_max_s),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, SourceError) and e.retryable
                                              and not isinstance(e, CircuitOpenError)),
            reraise=True,
        )
        try:
            resp = retrying(self._attempt, endpoint, clean, key)
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
