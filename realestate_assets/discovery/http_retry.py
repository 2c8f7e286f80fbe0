"""One page of a paged JSON API (Socrata, ArcGIS) through the shared HTTP stack.

The attempt runs in `net.retrying(policy)`: 429 and 5xx answers and transport errors are
retried with jittered exponential backoff, or after the server's `Retry-After`; `net.classify`
decides. Anything else comes back to the caller, which turns it into a Reject.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pandas as pd

from realestate_assets.discovery.records import Page, Reject
from realestate_assets.net import HttpError, RetryPolicy, classify, retrying


def raise_unless_final(status: int, headers: httpx.Headers, policy: RetryPolicy, text: str) -> None:
    """Raise the HttpError that `retrying` acts on when the answer is one to retry or give up on."""
    verdict = classify(status, headers, max_retry_after_s=policy.max_retry_after_s)
    if verdict.action in ("retry", "give_up"):
        raise verdict.error(text[:2000])


def get_with_retries(client: httpx.Client, url: str, params: dict[str, Any], headers: dict[str, str],
                     policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep,
                     inspect: Callable[[httpx.Response], None] | None = None) -> httpx.Response:
    """The first answer that is not 429/5xx; raises HttpError or httpx.TransportError when the
    attempts run out. `inspect` may raise HttpError for a throttle signalled in the body."""

    def once() -> httpx.Response:
        response = client.get(url, params=params, headers=headers, timeout=policy.timeout_s)
        raise_unless_final(response.status_code, response.headers, policy, response.text)
        if inspect is not None:
            inspect(response)
        return response

    return retrying(policy, sleep=sleep)(once)


def flatten_value(prefix: str, value: Any, out: dict[str, str]) -> None:
    """Flatten one JSON value into text columns: objects become `a.b`, GeoJSON points also give
    `a.longitude`/`a.latitude`, lists become JSON text, null becomes ""."""
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
    except HttpError as exc:
        tried = f"after {policy.attempts} attempts" if exc.retryable else "at once"
        return Reject(source, ref, exc.text[:RAW_LIMIT], f"gave up {tried}: {exc}; stopped paging")
    except httpx.HTTPError as exc:
        return Reject(source, ref, None, f"gave up after {policy.attempts} attempts: "
                                         f"{type(exc).__name__}: {exc}; stopped paging")
    if response.status_code != 200:
        # 400 (bad query), 403 (token), 404 (dataset): retrying cannot fix these.
        return Reject(source, ref, response.text[:RAW_LIMIT], f"HTTP {response.status_code}; stopped paging")
    return response



def page_of_objects(source: str, items: list, *, what: str, to_frame: Callable[[list[dict]], pd.DataFrame],
                    good_ref: Callable[[int, dict], str], bad_ref: Callable[[int], str]) -> Iterator[Page | Reject]:
    """A Reject for each item of a page that is not a JSON object, then a Page of the rest."""
    good: list[dict] = []
    refs: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            good.append(item)
            refs.append(good_ref(i, item))
        else:
            yield Reject(source, bad_ref(i), json.dumps(item)[:RAW_LIMIT], f"malformed {what}: not a JSON object")
    if good:
        yield Page(source, to_frame(good), refs)
