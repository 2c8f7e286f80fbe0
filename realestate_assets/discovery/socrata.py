"""`socrata` sources: SODA 2.x `/resource/<dataset>.json`, paged with `$limit`/`$offset`.

Pages are stable only with an `$order`, so one is always sent (the config's, `:id` by default).
The app token is read from the environment variable the config names, at call time; without it
no header is sent (SODA then throttles harder, which the retries absorb). A page that is not a
JSON array is a Reject with the raw text, and paging goes on at the next offset; after
`max_bad_pages` unreadable pages in a row, or an answer that retrying could not fix, it stops
with a Reject that says where, so the partition reports a partial read instead of crashing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pandas as pd

from realestate_assets.config_models import SocrataSource
from realestate_assets.discovery.http_retry import RAW_LIMIT, fetch_page, flatten_value, page_of_objects
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.net import RetryPolicy


def resource_url(source: SocrataSource) -> str:
    domain = source.domain.rstrip("/")
    base = domain if "://" in domain else f"https://{domain}"
    return f"{base}/resource/{source.dataset}.json"


def _rows_to_frame(rows: list[dict]) -> pd.DataFrame:
    flat = []
    for row in rows:
        out: dict[str, str] = {}
        for key, value in row.items():
            flatten_value(key, value, out)
        flat.append(out)
    # SODA leaves out null fields, so rows differ in keys: the union of columns, "" where absent.
    return pd.DataFrame(flat, dtype=object).fillna("").astype(str)


def read_socrata(source: SocrataSource, *, client: httpx.Client | None = None,
                 policy: RetryPolicy | None = None, max_pages: int | None = None,
                 max_bad_pages: int = 3, app_token: str | None = None) -> Iterator[Page | Reject]:
    policy = policy or RetryPolicy()
    url = resource_url(source)
    headers = {"Accept": "application/json"}
    token = (app_token or "").strip()  # the value of source.app_token_env, supplied by a resource
    if token:
        headers["X-App-Token"] = token
    own_client = client is None
    client = client or httpx.Client(follow_redirects=True)
    offset, pages, bad_in_row = 0, 0, 0
    try:
        while max_pages is None or pages < max_pages:
            # ":*, *" adds the system fields (:id, :updated_at): :id gives each row a stable ref.
            params: dict[str, str | int] = {"$select": ":*, *", "$limit": source.page_size,
                                            "$offset": offset, "$order": source.order}
            if source.where:
                params["$where"] = source.where
            ref = f"{url}?$offset={offset}&$limit={source.page_size}"
            response = fetch_page(client, url, params, headers, policy, source=source.name, ref=ref)
            if isinstance(response, Reject):
                yield response
                return
            pages += 1
            try:
                rows = response.json()
                if not isinstance(rows, list):
                    raise ValueError(f"expected a JSON array of rows, got {type(rows).__name__}")
            except (ValueError, json.JSONDecodeError) as exc:
                bad_in_row += 1
                stop = bad_in_row >= max_bad_pages
                yield Reject(source.name, ref, response.text[:RAW_LIMIT],
                             f"malformed answer: {exc}" + ("; stopped paging after "
                                                           f"{bad_in_row} bad pages in a row" if stop else ""))
                if stop:
                    return
                offset += source.page_size  # skip the unreadable page, keep the rest
                continue
            bad_in_row = 0
            yield from page_of_objects(
                source.name, rows, what="row", to_frame=_rows_to_frame,
                good_ref=lambda i, r, at=offset: f"{url}#{r[':id']}" if r.get(":id") else f"{url}#offset={at + i}",
                bad_ref=lambda i, at=offset: f"{url}#{at + i}")
            if len(rows) < source.page_size:
                return
            offset += len(rows)
    finally:
        if own_client:
            client.close()
