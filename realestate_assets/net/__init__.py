"""The one HTTP client stack for every outside service (Socrata, ArcGIS, ATTOM, Census, SendGrid).

Pure Python, no Dagster. Each caller supplies its policy (from config) and runs its attempt in
`retrying(policy)`; the answer's meaning comes from `classify`; enrichment clients add the
pyrate-limiter transport, the hishel cache and the circuit breaker from here.

    retry.py    classify (retry / give up / reject), Retry-After, RetryPolicy, the tenacity loop
    limiter.py  pyrate-limiter GCRA buckets (in-process or Redis) and the transport that spends them
    cache.py    hishel storage (SQLite or Redis) that never stores a key; cacheable non-2xx answers
    breaker.py  the circuit breaker
"""

from realestate_assets.net.breaker import CircuitBreaker, CircuitOpen
from realestate_assets.net.cache import (
    SECRET_NAMES,
    STATUS_HEADER,
    AnswerAsSuccessTransport,
    make_cache_storage,
    redact_url,
)
from realestate_assets.net.limiter import RateLimitedTransport, make_limiter
from realestate_assets.net.retry import (
    RETRY_STATUSES,
    HttpError,
    RetryPolicy,
    Verdict,
    asked_wait,
    classify,
    parse_retry_after,
    retrying,
)

__all__ = [
    "RETRY_STATUSES",
    "SECRET_NAMES",
    "STATUS_HEADER",
    "AnswerAsSuccessTransport",
    "CircuitBreaker",
    "CircuitOpen",
    "HttpError",
    "RateLimitedTransport",
    "RetryPolicy",
    "Verdict",
    "asked_wait",
    "classify",
    "make_cache_storage",
    "make_limiter",
    "parse_retry_after",
    "redact_url",
    "retrying",
]
