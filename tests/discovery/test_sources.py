"""`iter_source` dispatches on the source type; listing sites are crawled through Pipes instead."""

from __future__ import annotations

import pytest

from realestate_assets.config_models import ArcGISSource, ListingSiteSource, SocrataSource
from realestate_assets.discovery.records import Page
from realestate_assets.discovery.sources import iter_source


def test_dispatch_socrata_and_arcgis(socrata_server, arcgis_server):
    soda = SocrataSource(type="socrata", name="s", domain=socrata_server.url, dataset="abcd-1234", page_size=100)
    assert sum(len(p.frame) for p in iter_source(soda) if isinstance(p, Page)) == 25
    layer = ArcGISSource(type="arcgis", name="a", url=f"{arcgis_server.url}/rest/services/P/MapServer/0")
    assert sum(len(p.frame) for p in iter_source(layer) if isinstance(p, Page)) == 7


def test_listing_sources_are_not_read_here():
    """A crawl runs one way, through Dagster Pipes (tests/discovery/test_listing.py)."""
    source = ListingSiteSource(type="listing_site", name="cards", start_urls=["http://127.0.0.1:9/"])
    with pytest.raises(TypeError, match="crawled by the scraper resource"):
        list(iter_source(source))
