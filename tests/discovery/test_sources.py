"""`iter_source` dispatches on the source type; a listing source crawls in a child process."""

from __future__ import annotations

from realestate_assets.config_models import ArcGISSource, ListingSiteSource, SocrataSource
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import LISTING_FIELDS, LISTING_REQUIRED, iter_source
from realestate_assets.discovery.validate import canonicalize


def test_dispatch_socrata_and_arcgis(socrata_server, arcgis_server):
    soda = SocrataSource(type="socrata", name="s", domain=socrata_server.url, dataset="abcd-1234", page_size=100)
    assert sum(len(p.frame) for p in iter_source(soda) if isinstance(p, Page)) == 25
    layer = ArcGISSource(type="arcgis", name="a", url=f"{arcgis_server.url}/rest/services/P/MapServer/0")
    assert sum(len(p.frame) for p in iter_source(layer) if isinstance(p, Page)) == 7


def test_listing_source_through_iter_source(listing_site, tmp_path, pages):
    source = ListingSiteSource(type="listing_site", name="cards", provides="listings",
                               rate_limit={"requests_per_second": 50, "concurrency": 2},
                               start_urls=[f"{listing_site.url}/selectors.html"], item_selector=".card",
                               selectors=pages.SELECTORS)
    results = list(iter_source(source, work_dir=tmp_path))
    pages = [r for r in results if isinstance(r, Page)]
    rejects = [r for r in results if isinstance(r, Reject)]
    assert len(pages) == 1 and pages[0].frame["source_id"].tolist() == ["sel-1"]
    assert len(rejects) == 1 and "list_price: not a number" in rejects[0].reason
    rows = canonicalize(pages[0], {k: v for k, v in source.model_copy(
        update={"fields": LISTING_FIELDS}).field_map().items()}, required=LISTING_REQUIRED).rows
    assert rows.loc[0, "address"] == "12 Oak Avenue" and rows.loc[0, "beds"] == 3


def test_unreachable_listing_site_is_a_reject_not_a_crash(tmp_path):
    source = ListingSiteSource(type="listing_site", name="nowhere", rate_limit={"requests_per_second": 50},
                               start_urls=["http://127.0.0.1:9/listings"])
    results = list(iter_source(source, work_dir=tmp_path))
    assert results and all(isinstance(r, Reject) for r in results)
    assert any("download failed" in r.reason for r in results)
