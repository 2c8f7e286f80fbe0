"""Local HTTP servers on 127.0.0.1 standing in for Socrata, ArcGIS and a small listing site.

Socrata and ArcGIS run on pytest-httpserver (tests/local_http.py), like the other outside-service
fakes; the listing site keeps its own server below."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

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


def _serve(route: Callable[[Seen], Response]) -> Iterator[LocalServer]:
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Seen(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                           {k.lower(): v for k, v in self.headers.items()})
            seen.append(request)
            try:
                status, headers, body = route(request)
            except Exception as exc:  # a bug in a fixture should show, not hang the client
                status, headers, body = 599, {}, repr(exc).encode()
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()


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
        count = min(int(req.query["resultRecordCount"]), ARCGIS_MAX_RECORDS)
        chunk = ARCGIS_FEATURES[offset: offset + count]
        return _json(200, {"objectIdFieldName": "OBJECTID", "features": chunk,
                           "exceededTransferLimit": offset + count < len(ARCGIS_FEATURES)})

    yield from _serve_api(route)


# ----------------------------------------------------------------------------- listing site

def _html(body: str, head: str = "", charset: str = "utf-8") -> bytes:
    return f"<!doctype html><html><head><meta charset='{charset}'>{head}</head><body>{body}</body></html>" \
        .encode(charset, errors="strict")


def _ld(document) -> str:
    # Serializers escape "</" inside JSON-LD so a string cannot close the <script> element.
    text = json.dumps(document).replace("</", "<\\/")
    return "<script type='application/ld+json'>" + text + "</script>"


PAGE_1 = _html(
    "<h1>Homes</h1><a class='next' href='/listings?page=2'>Next</a>",
    head=_ld({"@context": "https://schema.org", "@type": "ItemList", "itemListElement": [
        {"@type": "ListItem", "position": 1, "item": {
            "@type": "RealEstateListing", "url": "/homes/ld-1", "datePosted": "2024-05-01",
            "name": "Bright home", "description": "Bright &amp; airy, near the park.",
            "image": ["/img/ld-1a.jpg", {"@type": "ImageObject", "url": "https://cdn.example/ld-1b.jpg"}],
            "offers": {"@type": "Offer", "price": "749000", "priceCurrency": "USD",
                       "availability": "https://schema.org/InStock"},
            "mainEntity": {"@type": "SingleFamilyResidence", "numberOfBedrooms": 3,
                           "numberOfBathroomsTotal": 2.5, "yearBuilt": 1925,
                           "floorSize": {"@type": "QuantitativeValue", "value": 1850, "unitCode": "FTK"},
                           "address": {"@type": "PostalAddress", "streetAddress": "123 North Main Street",
                                       "addressLocality": "Seattle", "addressRegion": "WA",
                                       "postalCode": "98101"},
                           "geo": {"@type": "GeoCoordinates", "latitude": 47.6, "longitude": -122.3}}}},
        {"@type": "ListItem", "position": 2, "item": {
            "@type": "House", "@id": "house-77", "url": "/homes/ld-2",
            "address": {"streetAddress": "45 Lake Shore Dr", "addressLocality": "Seattle",
                        "addressRegion": "Washington", "postalCode": "98112-1234"},
            "numberOfBedrooms": "4", "floorSize": {"value": 200, "unitCode": "MTK"},
            "offers": {"@type": "Offer", "price": 1250000}}},
    ]}))

PAGE_2 = _html(
    "<div id='__next'>rendered</div><a class='next' href='/listings?page=3'>Next</a>"
    "<script id='__NEXT_DATA__' type='application/json'>" + json.dumps({"props": {"pageProps": {
        "searchResults": {"listings": [
            {"id": "nx-1", "address": {"streetAddress": "9 Pine St", "city": "Seattle", "state": "WA",
                                       "zipcode": "98101"},
             "price": 550000, "bedrooms": 2, "bathrooms": 1, "livingArea": 980, "lotSize": 2500,
             "detailUrl": "/homes/nx-1", "homeStatus": "FOR_SALE", "ownerName": "Jane Q Owner",
             "ownerMailingAddress": "PO Box 7, Tacoma WA 98402", "photos": ["/img/nx-1.jpg"],
             "latLong": {"latitude": 47.61, "longitude": -122.33}},
            {"id": "nx-2", "address": "77 Cedar Ave Unit 5, Seattle, WA 98109", "listPrice": "$615,000",
             "beds": 2, "baths": 2, "sqft": "1,100 sq ft", "detailUrl": "/homes/nx-2"},
        ]}}}}) + "</script>")

PAGE_3_HOSTILE = (
    b"<!doctype html><html><head><meta charset='utf-8'>"
    + _ld({"@type": "House", "url": "/homes/bad-1", "address": {"streetAddress": "1 Absurd Way"},
           "numberOfBedrooms": 9999, "offers": {"price": "1e308"}}).encode()
    + b"<script type='application/ld+json'>{\"@type\": \"House\", broken</script>"
    + _ld({"@type": "House", "url": "/homes/noaddr", "numberOfBedrooms": 2}).encode()
    + _ld({"@type": "House", "url": "/homes/xss-1",
           "address": {"streetAddress": "5 Elm St<script>alert('x')</script>", "addressLocality": "Seattle",
                       "addressRegion": "WA", "postalCode": "98103"},
           "description": "<p>Charming <b>bungalow</b></p><script>document.location='http://evil'</script>"
                          "&lt;script&gt;steal()&lt;/script&gt; with yard",
           "offers": {"price": "$480,000"}, "image": ["javascript:alert(1)", "/img/ok.jpg"]}).encode()
    + b"</head><body><div class='card'><p>unclosed <b>tags <i>everywhere"
    + b"<a class='next' href='/private/page-4'>Next</a>"
    + b"<table><tr><td>no end"
)

CARD = ("<div class='card' data-id='{id}'><span class='addr'>{addr}</span> <span class='city'>{city}</span>"
        " <span class='st'>{st}</span> <span class='zip'>{zip}</span> <span class='price'>{price}</span>"
        " <span class='beds'>{beds}</span> <a class='detail' href='/homes/{id}'>details</a>"
        " <img src='/img/{id}.jpg'></div>")
SELECTORS = {"address": ".addr", "city": ".city", "state": ".st", "zip": ".zip", "list_price": ".price",
             "beds": ".beds", "url": "a.detail", "photos": "img", "source_id": "xpath:./@data-id"}

SELECTOR_PAGE = _html(
    CARD.format(id="sel-1", addr="12 Oak Avenue", city="Springfield", st="IL", zip="62704", price="$415,000",
                beds="3 bd")
    + CARD.format(id="sel-2", addr="14 Oak Avenue", city="Springfield", st="IL", zip="62704", price="call us",
                  beds="2 bd"))

LATIN1_PAGE = _html(CARD.format(id="lat-1", addr="8 Peñasco Way", city="Española", st="NM", zip="87532",
                                price="$300,000", beds="2"), charset="windows-1252")

BAD_UTF8_PAGE = (b"<html><head><meta charset='utf-8'></head><body>"
                 + CARD.format(id="u8-1", addr="3 Birch Rd \xff\xfe", city="Tacoma", st="WA", zip="98402",
                               price="$250,000", beds="2").encode("latin-1")
                 + b"</body></html>")

JS_PAGE = _html(
    "<div id='list'></div><script>setTimeout(function () {"
    "  var list = document.getElementById('list');"
    "  [['js-1', '200 Spruce St', '$333,000'], ['js-2', '202 Spruce St', '$344,000']].forEach(function (r) {"
    "    var d = document.createElement('div'); d.className = 'card'; d.setAttribute('data-id', r[0]);"
    "    d.innerHTML = \"<span class='addr'>\" + r[1] + \"</span><span class='city'>Tacoma</span>"
    "<span class='st'>WA</span><span class='zip'>98402</span><span class='price'>\" + r[2] + \"</span>"
    "<a class='detail' href='/homes/\" + r[0] + \"'>d</a>\";"
    "    list.appendChild(d); });"
    "}, 300);</script>")

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


@pytest.fixture(scope="session")
def listing_site() -> Iterator[LocalServer]:
    pages = {"/listings?page=1": PAGE_1, "/listings?page=2": PAGE_2, "/listings?page=3": PAGE_3_HOSTILE,
             "/selectors.html": SELECTOR_PAGE, "/badutf8.html": BAD_UTF8_PAGE, "/js.html": JS_PAGE}

    def route(req: Seen) -> Response:
        key = req.path + (f"?page={req.query['page']}" if "page" in req.query else "")
        if req.path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, ROBOTS
        if req.path == "/latin1.html":
            return 200, {"Content-Type": "text/html; charset=windows-1252"}, LATIN1_PAGE
        if req.path == "/gone.html":
            return 404, {"Content-Type": "text/html"}, b"<html>gone</html>"
        if key in pages:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, pages[key]
        return 404, {"Content-Type": "text/html"}, b"<html>not found</html>"

    yield from _serve(route)


# ----------------------------------------------------------------------------- shared to tests
# Tests run with --import-mode=importlib, so they get these through fixtures, not imports.

FAST_RATE = {"requests_per_second": 50, "concurrency": 4}


@pytest.fixture(scope="session")
def pages():
    from types import SimpleNamespace

    return SimpleNamespace(PAGE_1=PAGE_1, PAGE_2=PAGE_2, PAGE_3_HOSTILE=PAGE_3_HOSTILE, SELECTORS=SELECTORS,
                           FAST_RATE=FAST_RATE)


@pytest.fixture(scope="session")
def site_source():
    from realestate_assets.config_models import ListingSiteSource

    def make(base: str, **kw) -> ListingSiteSource:
        return ListingSiteSource(
            type="listing_site", name="local_site", provides="listings", rate_limit=FAST_RATE,
            start_urls=[f"{base}/listings?page=1", f"{base}/selectors.html", f"{base}/latin1.html",
                        f"{base}/badutf8.html", f"{base}/gone.html"],
            item_selector=".card", next_page_selector="a.next", selectors=SELECTORS, **kw)

    return make
