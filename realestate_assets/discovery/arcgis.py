"""`arcgis` sources: a FeatureServer/MapServer layer's `/query`, paged with `resultOffset`.

Asks for WGS84 (`outSR=4326`) geometry and turns it into `latitude`/`longitude` columns: a point
as is, a polygon as the area-weighted centroid of its rings (holes subtract, as ESRI rings are
signed), lines and multipoints as the mean of their vertices. If the layer has attributes named
latitude/longitude, the geometry's go to `geometry_latitude`/`geometry_longitude` instead.

A server may return fewer features than asked (its maxRecordCount): the offset advances by what
came back, and paging goes on while `exceededTransferLimit` is true (or, for old servers that
never set it, while a page is full). An error envelope (`{"error": {...}}`, sent with HTTP 200)
is a Reject; codes 429/5xx inside it are retried first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd

from realestate_assets.config_models import ArcGISSource
from realestate_assets.discovery.http_retry import (
    RAW_LIMIT,
    fetch_page,
    flatten_value,
    page_of_objects,
    raise_unless_final,
)
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.net import RetryPolicy


def query_url(source: ArcGISSource) -> str:
    url = source.url.rstrip("/")
    return url if url.endswith("/query") else url + "/query"


def ring_centroid(rings: list) -> tuple[float, float] | None:
    """(x, y) centroid of polygon rings by the shoelace formula; vertex mean if the area is 0."""
    total_area, cx, cy, points = 0.0, 0.0, 0.0, []
    origin: np.ndarray | None = None
    for ring in rings or []:
        arr = np.asarray(ring, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 3 or arr.shape[1] < 2:
            continue
        if origin is None:  # shift to a local origin: degrees near 122 lose precision when squared
            origin = arr[0, :2].copy()
        x, y = arr[:, 0] - origin[0], arr[:, 1] - origin[1]
        x1, y1 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y1 - x1 * y
        area = cross.sum() / 2.0
        total_area += area
        cx += ((x + x1) * cross).sum() / 6.0
        cy += ((y + y1) * cross).sum() / 6.0
        points.append(arr[:, :2])
    if not points:
        return None
    if abs(total_area) < 1e-18:
        allpts = np.vstack(points)
        return float(allpts[:, 0].mean()), float(allpts[:, 1].mean())
    return float(cx / total_area + origin[0]), float(cy / total_area + origin[1])


def geometry_point(geometry: Any) -> tuple[float, float] | None:
    """(longitude, latitude) of an Esri JSON geometry, or None."""
    if not isinstance(geometry, dict):
        return None
    try:
        if "x" in geometry and "y" in geometry:
            if geometry["x"] is None or geometry["y"] is None or geometry["x"] == "NaN":
                return None
            return float(geometry["x"]), float(geometry["y"])
        if "rings" in geometry:
            return ring_centroid(geometry["rings"])
        vertices = geometry.get("points") or [p for path in geometry.get("paths") or [] for p in path]
        if vertices:
            arr = np.asarray(vertices, dtype=float)[:, :2]
            return float(arr[:, 0].mean()), float(arr[:, 1].mean())
    except (TypeError, ValueError, IndexError):
        return None
    return None


def _features_to_frame(features: list[dict]) -> pd.DataFrame:
    rows = []
    for feature in features:
        out: dict[str, str] = {}
        for key, value in (feature.get("attributes") or {}).items():
            flatten_value(key, value, out)
        point = geometry_point(feature.get("geometry"))
        lat_col, lon_col = ("geometry_latitude", "geometry_longitude") if (
            "latitude" in out or "longitude" in out) else ("latitude", "longitude")
        out[lon_col] = "" if point is None else repr(point[0])
        out[lat_col] = "" if point is None else repr(point[1])
        rows.append(out)
    return pd.DataFrame(rows, dtype=object).fillna("").astype(str)


def read_arcgis(source: ArcGISSource, *, client: httpx.Client | None = None,
                policy: RetryPolicy | None = None, max_pages: int | None = None) -> Iterator[Page | Reject]:
    policy = policy or RetryPolicy()
    url = query_url(source)
    own_client = client is None
    client = client or httpx.Client(follow_redirects=True)
    offset, pages = 0, 0
    try:
        while max_pages is None or pages < max_pages:
            params = {
                "where": source.where, "outFields": source.out_fields, "resultOffset": offset,
                "resultRecordCount": source.page_size, "returnGeometry": "true", "outSR": 4326,
                "f": "json",
            }
            ref = f"{url}?resultOffset={offset}&resultRecordCount={source.page_size}"
            response = fetch_page(client, url, params, {"Accept": "application/json"}, policy,
                                  source=source.name, ref=ref,
                                  inspect=lambda r: _retry_error_envelopes(r, policy))
            if isinstance(response, Reject):
                yield response
                return
            pages += 1
            body = _json_or_none(response)
            if body is None or not isinstance(body, dict):
                yield Reject(source.name, ref, response.text[:RAW_LIMIT],
                             "malformed answer: not a JSON object; stopped paging")
                return
            if "error" in body:
                error = body["error"] if isinstance(body["error"], dict) else {"message": body["error"]}
                yield Reject(source.name, ref, json.dumps(body)[:RAW_LIMIT],
                             f"ArcGIS error {error.get('code')}: {error.get('message')} "
                             f"{error.get('details') or ''}".strip() + "; stopped paging")
                return
            features = body.get("features")
            if not isinstance(features, list):
                yield Reject(source.name, ref, response.text[:RAW_LIMIT],
                             "malformed answer: no `features` array; stopped paging")
                return
            yield from page_of_objects(source.name, features, what="feature", to_frame=_features_to_frame,
                                       good_ref=lambda i, _f, at=offset: f"{url}#{at + i}",
                                       bad_ref=lambda i, at=ref: f"{at}#{i}")
            more = body.get("exceededTransferLimit")
            if not features or (more is False) or (more is None and len(features) < source.page_size):
                return
            offset += len(features)
    finally:
        if own_client:
            client.close()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_error_envelopes(response: httpx.Response, policy: RetryPolicy) -> None:
    """ArcGIS sends throttling and server errors as HTTP 200 with an error envelope: the code in
    it is judged like an HTTP status, so 429/5xx inside are retried too."""
    body = _json_or_none(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        if isinstance(code, int):
            raise_unless_final(code, response.headers, policy, response.text)
