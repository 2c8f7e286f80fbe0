"""Socrata and ArcGIS adapters against local servers."""

from __future__ import annotations

import pandas as pd
import pytest

from realestate_assets.config_models import ArcGISSource, SocrataSource
from realestate_assets.discovery.arcgis import geometry_point, read_arcgis, ring_centroid
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.validate import canonicalize
from realestate_assets.net import RetryPolicy, parse_retry_after

FAST = RetryPolicy(attempts=4, initial_wait_s=0.01, max_wait_s=0.05, timeout_s=5)


def socrata(url: str, dataset: str, **kw) -> SocrataSource:
    return SocrataSource(type="socrata", name="sales", domain=url, dataset=dataset, page_size=10, **kw)


def split(results):
    pages = [r for r in results if isinstance(r, Page)]
    rejects = [r for r in results if isinstance(r, Reject)]
    return pages, rejects


def test_socrata_pages_with_order_token_and_429_burst(socrata_server, monkeypatch):
    from realestate_assets.discovery.socrata import read_socrata

    source = socrata(socrata_server.url, "busy-0001", app_token_env="TEST_SODA_TOKEN")
    pages, rejects = split(list(read_socrata(source, policy=FAST, app_token="tok-123")))
    assert rejects == []
    assert [len(p.frame) for p in pages] == [10, 10, 5]
    frame = pd.concat([p.frame for p in pages], ignore_index=True)
    assert frame[":id"].tolist() == sorted(frame[":id"])  # stable, ordered pages
    assert frame["pin"].is_unique and len(frame) == 25
    assert frame.loc[frame[":id"] == "row-003", "address"].item() == ""  # absent field -> ""
    assert frame.loc[0, "location.longitude"] == "-122.3"
    assert all(isinstance(v, str) for v in frame.iloc[0])
    served = [r for r in socrata_server.requests if r.path.endswith(".json")]
    statuses_before_data = 2  # the 429 burst was retried, honoring Retry-After: 0
    assert len(served) == 3 + statuses_before_data
    assert all(r.query["$order"] == ":id" for r in served)
    assert [r.query["$offset"] for r in served[2:]] == ["0", "10", "20"]
    assert all(r.headers.get("x-app-token") == "tok-123" for r in served)
    assert pages[0].refs[0].endswith("#row-000") and pages[2].refs[-1].endswith("#row-024")  # stable :id
    assert all(r.query["$select"] == ":*, *" for r in served)


def test_socrata_where_no_token_and_canonical_rows(socrata_server, monkeypatch):
    from realestate_assets.discovery.socrata import read_socrata

    monkeypatch.delenv("SOCRATA_APP_TOKEN", raising=False)
    source = socrata(socrata_server.url, "abcd-1234", where="sale_price > 205000",
                     fields={"parcel_id": "pin", "sale_id": ":id", "sale_price": "sale_price",
                             "sale_date": "sale_date", "longitude": "location.longitude",
                             "latitude": "location.latitude"})
    pages, rejects = split(list(read_socrata(source, policy=FAST)))
    assert not rejects
    assert sum(len(p.frame) for p in pages) == 19
    assert all("x-app-token" not in r.headers for r in socrata_server.requests)
    assert all(r.query["$where"] == "sale_price > 205000" for r in socrata_server.requests)
    result = canonicalize(pages[0], source.field_map())
    assert len(result.rows) == 10 and not result.rejects
    assert result.rows["sale_price"].min() > 205_000


def test_socrata_malformed_page_is_rejected_and_paging_goes_on(socrata_server):
    from realestate_assets.discovery.socrata import read_socrata

    pages, rejects = split(list(read_socrata(socrata(socrata_server.url, "bad0-0001"), policy=FAST)))
    assert [len(p.frame) for p in pages] == [10, 5]
    assert len(rejects) == 1
    assert "malformed answer" in rejects[0].reason
    assert "Gateway hiccup" in rejects[0].raw
    assert "$offset=10" in rejects[0].ref


