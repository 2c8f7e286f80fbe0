"""The HTTP cache (hishel 2) and what it must never store: our keys.

Secrets: the API key travels in a header or query parameter; it is never put in the cache key
or the stored entry (`_RedactingStorage` strips it before hishel writes the request).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from hishel import BaseStorage, RedisStorage, SqliteStorage
from hishel import Request as CacheRequest

# Header and query names whose values are secrets: never logged, cached or keyed on.
SECRET_NAMES = frozenset({"apikey", "api_key", "key", "x-app-token", "authorization", "token"})
STATUS_HEADER = "X-Reos-Status"


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
