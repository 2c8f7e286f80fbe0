"""HTTP GET with tenacity retries for the API adapters (Socrata, ArcGIS).

429 and 5xx answers and transport errors are retried with exponential backoff and jitter; a
`Retry-After` header (seconds or an HTTP date) overrides the backoff, capped at `max_wait_s`.
Anything else comes back to the caller, which turns it into a Reject.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from realestate_assets.discovery.records import Reject
from realestate_assets.net import RETRY_STATUSES, RetryAfterOrJitter, parse_retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_wait_s: float = 1.0
    max_wait_s: float = 60.0
    timeout_s: float = 60.0


class RetryableAnswer(Exception):
    """A throttled or failing answer, retried; kept so the last one can be reported."""

    def __init__(self, status: int, text: str, retry_after_s: float | None, where: str):
        super().__init__(f"HTTP {status} from {where}")
        self.status = status
        self.text = text
        self.retry_after_s = retry_after_s


def _asked_wait(exc: BaseException | None) -> float | None:
    return exc.retry_after_s if isinstance(exc, RetryableAnswer) else None


def get_with_retries(client: httpx.Client, url: str, params: dict[str, Any], headers: dict[str, str],
                     policy: RetryPolicy, sleep=time.sleep,
                     inspect: Callable[[httpx.Response], None] | None = None) -> httpx.Response:
    """The first answer that is not 429/5xx; raises RetryableAnswer or httpx.TransportError when
    the attempts run out. `inspect` may raise RetryableAnswer for a throttle signalled in the body."""

    def once() -> httpx.Response:
        response = client.get(url, params=params, headers=headers, timeout=policy.timeout_s)
        if response.status_code in RETRY_STATUSES:
            raise RetryableAnswer(response.status_code, response.text[:2000],
                                  parse_retry_after(response.headers.get("Retry-After")), str(response.url))
        if inspect is not None:
            inspect(response)
        return response

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=RetryAfterOrJitter(_asked_wait, policy.initial_wait_s, policy.max_wait_s, cap=policy.max_wait_s),
        retry=retry_if_exception_type((RetryableAnswer, httpx.TransportError)),
        reraise=True,
        sleep=sleep,
    )
    return retrying(once)


def flatten_value(prefix: str, value: Any, out: dict[str, str]) -> None:
    """Flatten one JSON value into text columns: objects become `a.b`, GeoJSON points also give
    `a.longitude`/`a.latitude`, lists become JSON text, null becomes ""."""
    import json

    if value is None:
        out[prefix] = ""
    elif isinstance(value, dict):
        if value.get("type") == "Point" and isinstance(value.get("coordinates"), list | tuple) \
                and len(value["coordinates"]) >= 2:
            out[f"{prefix}.longitude"] = str(value["coordinates"][0])
            out[f"{prefix}.latitude"] = str(value["coordinates"][1])
        for key, inner in value.items():
            if key == "coordinates" and value.get("type") == "Point":
                continue
            flatten_value(f"{prefix}.{key}", inner, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    else:
        out[prefix] = str(value)


RAW_LIMIT = 10_000  # characters of a bad answer kept in a reject


def fetch_page(client: httpx.Client, url: str, params: dict[str, Any], headers: dict[str, str],
               policy: RetryPolicy, *, source: str, ref: str,
               inspect: Callable[[httpx.Response], None] | None = None) -> httpx.Response | Reject:
    """One page of a paged API: the 200 answer, or the Reject that says why paging stops."""
    try:
        response = get_with_retries(client, url, params, headers, policy, inspect=inspect)
    except RetryableAnswer as exc:
        return Reject(source, ref, exc.text[:RAW_LIMIT],
                      f"gave up after {policy.attempts} attempts: HTTP {exc.status}; stopped paging")
    except httpx.HTTPError as exc:
        return Reject(source, ref, None, f"gave up after {policy.attempts} attempts: "
                                         f"{type(exc).__name__}: {exc}; stopped paging")
    if response.status_code != 200:
        # 400 (bad query), 403 (token), 404 (dataset): retrying cannot fix these.
        return Reject(source, ref, response.text[:RAW_LIMIT], f"HTTP {response.status_code}; stopped paging")
    return response