def test_socrata_persistent_5xx_gives_up_with_a_reject(socrata_server):
    from realestate_assets.discovery.socrata import read_socrata

    results = list(read_socrata(socrata(socrata_server.url, "down-0001"), policy=FAST))
    assert len(results) == 1 and isinstance(results[0], Reject)
    assert "HTTP 503" in results[0].reason and "stopped paging" in results[0].reason
    assert len(socrata_server.requests) == FAST.attempts


def test_socrata_quota_longer_than_we_wait_gives_up_at_once(socrata_server):
    from realestate_assets.discovery.socrata import read_socrata

    results = list(read_socrata(socrata(socrata_server.url, "qota-0001"), policy=FAST))
    assert len(results) == 1 and isinstance(results[0], Reject)
    assert "gave up at once" in results[0].reason and "3600s" in results[0].reason
    assert len(socrata_server.requests) == 1  # not retried, and no hour-long sleep


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def arcgis(url: str, layer: int) -> ArcGISSource:
    return ArcGISSource(type="arcgis", name="parcels", url=f"{url}/arcgis/rest/services/Parcels/FeatureServer/{layer}",
                        page_size=5, fields={"parcel_id": "PARCEL_ID", "address": "SITE_ADDR",
                                             "latitude": "latitude", "longitude": "longitude"})


def test_arcgis_paging_geometry_and_transfer_limit(arcgis_server):
    pages, rejects = split(list(read_arcgis(arcgis(arcgis_server.url, 0), policy=FAST)))
    assert not rejects
    assert [len(p.frame) for p in pages] == [3, 3, 1]  # the server's maxRecordCount, not page_size
    offsets = [r.query["resultOffset"] for r in arcgis_server.requests]
    assert offsets == ["0", "3", "6"]
    query = arcgis_server.requests[0].query
    assert query["returnGeometry"] == "true" and query["outFields"] == "*" and query["where"] == "1=1"
    frame = pd.concat([p.frame for p in pages], ignore_index=True)
    assert frame["PARCEL_ID"].tolist() == [f"P-{i:04d}" for i in range(7)]
    assert frame.loc[0, "NULLED"] == ""
    # point
    assert float(frame.loc[0, "longitude"]) == pytest.approx(-122.30)
    # polygon -> centroid of the square ring
    assert float(frame.loc[1, "longitude"]) == pytest.approx(-122.30 + 0.001 + 0.0005)
    assert float(frame.loc[1, "latitude"]) == pytest.approx(47.6005)
    rows = canonicalize(pages[0], arcgis(arcgis_server.url, 0).field_map(), required=("parcel_id",)).rows
    assert rows["latitude"].notna().all()


def test_arcgis_error_envelope_is_a_reject(arcgis_server):
    results = list(read_arcgis(arcgis(arcgis_server.url, 1), policy=FAST))
    assert len(results) == 1 and isinstance(results[0], Reject)
    assert "ArcGIS error 400" in results[0].reason and "Invalid where clause" in results[0].reason
    assert '"error"' in results[0].raw


def test_arcgis_transient_envelope_is_retried(arcgis_server):
    pages, rejects = split(list(read_arcgis(arcgis(arcgis_server.url, 2), policy=FAST)))
    assert not rejects and sum(len(p.frame) for p in pages) == 7


def test_geometry_shapes():
    # a square with a square hole: the centroid stays in the middle
    outer = [[0, 0], [0, 4], [4, 4], [4, 0], [0, 0]]  # clockwise (ESRI outer ring)
    hole = [[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]  # counter-clockwise (ESRI hole)
    x, y = ring_centroid([outer, hole])
    assert x == pytest.approx((16 * 2 - 1 * 1.5) / 15) and y == pytest.approx((16 * 2 - 1 * 1.5) / 15)
    assert geometry_point({"points": [[0, 0], [2, 2]]}) == (1.0, 1.0)
    assert geometry_point({"paths": [[[0, 0], [4, 0]]]}) == (2.0, 0.0)
    assert geometry_point({"x": None, "y": None}) is None
    assert geometry_point("garbage") is None
    assert geometry_point({"rings": [[[0, 0], [1, 1]]]}) is None
