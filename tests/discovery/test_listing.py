"""The listing spider: extraction units, real crawls of a local site through the one launcher
(Dagster Pipes via ScraperResource), detail pages, robots.txt skips, Playwright, the scraper pod."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from parsel import Selector

from realestate_assets.config_models import ListingSiteSource
from realestate_assets.discovery.listing.extract import detail_links, extract, next_page_url
from realestate_assets.discovery.listing.items import clean_text, parse_number, validate_candidate
from realestate_assets.discovery.listing.run import crawl_command
from realestate_assets.discovery.listing.settings import DEFAULT_CHROMIUM_PATH, CrawlOptions, crawl_settings
from realestate_assets.discovery.records import Page, Reject
from resources.scraper import TINI, Crawl, ScraperConfigError, ScraperResource

FAST = {"requests_per_second": 50, "concurrency": 4}


def candidates(page: bytes, source: ListingSiteSource, *, whole_page: bool = False):
    selector = Selector(text=page.decode("utf-8"))
    out = []
    for kind, payload, how in extract(selector, source, "http://site.test/listings", whole_page=whole_page):
        if kind == "candidate":
            out.append(validate_candidate(payload, "http://site.test/listings", how))
        elif kind == "reject":
            out.append((None, how))
    return out


def crawl(source: ListingSiteSource, scraper: ScraperResource | None = None) -> Crawl:
    """Crawl `source` the way the listings asset does: ScraperResource.crawl inside a materialization."""
    found: dict[str, Crawl] = {}

    @dg.asset(name=f"crawl_{source.name}", required_resource_keys={"scraper"})
    def crawl_asset(context) -> dg.MaterializeResult:
        found["crawl"] = context.resources.scraper.crawl(context, "test_co", source)
        return dg.MaterializeResult(metadata=found["crawl"].metadata)

    dg.materialize([crawl_asset], resources={"scraper": scraper or ScraperResource()})
    return found["crawl"]


def split(result: Crawl) -> tuple[dict[str, dict], list[Reject], dict]:
    rows = {}
    for item in result.items:
        if isinstance(item, Page):
            rows.update({r["source_id"]: r for r in item.frame.to_dict("records")})
    rejects = [i for i in result.items if isinstance(i, Reject)]
    return rows, rejects, {k: getattr(v, "value", v) for k, v in result.metadata.items()}


# ----------------------------------------------------------------------------- extraction


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


def test_a_page_mixing_jsonld_and_selector_only_cards_yields_both(pages, site_source):
    source = site_source("http://site.test")
    kinds = [(kind, how) for kind, _, how in extract(Selector(text=pages.MIXED_PAGE.decode()), source,
                                                      "http://site.test/mixed.html")]
    assert kinds.count(("candidate", "json-ld")) == 2 and kinds.count(("candidate", "selectors")) == 2
    assert [k for k, _ in kinds].count("covered") == 1  # m-1's card: the JSON-LD already has it
    ids = sorted(i.source_id for i, _ in candidates(pages.MIXED_PAGE, source))
    assert ids == ["m-1", "m-2", "m-3", "m-4"]


def test_detail_links_and_a_detail_page_read_as_one_listing(pages, detail_source):
    source = detail_source("http://site.test")
    index = Selector(text="<div class='card'><a class='detail' href='/homes/1'>a</a></div>"
                          "<div class='card'><a class='detail' href='/homes/1'>again</a>"
                          "<a class='detail' href='javascript:void(0)'>x</a></div>")
    assert detail_links(index, source) == ["/homes/1"]
    # JSON-LD plus the same facts as visible text: one listing, the JSON-LD one.
    results = candidates(pages.DETAIL_PAGES["/homes/d-1"], source, whole_page=True)
    assert [(i.source_id, i.extracted_by) for i, _ in results] == [("d-1", "json-ld")]
    (only, _), = candidates(pages.DETAIL_PAGES["/homes/d-3"], source, whole_page=True)
    assert (only.address, only.zip, only.list_price, only.extracted_by) == ("3 Detail St", "98403", 450000,
                                                                           "selectors")


@pytest.mark.parametrize(("raw", "number"), [
    ("$1,250,000", 1_250_000), ("2,100 sq ft", 2100), ("1.2M", 1_200_000), ("950K", 950_000), (3, 3),
    ("", None), ("3 bd", 3)])
def test_parse_number(raw, number):
    assert parse_number(raw) == number


def test_clean_text_strips_markup():
    assert clean_text("<b>Hi</b> <script>x()</script>there&nbsp;&amp; \x00you") == "Hi there & you"
    assert clean_text("&lt;img src=x onerror=alert(1)&gt;ok") == "ok"
    assert clean_text("   ") is None


def test_deeply_nested_json_is_a_reject_and_the_page_goes_on(site_source):
    deep = "[" * 50_000 + "]" * 50_000
    ok = ('{"@type": "House", "url": "/h/ok", "address": {"streetAddress": "7 Ash St", "postalCode": "98101"}}')
    html = (f"<html><head><script type='application/ld+json'>{deep}</script>"
            f"<script type='application/ld+json'>{ok}</script>"
            f"<script id='__NEXT_DATA__' type='application/json'>{deep}</script></head></html>").encode()
    results = candidates(html, site_source("http://site.test"))
    assert [i.address for i, _ in results if i is not None] == ["7 Ash St"]
    assert sum("nested too deeply" in (r or "") for _, r in results) == 2


# ----------------------------------------------------------------------------- settings and command


def test_settings_map_rate_limit_politeness_and_feeds(tmp_path, site_source):
    source = site_source("http://site.test")
    options = CrawlOptions(user_agent="ops@example (test)", http_cache_dir=str(tmp_path / "cache"))
    settings = crawl_settings(source, "/out/items.jsonl", "s3://bucket/rejects.jsonl", options)
    assert settings["DOWNLOAD_DELAY"] == pytest.approx(1 / 50)
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 4
    assert settings["ROBOTSTXT_OBEY"] and settings["AUTOTHROTTLE_ENABLED"] and settings["HTTPCACHE_ENABLED"]
    assert settings["HTTPCACHE_DIR"] == str(tmp_path / "cache") and settings["USER_AGENT"] == "ops@example (test)"
    assert 429 in settings["RETRY_HTTP_CODES"] and settings["DOWNLOAD_TIMEOUT"] == 30
    assert "DOWNLOAD_HANDLERS" not in settings
    feeds = settings["FEEDS"]
    assert feeds["/out/items.jsonl"]["item_classes"][0].endswith("items.ListingRecord")
    assert feeds["s3://bucket/rejects.jsonl"]["item_classes"][0].endswith("items.RejectedItem")
    assert all(f["format"] == "jsonlines" and f["overwrite"] for f in feeds.values())
    assert not crawl_settings(source, "i", "r")["HTTPCACHE_ENABLED"]  # off unless asked for
    rendered = crawl_settings(source.model_copy(update={"render": "playwright"}), "i", "r",
                              CrawlOptions(chromium_path="/opt/chrome"))
    assert rendered["PLAYWRIGHT_LAUNCH_OPTIONS"]["executable_path"] == "/opt/chrome"
    assert rendered["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"][:2] == ["--headless", "--no-sandbox"]
    assert rendered["TWISTED_REACTOR"].endswith("AsyncioSelectorReactor")


def test_the_scraper_resource_passes_its_settings_to_the_crawl_command(site_source):
    scraper = ScraperResource(user_agent="ops@example", chromium_path="/opt/chrome", http_cache=True,
                              http_cache_dir="/var/cache/crawl")
    command = crawl_command(site_source("http://site.test"), "i.jsonl", "r.jsonl", scraper.options())
    flags = dict(zip(command[2::2], command[3::2], strict=False))
    assert command[:2] == ["-m", "realestate_assets.discovery.listing.run"]
    assert flags["--user-agent"] == "ops@example" and flags["--chromium-path"] == "/opt/chrome"
    assert flags["--http-cache-dir"] == "/var/cache/crawl" and "--no-throttle" not in command
    assert "--http-cache-dir" not in crawl_command(site_source("x"), "i", "r", ScraperResource().options())


def test_runner_reads_a_county_file_and_refuses_bad_config(tmp_path, capsys):
    from realestate_assets.config_models import ConfigError
    from realestate_assets.discovery.listing.run import main, source_from_county

    county = tmp_path / "test_co.yaml"
    county.write_text(
        "name: Test\nstate: WA\nstate_fips: '53'\ncounty_fips: '033'\n"
        "bounding_box: {min_latitude: 47, max_latitude: 48, min_longitude: -123, max_longitude: -121}\n"
        "sources:\n"
        "  - {name: site, type: listing_site, start_urls: ['http://127.0.0.1:9/'], detail_link_selector: a.x}\n"
        "  - {name: sales, type: socrata, domain: x.test, dataset: abcd-1234}\n", encoding="utf-8")
    assert source_from_county(county, "site").detail_link_selector == "a.x"
    with pytest.raises(ConfigError, match="not listing_site"):
        source_from_county(county, "sales")
    out, rejects = str(tmp_path / "i.jsonl"), str(tmp_path / "r.jsonl")
    assert main(["--county-file", str(county), "--source", "missing", "--out", out, "--rejects", rejects]) == 2
    assert "no source named 'missing'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- real crawls


@pytest.fixture(scope="module")
def crawled(listing_site, site_source):
    return crawl(site_source(listing_site.url)), listing_site


def test_crawl_yields_items_rejects_and_metadata(crawled):
    result, site = crawled
    rows, rejects, meta = split(result)
    assert {"house-77", "nx-1", "nx-2", "sel-1", "lat-1", "u8-1", "m-1", "m-2", "m-3", "m-4"} <= set(rows)
    # 2 JSON-LD, 2 embedded, 1 hostile, 1+1+1 selector cards, 2 JSON-LD + 2 cards on the mixed page
    assert len(rows) == 12 and meta["listing_records"] == 12
    assert rows["lat-1"]["address"] == "8 Peñasco Way"  # windows-1252 page decoded by its header
    assert rows["u8-1"]["address"] == "3 Birch Rd"  # undecodable bytes dropped, item kept
    assert meta["listing_pages"] == 7  # 3 paginated + selectors + latin1 + badutf8 + mixed
    reasons = [r.reason for r in rejects]
    assert any("list_price: not a number" in r for r in reasons)  # "call us"
    assert "HTTP 404" in reasons  # /gone.html
    # The hostile page's next link is under /private/: skipped and counted, not a reject.
    assert meta["listing_robots_skipped"] == 1 and not any("robots" in r.lower() for r in reasons)
    assert not any(r.path.startswith("/private/") for r in site.requested())
    assert all(r.source == "local_site" for r in rejects) and meta["listing_rejects"] == len(rejects)
    assert any(r.path == "/robots.txt" for r in site.requested())
    assert all("RealEstateOS" in r.headers.get("User-Agent", "") for r in site.requested())


def test_crawl_output_reads_back_as_text_pages(crawled):
    result, _ = crawled
    pages = [r for r in result.items if isinstance(r, Page)]
    assert all(isinstance(v, str) for v in pages[0].frame.iloc[0])
    assert pages[0].refs[0].startswith("http://127.0.0.1")
    assert all(r.reason for r in result.items if isinstance(r, Reject))


def test_detail_pages_are_followed_politely_and_robots_skips_are_not_rejects(listing_site, detail_source):
    seen_before = len(listing_site.requested())
    result = crawl(detail_source(listing_site.url), ScraperResource(user_agent="RealEstateOS-test (ops@example)"))
    rows, rejects, meta = split(result)
    assert rows["d-1"]["extracted_by"] == "json-ld" and rows["d-1"]["list_price"] == "500000"
    assert rows["d-2"]["extracted_by"] == "embedded-json" and rows["d-2"]["living_sqft"] == "2100"
    three = next(r for r in rows.values() if r["address"] == "3 Detail St")
    assert three["extracted_by"] == "selectors" and three["listing_url"].endswith("/homes/d-3")
    assert three["photos"] == f'["{listing_site.url}/img/p.jpg"]'
    assert len(rows) == 3 and meta["listing_records"] == 3
    reasons = sorted(r.reason for r in rejects)
    assert len(reasons) == 2 and reasons[0] == "HTTP 404" and "list_price: not a number" in reasons[1]
    # d-4 and d-7 are under /private/: never fetched, counted as skipped, not rejected.
    assert meta["listing_robots_skipped"] == 2 and meta["listing_rejects"] == 2
    assert meta["listing_detail_pages"] == 4 and meta["listing_pages"] == 6  # 2 index + d-1, d-2, d-3, d-5
    asked = listing_site.requested()[seen_before:]
    paths = [r.path for r in asked]
    assert paths.count("/homes/d-1") == 1  # linked twice, fetched once
    assert not any(p.startswith("/private/") for p in paths)
    assert all(r.headers.get("User-Agent") == "RealEstateOS-test (ops@example)" for r in asked)


def test_a_crawl_that_cannot_start_is_a_reject_not_a_crash():
    source = ListingSiteSource(type="listing_site", name="nowhere", rate_limit={"requests_per_second": 50},
                               start_urls=["http://127.0.0.1:9/listings"])
    rows, rejects, meta = split(crawl(source))
    assert not rows and rejects and all("download failed" in r.reason for r in rejects)
    assert meta["listing_errors"] >= 1


@pytest.mark.browser
@pytest.mark.skipif(not Path(DEFAULT_CHROMIUM_PATH).exists(),
                    reason="Debian chromium is not installed (apt-get install -y chromium)")
def test_playwright_renders_javascript_listings(listing_site, pages):
    source = ListingSiteSource(type="listing_site", name="js_site", rate_limit=FAST, render="playwright",
                               start_urls=[f"{listing_site.url}/js.html"], item_selector=".card",
                               selectors=pages.SELECTORS, structured_data=False)
    rows, rejects, meta = split(crawl(source))
    assert sorted(rows) == ["js-1", "js-2"]
    assert rows["js-1"]["city"] == "Tacoma" and rows["js-1"]["list_price"] in ("333000", "344000")
    assert not rejects and meta["listing_pages"] == 1


# ----------------------------------------------------------------------------- the scraper pod


def run_context(image: str | None) -> SimpleNamespace:
    """What the K8s run launcher hands a run: its code origin, with the code location's image."""
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

    repository = RepositoryPythonOrigin(executable_path="python", code_pointer=ModuleCodePointer(
        "realestate_assets.definitions", "defs", working_directory="/app"), container_image=image)
    return SimpleNamespace(run=SimpleNamespace(job_code_origin=JobPythonOrigin("__ASSET_JOB", repository)),
                           run_id="0123abcd-0000-0000-0000-000000000000")


