"""Discovery assets end to end: a bulk file and a listing site crawled through Dagster Pipes,
merged into one prospect per property, on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import Deployment, build_definitions
from tests.local_http import base_url, listing_page_site
from tests.samples import write_sample_config


def listing(path: str, address: str, lat: float, lon: float, price: int) -> dict:
    return {"@context": "https://schema.org", "@type": "RealEstateListing", "url": path,
            "datePosted": "2016-11-01", "offers": {"@type": "Offer", "price": price},
            "mainEntity": {"@type": "SingleFamilyResidence", "numberOfBedrooms": 3,
                           "address": {"@type": "PostalAddress", "streetAddress": address,
                                       "addressLocality": "Seattle", "addressRegion": "WA",
                                       "postalCode": "98122"},
                           "geo": {"@type": "GeoCoordinates", "latitude": lat, "longitude": lon}}}


@pytest.fixture
def site_and_config(make_deployment, tmp_path: Path) -> Iterator[tuple[Deployment, pd.Series]]:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=60)
    sample = pd.read_csv(tmp_path / "data" / "king_wa_sample.csv", dtype=str).iloc[0]
    lat, lon = float(sample["latitude"]), float(sample["longitude"])
    documents = [
        listing("/homes/same-house", "1420 E Pine St", lat, lon, 725_000),  # the parcel's own house
        listing("/homes/new-house", "77 Lakeview Blvd E", 47.640, -122.320, 980_000),  # not in the file
        {"@type": "House", "url": "/homes/no-address", "numberOfBedrooms": 2},  # invalid: no address
    ]
    server = listing_page_site(documents)
    county_file = config / "counties" / "king_wa.yaml"
    county = yaml.safe_load(county_file.read_text())
    county["quality"] = {"max_reject_rate": 0.5}
    county["sources"].append({
        "name": "test_site", "type": "listing_site", "provides": "listings",
        "start_urls": [f"{base_url(server)}/listings"],
        "rate_limit": {"requests_per_second": 50, "concurrency": 4}})
    county_file.write_text(yaml.safe_dump(county))
    yield make_deployment(config), sample
    server.stop()


def discover(deployment: Deployment) -> dg.ExecuteInProcessResult:
    defs = build_definitions(deployment=deployment)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(k) for k in ("sales", "listings", "prospects")})
    return job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral())


def test_bulk_file_and_listing_site_become_one_prospect_per_house(
        site_and_config: tuple[Deployment, pd.Series], database_url: str, tenant: str) -> None:
    config, sample = site_and_config
    result = discover(config)
    assert result.success
    crawl = result.asset_materializations_for_node("listings")[0].metadata
    assert crawl["listing_records"].value == 2 and crawl["listing_pages"].value >= 1  # reported via Pipes
    assert crawl["rejects"].value == 1

    wh = Warehouse(database_url)
    params = {"t": tenant}
    listings = wh.frame("SELECT source_id, list_price FROM listings WHERE county = 'king_wa'", params)
    assert len(listings) == 2
    reasons = wh.frame("SELECT reason FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa' "
                       "AND asset = 'listings'", params)["reason"]
    assert len(reasons) == 1 and "address" in reasons.iloc[0]

    prospects = wh.frame("SELECT prospect_key, parcel_id, list_price, sources, address FROM prospects "
                         "WHERE county = 'king_wa'", params).set_index("prospect_key")
    parcels = wh.scalar("SELECT count(DISTINCT parcel_id) FROM sales WHERE county = 'king_wa'", params)
    assert len(prospects) == parcels + 1  # the matched listing adds no prospect; the new house does
    parcel_id = sample["pinx"].strip(".")
    same = prospects.loc[parcel_id]
    assert same["list_price"] == 725_000 and sorted(same["sources"]) == ["kc_assessor_sales", "test_site"]
    assert same["address"].startswith("1420 E Pine")
    new = prospects[prospects["parcel_id"].isna()]
    assert len(new) == 1 and new["list_price"].iloc[0] == 980_000
    links = wh.frame("SELECT source, matched_on FROM prospect_sources WHERE county = 'king_wa' "
                     "AND prospect_key = :k", {**params, "k": parcel_id})
    assert set(links["source"]) == {"kc_assessor_sales", "test_site"}

    again = discover(config)
    assert again.success
    assert wh.scalar("SELECT count(*) FROM prospects WHERE county = 'king_wa'", params) == len(prospects)
    assert wh.scalar("SELECT count(*) FROM listings WHERE county = 'king_wa'", params) == 2
    assert wh.scalar("SELECT count(*) FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa' "
                     "AND asset = 'listings'", params) == 1
    wh.dispose()


def test_county_with_every_source_disabled_is_inactive_not_green(make_deployment, tmp_path: Path) -> None:
    """sales, listings and assessor_roll record the county as inactive and warn; active counties pass."""
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=20)
    county_file = config / "counties" / "king_wa.yaml"
    county = yaml.safe_load(county_file.read_text())
    county["sources"] = [{**source, "enabled": False} for source in county["sources"]]
    county_file.write_text(yaml.safe_dump(county))
    defs = build_definitions(deployment=make_deployment(config))
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(k) for k in ("sales", "listings", "assessor_roll")})
    result = job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral())
    assert result.success  # a warning, not an error: nothing downstream is held back by it
    inactive = {e.asset_check_evaluation_data.asset_key.to_user_string(): e.asset_check_evaluation_data
                for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and e.asset_check_evaluation_data.check_name == "county_active"}
    assert set(inactive) == {"sales", "listings", "assessor_roll"}
    for evaluation in inactive.values():
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.description.startswith("king_wa: inactive — every source is disabled")
    for asset in ("sales", "listings", "assessor_roll"):
        metadata = result.asset_materializations_for_node(asset)[0].metadata
        assert metadata["county_active"].value is False
        assert metadata["dagster/row_count"].value == 0


def test_active_county_passes_county_active(site_and_config: tuple[Deployment, pd.Series]) -> None:
    result = discover(site_and_config[0])
    evaluations = [e.asset_check_evaluation_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"
                   and e.asset_check_evaluation_data.check_name == "county_active"]
    assert {e.asset_key.to_user_string() for e in evaluations} == {"sales", "listings"}
    assert all(e.passed for e in evaluations)
    assert result.asset_materializations_for_node("sales")[0].metadata["county_active"].value is True


@pytest.mark.parametrize("rows", [
    [("a", "1", "p"), ("a", "2", "p"), ("b", "1", "")],  # complete keys (unique: the write refuses repeats)
    [("a", None, "p"), ("a", None, "p"), ("b", "1", None)],  # NULL parts repeat under a unique index
    [(None, None, "p"), (None, None, "p"), ("a", None, "p")],
    [],
])
def test_source_audit_counts_keys_as_count_distinct_does(database_url: str, rows: list[tuple]) -> None:
    """The key check's figures are those of count(DISTINCT (keys)) over the staged rows; the sort
    is skipped only when every key is complete, where the stage's unique index makes them equal."""
    from types import SimpleNamespace

    from realestate_assets.assets.discovery import source_audit
    from realestate_assets.discovery.collect import Collected

    county = SimpleNamespace(quality=SimpleNamespace(max_reject_rate=0.5))
    audit = source_audit("sale_keys_present_and_unique", ["source", "sale_id"], Collected(rows=pd.DataFrame()),
                         county, required="parcel_id")  # type: ignore[arg-type]
    with Warehouse(database_url).transaction() as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE _stage (source text, sale_id text, parcel_id text) ON COMMIT DROP")
        cur.execute("CREATE UNIQUE INDEX ON _stage (source, sale_id)")
        for row in rows:
            cur.execute("INSERT INTO _stage VALUES (%s, %s, %s)", row)
        cur.execute("SELECT count(*), count(DISTINCT (source, sale_id)), "
                    "count(*) FILTER (WHERE parcel_id IS NULL OR parcel_id = '') FROM _stage")
        n, distinct, without = cur.fetchone()
        keys = audit(conn, "_stage")[0]
    assert keys.description == f"{n} rows, {distinct} distinct keys, {without} without parcel_id"
    assert keys.passed == (n == distinct and without == 0)
