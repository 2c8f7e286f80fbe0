"""Local HTTP servers on 127.0.0.1 standing in for Socrata, ArcGIS and a small listing site.

All run on pytest-httpserver (tests/local_http.py), like the other outside-service fakes; the
listing site's fixtures live in tests/discovery/listing_site.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import werkzeug

from tests.local_http import base_url, serve

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class LocalServer:
    url: str
    requests: list[Seen] = field(default_factory=list)


def _serve_api(route: Callable[[Seen], Response]) -> Iterator[LocalServer]:
    """A JSON API fake on pytest-httpserver: `route(request) -> (status, headers, body)`."""
    seen: list[Seen] = []

    def handle(raw: werkzeug.Request) -> werkzeug.Response:
        request = Seen(raw.path, {k: v[-1] for k, v in raw.args.lists()},
                       {k.lower(): v for k, v in raw.headers.items()})
        seen.append(request)
        try:
            status, headers, body = route(request)
        except Exception as exc:  # a bug in a fixture should show, not hang the client
            status, headers, body = 599, {}, repr(exc).encode()
        return werkzeug.Response(body, status=status, headers={"Content-Type": "application/json", **headers})

    server = serve(handle)
    try:
        yield LocalServer(base_url(server), seen)
    finally:
        server.stop()


def _json(status: int, body, headers: dict[str, str] | None = None) -> Response:
    return status, headers or {}, json.dumps(body).encode()


# ----------------------------------------------------------------------------- Socrata

SOCRATA_ROWS = [
    {":id": f"row-{i:03d}", "pin": f"{1000 + i:014d}", "sale_price": str(200_000 + 1000 * i),
     "sale_date": f"2021-01-{1 + i % 28:02d}T00:00:00.000", "address": f"{100 + i} N Main St",
     "zip": "98101", "location": {"type": "Point", "coordinates": [-122.3 + i / 1e4, 47.6]}}
    for i in range(25)
]
SOCRATA_ROWS[3].pop("address")  # SODA leaves out null fields
SOCRATA_ROWS[0]["address"] = "123 North Main Street"

# Hostile values one row each (issue #14): a 120,000-character parcel id, a NUL, a line break.
HOSTILE_ROWS = [{"pin": "A1", "addr": "1 Main St"}, {"pin": "9" * 120_000, "addr": "2 Main St"},
                {"pin": "A3", "addr": "3 Main\x00 St"}, {"pin": "A4\r\nX", "addr": "4 Main St"}]


@pytest.fixture
def socrata_server() -> Iterator[LocalServer]:
    state = {"throttled": 0}

    def route(req: Seen) -> Response:
        if not req.path.startswith("/resource/"):
            return _json(404, {"error": True, "message": "not found"})
        if "$order" not in req.query:
            return _json(400, {"error": True, "message": "paging needs $order"})
        dataset = req.path.rsplit("/", 1)[-1].removesuffix(".json")
        offset, limit = int(req.query["$offset"]), int(req.query["$limit"])
        if dataset == "busy-0001" and state["throttled"] < 2:  # a 429 burst, then service
            state["throttled"] += 1
            return _json(429, {"message": "Too many requests"}, {"Retry-After": "0"})
        if dataset == "qota-0001":  # the daily quota is spent: come back in an hour
            return _json(429, {"message": "Too many requests"}, {"Retry-After": "3600"})
        if dataset == "down-0001":
            return _json(503, {"message": "unavailable"})
        if dataset == "hstl-0001":
            return _json(200, [{":id": f"row-{i}", **r} for i, r in enumerate(HOSTILE_ROWS)][offset: offset + limit])
        if dataset == "bad0-0001" and offset == 10:
            return 200, {}, b"<html>Gateway hiccup</html>"
        rows = sorted(SOCRATA_ROWS, key=lambda r: r[req.query["$order"]])
        if "$where" in req.query:
            rows = [r for r in rows if int(r["sale_price"]) > 205_000]
        return _json(200, rows[offset: offset + limit])

    yield from _serve_api(route)


# ----------------------------------------------------------------------------- ArcGIS

def _feature(i: int) -> dict:
    attrs = {"OBJECTID": i, "PARCEL_ID": f"P-{i:04d}", "SITE_ADDR": f"{10 + i} Elm St", "ZIP": "98101",
             "SALE_AMT": 300_000 + i, "NULLED": None}
    if i % 2:
        x, y = -122.30 + i / 1000, 47.60
        geometry = {"rings": [[[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y + 0.001], [x, y]]]}
    else:
        geometry = {"x": -122.30 + i / 1000, "y": 47.61}
    return {"attributes": attrs, "geometry": geometry}


ARCGIS_FEATURES = [_feature(i) for i in range(7)]
ARCGIS_MAX_RECORDS = 3  # the server's maxRecordCount: fewer than asked for


@pytest.fixture
def arcgis_server() -> Iterator[LocalServer]:
    state = {"flaky": 0}

    def route(req: Seen) -> Response:
        layer = req.path.split("/")[-2]
        if req.query.get("f") != "json" or req.query.get("outSR") != "4326":
            return _json(200, {"error": {"code": 400, "message": "bad request", "details": ["f, outSR"]}})
        if layer == "1":
            return _json(200, {"error": {"code": 400, "message": "Unable to complete operation.",
                                         "details": ["Invalid where clause"]}})
        if layer == "2" and state["flaky"] < 1:
            state["flaky"] += 1
            return _json(200, {"error": {"code": 503, "message": "busy"}})
        offset = int(req.query["resultOffset"])
        if req.path.split("/")[-4] == "hostile":
            features = [{"attributes": {"OBJECTID": i, "PIN": r["pin"], "ADDR": r["addr"]},
                         "geometry": {"x": -122.3, "y": 47.6}} for i, r in enumerate(HOSTILE_ROWS)]
            return _json(200, {"features": features[offset:], "exceededTransferLimit": False})
        count = min(int(req.query["resultRecordCount"]), ARCGIS_MAX_RECORDS)
        chunk = ARCGIS_FEATURES[offset: offset + count]
        return _json(200, {"objectIdFieldName": "OBJECTID", "features": chunk,
                           "exceededTransferLimit": offset + count < len(ARCGIS_FEATURES)})

    yield from _serve_api(route)


# ----------------------------------------------------------------------------- listing site

# The listing site and its sources live in listing_site.py (pytest-httpserver).
from tests.discovery.listing_site import detail_source, listing_site, pages, site_source  # noqa: E402, F401