def pod_body(scraper: ScraperResource, context) -> object:
    """The pod PipesK8sClient would create, built by dagster-k8s's own code."""
    from dagster_k8s.pipes import build_pod_body

    args = scraper.pod_args(context, ["-m", "realestate_assets.discovery.listing.run", "--help"])
    body = build_pod_body(pod_name="dagster-pipes-test", image=args["image"], command=args["command"],
                          env_vars={"DAGSTER_PIPES_CONTEXT": "x"}, base_pod_meta=args["base_pod_meta"],
                          base_pod_spec=args["base_pod_spec"])
    return args, body


def test_scraper_pod_runs_the_run_image_under_tini_in_the_runs_namespace():
    args, body = pod_body(ScraperResource(mode="k8s", output_bucket="b"), run_context("reg.example/reos:1.2.3"))
    container = body.spec.containers[0]
    assert container.image == "reg.example/reos:1.2.3"  # not the base pod's placeholder
    assert container.command[:4] == [TINI, "--", "python", "-m"]
    assert args["namespace"] is None and body.metadata.namespace is None  # dagster-k8s: the run's namespace
    assert body.spec.service_account_name == "reos-scraper" and body.spec.restart_policy == "Never"
    env = [(e["name"], e["value"]) if isinstance(e, dict) else (e.name, e.value) for e in container.env]
    assert ("DAGSTER_PIPES_CONTEXT", "x") in env
    assert TINI in (Path(__file__).parents[2] / "deploy" / "docker" / "Dockerfile").read_text()


