"""The listing spider: extraction units, a real crawl of a local site, Playwright rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parsel import Selector

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.discovery.listing.extract import extract, next_page_url
from realestate_assets.discovery.listing.items import clean_text, parse_number, validate_candidate
from realestate_assets.discovery.listing.read import read_listing_output
from realestate_assets.discovery.listing.run import crawl_in_subprocess
from realestate_assets.discovery.listing.settings import chromium_path, crawl_settings
from realestate_assets.discovery.records import Page, Reject

FAST = {"requests_per_second": 50, "concurrency": 4}


def candidates(page: bytes, source: ListingSiteSource):
    selector = Selector(text=page.decode("utf-8"))
    out = []
    for kind, payload, how in extract(selector, source, "http://site.test/listings"):
        out.append(validate_candidate(payload, "http://site.test/listings", how) if kind == "candidate"
                   else (None, how))
    return out


def test_jsonld_listing_and_house_are_read(pages, site_source):
    source = site_source("http://site.test")
    (first, none1), (second, none2) = candidates(pages.PAGE_1, source)
    assert none1 is None and none2 is None
    assert (first.address, first.city, first.state, first.zip) == ("123 North Main Street", "Seattle", "WA",
                                                                   "98101")
    assert (first.list_price, first.beds, first.baths, first.living_sqft, first.year_built) == (
        749000, 3, 2.5, 1850, 1925)
    assert first.listing_status == "active" and str(first.list_date) == "2024-05-01"
    assert first.photos == ["http://site.test/img/ld-1a.jpg", "https://cdn.example/ld-1b.jpg"]
    assert first.description == "Bright & airy, near the park."
    assert first.source_id.startswith("u")  # no site id: hash of the canonical listing URL
    assert second.source_id == "house-77" and second.state == "WA" and second.zip == "98112"
    assert second.living_sqft == pytest.approx(2152.78, abs=0.01)  # 200 m² in sqft
    assert next_page_url(Selector(text=pages.PAGE_1.decode()), source) == "/listings?page=2"


def test_embedded_next_data_listings_with_owner(pages, site_source):
    found = [item for item, _ in candidates(pages.PAGE_2, site_source("http://site.test"))]
    assert [i.source_id for i in found] == ["nx-1", "nx-2"]
    assert found[0].owner_name == "Jane Q Owner" and found[0].owner_mailing_address.startswith("PO Box 7")
    assert (found[0].latitude, found[0].longitude, found[0].lot_sqft) == (47.61, -122.33, 2500)
    assert found[1].list_price == 615000 and found[1].living_sqft == 1100
    assert (found[1].city, found[1].state, found[1].zip) == ("SEATTLE", "WA", "98109")


def test_hostile_page_rejects_with_reasons_and_strips_scripts(pages, site_source):
    results = candidates(pages.PAGE_3_HOSTILE, site_source("http://site.test"))
    items = [i for i, _ in results if i is not None]
    reasons = [r for i, r in results if i is None]
    assert len(items) == 1
    xss = items[0]
    assert xss.address == "5 Elm St" and "<" not in xss.description and "alert" not in xss.description
    assert xss.description == "Charming bungalow with yard"
    assert xss.photos == ["http://site.test/img/ok.jpg"]  # javascript: URL dropped
    assert any("beds: 9999 outside" in r and "list_price: 1e+308 outside" in r for r in reasons)
    assert any("not valid JSON" in r for r in reasons)
    assert any(r == "address: missing" for r in reasons)


@pytest.mark.parametrize(("raw", "number"), [
    ("$1,250,000", 1_250_000), ("2,100 sq ft", 2100), ("1.2M", 1_200_000), ("950K", 950_000), (3, 3),
    ("", None), ("3 bd", 3)])
def test_parse_number(raw, number):
    assert parse_number(raw) == number


def test_clean_text_strips_markup():
    assert clean_text("<b>Hi</b> <script>x()</script>there&nbsp;&amp; \x00you") == "Hi there & you"
    assert clean_text("&lt;img src=x onerror=alert(1)&gt;ok") == "ok"
    assert clean_text("   ") is None


def test_settings_map_rate_limit_and_politeness(tmp_path, site_source):
    source = site_source("http://site.test")
    settings = crawl_settings(source, tmp_path / "i", tmp_path / "r", http_cache=True)
    assert settings["DOWNLOAD_DELAY"] == pytest.approx(1 / 50)
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 4
    assert settings["ROBOTSTXT_OBEY"] and settings["AUTOTHROTTLE_ENABLED"] and settings["HTTPCACHE_ENABLED"]
    assert 429 in settings["RETRY_HTTP_CODES"] and settings["DOWNLOAD_TIMEOUT"] == 30
    assert "DOWNLOAD_HANDLERS" not in settings
    rendered = crawl_settings(source.model_copy(update={"render": "playwright"}), tmp_path / "i", tmp_path / "r")
    assert rendered["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"][:2] == ["--headless", "--no-sandbox"]
    assert rendered["TWISTED_REACTOR"].endswith("AsyncioSelectorReactor")


@pytest.fixture(scope="module")
def crawled(listing_site, tmp_path_factory, site_source):
    work = tmp_path_factory.mktemp("crawl")
    stats = crawl_in_subprocess(site_source(listing_site.url), work, timeout_s=120)
    return stats, listing_site


def test_crawl_writes_items_rejects_and_stats(crawled):
    stats, site = crawled
    items = [json.loads(line) for line in Path(stats.items_path).read_text().splitlines()]
    rejects = [json.loads(line) for line in Path(stats.rejects_path).read_text().splitlines()]
    ids = {i["source_id"] for i in items}
    assert {"house-77", "nx-1", "nx-2", "sel-1", "lat-1", "u8-1"} <= ids
    assert len(items) == 8 and stats.records == 8  # 2 JSON-LD, 2 embedded, 1 hostile, 1+1+1 selectors
    by_id = {i["source_id"]: i for i in items}
    assert by_id["lat-1"]["address"] == "8 Peñasco Way"  # windows-1252 page decoded by its header
    assert by_id["u8-1"]["address"] == "3 Birch Rd"  # undecodable bytes dropped, item kept
    assert stats.pages == 6  # 3 paginated + selectors + latin1 + badutf8
    reasons = [r["reason"] for r in rejects]
    assert any("list_price: not a number" in r for r in reasons)  # "call us"
    assert any(r == "HTTP 404" for r in reasons)
    assert any("robots.txt" in r.lower() or "IgnoreRequest" in r for r in reasons)  # /private/ blocked
    assert not any(s.path.startswith("/private/") for s in site.requests)
    assert all(r["source"] == "local_site" for r in rejects) and stats.rejects == len(rejects)
    assert any(s.path == "/robots.txt" for s in site.requests)
    assert all("RealEstateOS" in s.headers.get("user-agent", "") for s in site.requests)


def test_crawl_output_reads_back_as_pages_and_rejects(crawled):
    stats, _ = crawled
    results = list(read_listing_output("local_site", Path(stats.items_path), Path(stats.rejects_path),
                                       chunk_rows=5))
    pages = [r for r in results if isinstance(r, Page)]
    rejects = [r for r in results if isinstance(r, Reject)]
    assert [len(p.frame) for p in pages] == [5, 3]
    assert all(isinstance(v, str) for v in pages[0].frame.iloc[0])
    assert pages[0].refs[0].startswith("http://127.0.0.1")
    assert len(rejects) == stats.rejects and all(r.reason for r in rejects)


@pytest.mark.browser
@pytest.mark.skipif(not Path(chromium_path()).exists(),
                    reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_playwright_renders_javascript_listings(listing_site, tmp_path, pages):
    source = ListingSiteSource(type="listing_site", name="js_site", rate_limit=FAST, render="playwright",
                               start_urls=[f"{listing_site.url}/js.html"], item_selector=".card",
                               selectors=pages.SELECTORS, structured_data=False)
    stats = crawl_in_subprocess(source, tmp_path, timeout_s=120)
    items = [json.loads(line) for line in Path(stats.items_path).read_text().splitlines()]
    assert sorted(i["source_id"] for i in items) == ["js-1", "js-2"]
    assert items[0]["city"] == "Tacoma" and items[0]["list_price"] in (333000, 344000)
    assert stats.rejects == 0 and stats.pages == 1


def test_runner_reads_a_county_file_and_refuses_bad_config(tmp_path, capsys):
    from realestate_assets.config_models import ConfigError
    from realestate_assets.discovery.listing.run import main, source_from_county

    county = tmp_path / "test_co.yaml"
    county.write_text(
        "name: Test\nstate: WA\nstate_fips: '53'\ncounty_fips: '033'\n"
        "bounding_box: {min_latitude: 47, max_latitude: 48, min_longitude: -123, max_longitude: -121}\n"
        "sources:\n"
        "  - {name: site, type: listing_site, start_urls: ['http://127.0.0.1:9/']}\n"
        "  - {name: sales, type: socrata, domain: x.test, dataset: abcd-1234}\n", encoding="utf-8")
    assert source_from_county(county, "site").start_urls == ["http://127.0.0.1:9/"]
    with pytest.raises(ConfigError, match="not listing_site"):
        source_from_county(county, "sales")
    out, rejects = str(tmp_path / "i.jsonl"), str(tmp_path / "r.jsonl")
    assert main(["--county-file", str(county), "--source", "missing", "--out", out, "--rejects", rejects]) == 2
    assert "no source named 'missing'" in capsys.readouterr().err


def test_deeply_nested_json_is_a_reject_and_the_page_goes_on(site_source):
    deep = "[" * 50_000 + "]" * 50_000
    ok = ('{"@type": "House", "url": "/h/ok", "address": {"streetAddress": "7 Ash St", "postalCode": "98101"}}')
    html = (f"<html><head><script type='application/ld+json'>{deep}</script>"
            f"<script type='application/ld+json'>{ok}</script>"
            f"<script id='__NEXT_DATA__' type='application/json'>{deep}</script></head></html>").encode()
    results = candidates(html, site_source("http://site.test"))
    assert [i.address for i, _ in results if i is not None] == ["7 Ash St"]
    assert sum("nested too deeply" in (r or "") for _, r in results) == 2
