"""The response cache of property lists and details (issue #11: p95 under 100 ms at 50 clients).

A list page costs ~9 ms of CPU to compute (7 of them its SQL in PostgreSQL; bench_api, 100,000
properties) and ~2 ms, authentication included, to answer from memory. Each API process keeps the
JSON bodies it computed, least recently used out first within a byte budget
(`REOS_API_RESPONSE_CACHE_MB`, 0 turns it off), keyed by:

* the tenant, and the principal's permissions (what the caller may see; a body never crosses
  tenants, nor permission sets, even where the two bodies are the same today);
* the route and its normalized query (the filters as parsed, the followed counties spelled out,
  cursor and limit; the property id);
* the tenant's **generation** (`reos_cache_generation()`, migrations 0037 and 0042): a number
  that changes, never back to an earlier value, in the same transaction as any write to a table
  these routes read — the followed counties'
  prospects, enrichment and scores, the tenant's reviews, packets, emails and subscriptions —
  so a body computed before the write is never found again by a request that can see the write,
  in this process or another, and nothing has to be evicted or told.

Correct by construction, then, not by remembering to invalidate: a write through any path (the
pipeline, the API, psql) bumps the generation by the tables' triggers. The generation is read in
authentication's round trip (`needs(..., cached=True)`: accounts/store.py, with the tenant's
standing), before anything the request computes, so a hit costs no round trip of its own (a body
is never computed from an older snapshot than the generation it is kept under); authentication
is otherwise unchanged, as are its rate limits, quota counts and audit; the detail route still
records the property as received (quota.receive) on a hit. Bodies carry an ETag, and
`If-None-Match` with it answers 304.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel
from pydantic_core import to_json

# Revalidate every time (the ETag makes that a 304 when nothing changed); `private`: a tenant's data,
# never for a shared proxy.
HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization, X-API-Key"}


@dataclass(frozen=True)
class Entry:
    """A computed body and what a hit needs besides it (`meta`: the detail's county and key)."""

    body: bytes
    etag: str
    meta: tuple[Any, ...] = ()


class ResponseCache:
    """LRU of response bodies within `max_bytes` (0: nothing is kept). Thread-safe: sync routes run
    in the threadpool."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: Hashable, entry: Entry) -> Entry:
        size = len(entry.body)
        if size > self.max_bytes:
            return entry
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.body)
        return entry

    def stats(self) -> dict[str, int]:
        """Lookups that hit and missed since the process started, and the bodies' bytes now (/metrics)."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "bytes": self._bytes, "entries": len(self._entries)}

    def __len__(self) -> int:
        return len(self._entries)


def entry_of(model: BaseModel, meta: tuple[Any, ...] = ()) -> Entry:
    """The body FastAPI would send for `model` (by alias, JSON), with its ETag."""
    return _entry(model.model_dump_json(by_alias=True).encode(), meta)


def entry_of_value(value: Any, meta: tuple[Any, ...] = ()) -> Entry:
    """The JSON of plain values (dicts, lists, dates…), serialized as a model's `Any` fields are
    (pydantic_core, NaN and infinities as null): for a body built already in its model's shape."""
    return _entry(to_json(value, inf_nan_mode="null"), meta)


def _entry(body: bytes, meta: tuple[Any, ...]) -> Entry:
    return Entry(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"', meta)


def generation(ctx: Any) -> int:
    """The calling tenant's generation (migration 0037), in the request's transaction: as read with
    the tenant's standing when the request authenticated, else in a round trip of its own."""
    standing = ctx.principal.standing
    if standing is not None and standing.generation is not None:
        return int(standing.generation)
    ctx.cur.execute("SELECT reos_cache_generation()")
    return int(ctx.cur.fetchone()[0])


def cached(request: Request, ctx: Any, query: tuple[Hashable, ...], compute: Callable[[], Entry],
           still_exact: Callable[[Entry], bool] | None = None) -> Entry:
    """The entry for `query` (route name first) as `ctx`'s principal sees it now: from the process's
    cache when computed at the tenant's current generation, else `compute()`d and kept.
    `still_exact`: for a body that also depends on the time (Home's summary), whether a kept entry
    is still right now; when not, it is computed again and replaces it."""
    cache: ResponseCache = request.app.state.reos.responses
    if not cache.enabled:
        return compute()
    principal = ctx.principal
    key = (ctx.tenant_id, tuple(sorted(principal.permissions)), principal.platform_admin, generation(ctx), query)
    entry = cache.get(key)
    if entry is not None and (still_exact is None or still_exact(entry)):
        return entry
    return cache.put(key, compute())


def answer(request: Request, entry: Entry) -> Response:
    """The entry as a response: 304 when the caller holds it already (If-None-Match)."""
    headers = {"ETag": entry.etag, **HEADERS}
    if _matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in header.split(","))