def test_scraper_pod_image_and_namespace_from_resource_config():
    scraper = ScraperResource(mode="k8s", output_bucket="b", image="reg.example/reos:pinned", namespace="scrapers")
    args, body = pod_body(scraper, run_context("reg.example/reos:run"))
    assert body.spec.containers[0].image == "reg.example/reos:pinned" and args["namespace"] == "scrapers"


def test_scraper_pod_without_an_image_fails_loudly(listing_site, site_source):
    with pytest.raises(ScraperConfigError, match="has no image"):
        ScraperResource(mode="k8s", output_bucket="b").pod_args(run_context(None), ["-m", "x"])
    # Through a real run: the error fails the step; it is not turned into a "crawl failed" reject.
    with pytest.raises(ScraperConfigError, match="has no image"):
        crawl(site_source(listing_site.url), ScraperResource(mode="k8s", output_bucket="b"))


def test_crawl_output_through_an_s3_bucket_as_a_scraper_pod_writes_it(listing_site, detail_source, monkeypatch):
    """The production exchange: the crawl's FEEDS write to the bucket, the asset reads them back
    (moto's S3 server, path-style like MinIO; the crawl process gets credentials as a pod would)."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://localhost:{port}"
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="reos-scrapes")
        rows, rejects, meta = split(crawl(detail_source(listing_site.url),
                                          ScraperResource(output_bucket="reos-scrapes", s3_endpoint_url=endpoint)))
        assert len(rows) == 3 and len(rejects) == 2 and meta["listing_robots_skipped"] == 2
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reos-scrapes")["Contents"])
        assert [k.rsplit("/", 1)[-1] for k in keys] == ["items.jsonl", "rejects.jsonl"]
        assert keys[0].startswith("scrapes/test_co/detail_site/")
    finally:
        server.stop()
