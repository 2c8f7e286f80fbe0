"""A small listing site on 127.0.0.1 (pytest-httpserver), and the listing-source fixtures.

Index pages with JSON-LD, `__NEXT_DATA__`, selector cards, a hostile page, odd encodings, a page
mixing JSON-LD listings with selector-only cards, and an index of cards whose listings live on
their own detail pages (JSON-LD, embedded JSON, selectors), some of them behind a robots.txt
`Disallow`. conftest.py imports the fixtures (tests run with --import-mode=importlib).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from pytest_httpserver import HTTPServer

FAST_RATE = {"requests_per_second": 50, "concurrency": 4}


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

# ----------------------------------------------------------------------------- mixed page
# Two listings in JSON-LD; three cards: one for a JSON-LD listing (the same link), two selector-only.

MIXED_PAGE = _html(
    CARD.format(id="m-1", addr="21 Mixed Ave", city="Olympia", st="WA", zip="98501", price="$410,000", beds="3")
    + CARD.format(id="m-3", addr="25 Mixed Ave", city="Olympia", st="WA", zip="98501", price="$390,000", beds="2")
    + CARD.format(id="m-4", addr="27 Mixed Ave", city="Olympia", st="WA", zip="98501", price="$395,000", beds="2"),
    head=_ld({"@context": "https://schema.org", "@graph": [
        {"@type": "House", "@id": "m-1", "url": "/homes/m-1",
         "address": {"streetAddress": "21 Mixed Ave", "addressLocality": "Olympia", "addressRegion": "WA",
                     "postalCode": "98501"}, "offers": {"price": 410000}},
        {"@type": "House", "@id": "m-2", "url": "/homes/m-2",
         "address": {"streetAddress": "23 Mixed Ave", "addressLocality": "Olympia", "addressRegion": "WA",
                     "postalCode": "98501"}, "offers": {"price": 420000}},
    ]}))

# ----------------------------------------------------------------------------- detail pages
# The index shows cards that only link; each property's page holds the facts.


def _link_card(path: str, label: str) -> str:
    return f"<div class='card'><a class='detail' href='{path}'>{label}</a></div>"


DETAIL_INDEX_1 = _html(
    _link_card("/homes/d-1", "One") + _link_card("/homes/d-2", "Two") + _link_card("/homes/d-3", "Three")
    + _link_card("/private/homes/d-4", "Four (robots.txt forbids)")
    + "<a class='next' href='/detail-index?page=2'>Next</a>")
DETAIL_INDEX_2 = _html(
    _link_card("/homes/d-5", "Five") + _link_card("/homes/d-1", "One again")
    + _link_card("/homes/d-6", "Six (gone)") + _link_card("/private/homes/d-7", "Seven (robots.txt forbids)"))
DETAIL_SELECTORS = {"address": ".addr", "city": ".city", "state": ".st", "zip": ".zip", "list_price": ".price",
                    "beds": ".beds", "photos": "img.photo"}


def _facts(addr: str, city: str, st: str, zip_: str, price: str, beds: str) -> str:
    return (f"<h1 class='addr'>{addr}</h1><p><span class='city'>{city}</span>, <span class='st'>{st}</span> "
            f"<span class='zip'>{zip_}</span></p><p class='price'>{price}</p><p class='beds'>{beds}</p>"
            "<img class='photo' src='/img/p.jpg'>")


DETAIL_PAGES = {
    # JSON-LD, and the same facts visible on the page: one listing, not two.
    "/homes/d-1": _html(_facts("1 Detail St", "Tacoma", "WA", "98402", "$500,000", "3 bd"), head=_ld({
        "@context": "https://schema.org", "@type": "SingleFamilyResidence", "@id": "d-1", "url": "/homes/d-1",
        "numberOfBedrooms": 3, "yearBuilt": 1990,
        "address": {"streetAddress": "1 Detail St", "addressLocality": "Tacoma", "addressRegion": "WA",
                    "postalCode": "98402"},
        "offers": {"@type": "Offer", "price": 500000}})),
    "/homes/d-2": _html(
        "<div id='__next'></div><script id='__NEXT_DATA__' type='application/json'>" + json.dumps(
            {"props": {"pageProps": {"home": {"zpid": "d-2", "streetAddress": "2 Detail St", "city": "Tacoma",
                                              "state": "WA", "zipcode": "98402", "price": 610000,
                                              "bedrooms": 4, "livingArea": 2100}}}}) + "</script>"),
    "/homes/d-3": _html(_facts("3 Detail St", "Tacoma", "WA", "98403", "$450,000", "2 bd")),
    "/homes/d-5": _html(_facts("5 Detail St", "Tacoma", "WA", "98403", "call us", "2 bd")),
}
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


@dataclass
class ListingSite:
    url: str
    server: HTTPServer

    def requested(self) -> list:
        """The requests the site answered, as werkzeug Request objects (path, headers)."""
        return [request for request, _ in self.server.log]


@pytest.fixture(scope="session")
def listing_site() -> Iterator[ListingSite]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.no_handler_status_code = 404  # anything not served below is a plain 404
    html = "text/html; charset=utf-8"
    server.expect_request("/robots.txt").respond_with_data(ROBOTS, content_type="text/plain")
    for page, body in ((1, PAGE_1), (2, PAGE_2), (3, PAGE_3_HOSTILE)):
        server.expect_request("/listings", query_string=f"page={page}").respond_with_data(body, content_type=html)
    for page, body in ((1, DETAIL_INDEX_1), (2, DETAIL_INDEX_2)):
        server.expect_request("/detail-index", query_string=f"page={page}").respond_with_data(
            body, content_type=html)
    for path, body in {"/selectors.html": SELECTOR_PAGE, "/badutf8.html": BAD_UTF8_PAGE, "/js.html": JS_PAGE,
                       "/mixed.html": MIXED_PAGE, **DETAIL_PAGES}.items():
        server.expect_request(path).respond_with_data(body, content_type=html)
    server.expect_request("/latin1.html").respond_with_data(LATIN1_PAGE,
                                                            content_type="text/html; charset=windows-1252")
    server.start()
    try:
        yield ListingSite(server.url_for("").rstrip("/"), server)
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture(scope="session")
def pages():
    return SimpleNamespace(PAGE_1=PAGE_1, PAGE_2=PAGE_2, PAGE_3_HOSTILE=PAGE_3_HOSTILE, SELECTORS=SELECTORS,
                           FAST_RATE=FAST_RATE, MIXED_PAGE=MIXED_PAGE, DETAIL_PAGES=DETAIL_PAGES,
                           DETAIL_SELECTORS=DETAIL_SELECTORS)


@pytest.fixture(scope="session")
def site_source():
    from realestate_assets.config_models import ListingSiteSource

    def make(base: str, **kw) -> ListingSiteSource:
        return ListingSiteSource(**{
            "type": "listing_site", "name": "local_site", "provides": "listings", "rate_limit": FAST_RATE,
            "start_urls": [f"{base}/listings?page=1", f"{base}/selectors.html", f"{base}/latin1.html",
                           f"{base}/badutf8.html", f"{base}/gone.html", f"{base}/mixed.html"],
            "item_selector": ".card", "next_page_selector": "a.next", "selectors": SELECTORS, **kw})

    return make


@pytest.fixture(scope="session")
def detail_source():
    from realestate_assets.config_models import ListingSiteSource

    def make(base: str, **kw) -> ListingSiteSource:
        return ListingSiteSource(**{
            "type": "listing_site", "name": "detail_site", "provides": "listings", "rate_limit": FAST_RATE,
            "start_urls": [f"{base}/detail-index?page=1"], "next_page_selector": "a.next",
            "detail_link_selector": ".card a.detail", "selectors": DETAIL_SELECTORS, **kw})

    return make
