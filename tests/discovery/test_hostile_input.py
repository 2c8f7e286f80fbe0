"""One field can never cost a partition (issue #14, item 1).

Hostile values through the real readers (bulk CSV, the Socrata and ArcGIS fakes, the listing
extractor) and through the `sales` asset into PostgreSQL: each bad row becomes a reject with its
reason, or a counted cleaning warning, and every other row loads.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from realestate_assets.config_models import ArcGISSource, BulkFileSource, CountyConfig, SocrataSource
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import build_definitions
from realestate_assets.discovery.collect import collect_sales
from realestate_assets.discovery.listing.items import validate_candidate
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import iter_source
from realestate_assets.discovery.validate import TEXT_LIMITS, canonicalize
from tests.local_http import base_url, listing_page_site
from tests.samples import write_sample_config

HEADER = "pinx,sale_id,sale_price,sale_date,address,longitude,latitude"
FIELDS = {"parcel_id": "pinx", "sale_id": "sale_id", "sale_price": "sale_price", "sale_date": "sale_date",
          "address": "address", "longitude": "longitude", "latitude": "latitude"}
HUGE_ID = "9" * 120_000
MEGABYTE = "x" * 1_000_000


def good(i: int) -> str:
    return f"P{i},S{i},300000,2015-01-01,{i} Main St,-122.3,47.6"


def hostile_csv(path: Path) -> dict[str, int]:
    """Good rows around hostile ones; returns the physical line of each hostile row by name."""
    lines: list[bytes] = [HEADER.encode()]
    at: dict[str, int] = {}

    def add(name: str | None, text: bytes) -> None:
        if name:
            at[name] = len(lines) + 1 + sum(line.count(b"\n") for line in lines)
        lines.append(text)

    add(None, good(1).encode())
    add("megabyte_cell", f'P2,S2,300000,2015-01-01,"{MEGABYTE}",-122.3,47.6'.encode())
    add(None, good(3).encode())
    add("too_few", b"P4,S4,300000")
    add("too_many", b"P5,S5,300000,2015-01-01,5 Main St,-122.3,47.6,extra,fields")
    add("huge_parcel", f"{HUGE_ID},S6,300000,2015-01-01,6 Main St,-122.3,47.6".encode())
    add("nul_in_key", b"P7,S7\x00,300000,2015-01-01,7 Main St,-122.3,47.6")
    add("nul_in_text", b"P8,S8,300000,2015-01-01,8 Main\x00 St,-122.3,47.6")
    add("crlf_in_text", b'P9,S9,300000,2015-01-01,"9 Main St\r\nSeattle",-122.3,47.6')
    add("crlf_in_key", b'"P10\r\n0",S10,300000,2015-01-01,10 Main St,-122.3,47.6')
    add("bad_utf8", b"P11,S11,300000,2015-01-01,11 Pe\xf1asco \xff,-122.3,47.6")
    add(None, good(12).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return at


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[BulkFileSource, dict[str, int]]:
    at = hostile_csv(tmp_path / "sales.csv")
    return BulkFileSource(type="bulk_file", name="bulk", path=str(tmp_path / "sales.csv"), chunk_rows=100,
                          fields=FIELDS), at


def test_bulk_file_refs_name_one_line_even_in_a_chunk_with_broken_lines(hostile):
    source, at = hostile
    results = list(iter_source(source))
    pages = [r for r in results if isinstance(r, Page)]
    malformed = {r.ref: r.reason for r in results if isinstance(r, Reject)}
    assert malformed == {
        f"{source.path}:{at['too_few']}": "malformed line: 3 fields where the header has 7",
        f"{source.path}:{at['too_many']}": "malformed line: 9 fields where the header has 7",
    }
    refs = [ref for page in pages for ref in page.refs]
    frame = pd.concat([p.frame for p in pages], ignore_index=True)
    # Every ref is one physical line (a quoted line break moves the next rows' numbers on).
    assert refs[frame.index[frame["sale_id"] == "S12"][0]] == f"{source.path}:{at['bad_utf8'] + 1}"
    assert refs[frame.index[frame["sale_id"] == "S9"][0]] == f"{source.path}:{at['crlf_in_text']}"
    assert all(ref.rsplit(":", 1)[1].isdigit() for ref in refs)


def test_hostile_cells_reject_one_row_each_or_are_cleaned_with_a_count(hostile):
    source, at = hostile
    county = CountyConfig.model_validate({
        "key": "test_wa", "bounding_box": {"min_latitude": 47, "max_latitude": 48, "min_longitude": -123,
                                           "max_longitude": -122},
        "name": "Test", "state": "WA", "state_fips": "53", "county_fips": "033",
        "sources": [source.model_dump() | {"provides": "sales", "enabled": True}]})
    collected = collect_sales(county)
    by_ref = {r.ref: r.reason for r in collected.rejects}
    line = lambda name: f"{source.path}:{at[name]}"  # noqa: E731
    assert by_ref[line("megabyte_cell")] == f"address: longer than {TEXT_LIMITS['address']} characters"
    assert by_ref[line("huge_parcel")] == f"parcel_id: longer than {TEXT_LIMITS['parcel_id']} characters"
    assert by_ref[line("nul_in_key")] == "sale_id: contains control characters"
    assert by_ref[line("crlf_in_key")] == "parcel_id: contains control characters"
    assert len(collected.rejects) == 6  # those four and the two malformed lines
    loaded = collected.rows.set_index("sale_id")
    assert sorted(loaded.index) == ["S1", "S11", "S12", "S3", "S8", "S9"]
    assert loaded.loc["S8", "address"] == "8 Main St"
    assert loaded.loc["S9", "address"] == "9 Main St Seattle"
    assert loaded.loc["S11", "address"] == "11 Pe\ufffdasco \ufffd"
    assert dict(collected.cleaned) == {"address: NUL removed": 1, "address: line breaks or control "
                                       "characters replaced by spaces": 1,
                                       "address: undecodable bytes replaced (U+FFFD)": 1}
    # A rejected row's raw payload is kept, capped so one cell cannot bloat the rejects table.
    megabyte = next(r for r in collected.rejects if r.ref == line("megabyte_cell"))
    assert len(megabyte.raw["address"]) < 20_000 and megabyte.raw["address"].endswith("characters]")


def test_every_key_and_indexed_text_field_has_a_limit():
    # sales/listings/assessor keys and the columns prospects are indexed or matched on
    for name in ("parcel_id", "sale_id", "source_id", "address", "city", "state", "zip", "unit"):
        assert TEXT_LIMITS[name] <= 2000  # far under PostgreSQL's ~2700-byte btree entry limit


def test_socrata_and_arcgis_hostile_rows_reject_alone(socrata_server, arcgis_server):
    socrata = SocrataSource(type="socrata", name="soda", domain=socrata_server.url, dataset="hstl-0001",
                            page_size=1000, fields={"parcel_id": "pin", "sale_id": ":id", "address": "addr"})
    arcgis = ArcGISSource(type="arcgis", name="esri", url=f"{arcgis_server.url}/hostile/FeatureServer/0",
                          fields={"parcel_id": "PIN", "sale_id": "OBJECTID", "address": "ADDR"})
    for source in (socrata, arcgis):
        pages = [p for p in iter_source(source) if isinstance(p, Page)]
        assert pages, source.name
        results = [canonicalize(p, source.field_map(), required=("parcel_id", "sale_id")) for p in pages]
        rows = pd.concat([r.rows for r in results], ignore_index=True)
        rejects = [j for r in results for j in r.rejects]
        assert sorted(rows["parcel_id"]) == ["A1", "A3"], source.name
        assert sorted(j.reason for j in rejects) == [
            "parcel_id: contains control characters",
            f"parcel_id: longer than {TEXT_LIMITS['parcel_id']} characters"], source.name
        assert all("," not in j.ref.rsplit("#", 1)[-1] for j in rejects)
        cleaned = sum((r.cleaned for r in results), Counter())
        assert cleaned == Counter({"address: NUL removed": 1}), source.name


def test_listing_extractor_rejects_a_huge_id_and_never_keeps_nul():
    base = {"address": "1 Main St, Seattle, WA 98101", "url": "http://site.test/a"}
    item, reason = validate_candidate({**base, "site_id": HUGE_ID}, "http://site.test/l", "jsonld")
    assert item is None and reason.startswith("source_id: longer than")
    item, reason = validate_candidate({**base, "site_id": "A\x00B", "description": MEGABYTE + "\x00"},
                                      "http://site.test/l", "jsonld")
    assert reason is None and item.source_id == "A B" and "\x00" not in item.description
    assert len(item.description) <= TEXT_LIMITS["description"] + 1


def test_sales_asset_loads_good_rows_and_rejects_hostile_ones(make_deployment, tmp_path: Path,
                                                               database_url: str, tenant: str) -> None:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=40)
    csv_path = tmp_path / "data" / "king_wa_sample.csv"
    sample = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    hostile = sample.iloc[:5].copy()
    hostile["sale_id"] = [f"hostile..{i}" for i in range(5)]
    hostile.iloc[0, hostile.columns.get_loc("pinx")] = HUGE_ID
    hostile.iloc[1, hostile.columns.get_loc("sale_id")] = "hostile\x00..1"
    hostile.iloc[2, hostile.columns.get_loc("pinx")] = "..12\r\n34"
    hostile.iloc[3, hostile.columns.get_loc("area")] = MEGABYTE
    hostile.iloc[4, hostile.columns.get_loc("use_type")] = "Single\x00Family"
    pd.concat([sample, hostile]).to_csv(csv_path, index=False)
    county_file = config / "counties" / "king_wa.yaml"
    county = yaml.safe_load(county_file.read_text())
    county["quality"] = {"max_reject_rate": 0.5}
    county_file.write_text(yaml.safe_dump(county))

    defs = build_definitions(deployment=make_deployment(config))
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey("sales")})
    result = job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral())
    assert result.success
    metadata = result.asset_materializations_for_node("sales")[0].metadata
    assert metadata["cleaned_values"].value == {"use_type: NUL removed": 1}

    wh = Warehouse(database_url)
    params = {"t": tenant}
    loaded = wh.frame("SELECT sale_id, use_type FROM sales WHERE county = 'king_wa'", params)
    assert len(loaded) == len(sample) + 1
    assert loaded.set_index("sale_id").loc["hostile..4", "use_type"] == "SingleFamily"
    rejects = wh.frame("SELECT source_ref, reason FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa' "
                       "AND asset = 'sales'",
                       params)
    assert sorted(rejects["reason"]) == sorted([
        f"parcel_id: longer than {TEXT_LIMITS['parcel_id']} characters",
        "sale_id: contains control characters",
        "parcel_id: contains control characters",
        f"neighborhood: longer than {TEXT_LIMITS['neighborhood']} characters"])
    assert all(":" in ref and ref.rsplit(":", 1)[1].isdigit() for ref in rejects["source_ref"])
    wh.dispose()


def jsonld(path: str, address: str, **extra: object) -> dict:
    return {"@context": "https://schema.org", "@type": "RealEstateListing", "url": path,
            "datePosted": "2016-11-01", "offers": {"@type": "Offer", "price": 500_000},
            "mainEntity": {"@type": "SingleFamilyResidence", "numberOfBedrooms": 3,
                           "address": {"@type": "PostalAddress", "streetAddress": address,
                                       "addressLocality": "Seattle", "addressRegion": "WA",
                                       "postalCode": "98122"},
                           "geo": {"@type": "GeoCoordinates", "latitude": 47.61, "longitude": -122.31}},
            **extra}


def test_listings_asset_loads_good_listings_and_rejects_hostile_ones(make_deployment, tmp_path: Path,
                                                                     database_url: str, tenant: str) -> None:
    documents = [
        jsonld("/homes/good", "1 Good St"),
        jsonld("/homes/huge-id", "2 Huge Id St", identifier=HUGE_ID),
        jsonld("/homes/nul", "3 Nul\x00 St\r\nUnit 4", description=MEGABYTE + "\x00 end"),
    ]
    server = listing_page_site(documents)
    try:
        config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=5)
        county_file = config / "counties" / "king_wa.yaml"
        county = yaml.safe_load(county_file.read_text())
        county["quality"] = {"max_reject_rate": 0.5}
        county["sources"].append({"name": "test_site", "type": "listing_site", "provides": "listings",
                                  "start_urls": [f"{base_url(server)}/listings"],
                                  "rate_limit": {"requests_per_second": 50, "concurrency": 4}})
        county_file.write_text(yaml.safe_dump(county))
        defs = build_definitions(deployment=make_deployment(config))
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey("listings")})
        result = job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral())
    finally:
        server.stop()
    assert result.success
    wh = Warehouse(database_url)
    params = {"t": tenant}
    loaded = wh.frame("SELECT address, description FROM listings WHERE county = 'king_wa' ORDER BY address", params)
    assert list(loaded["address"]) == ["1 Good St", "3 Nul St Unit 4"]
    description = loaded["description"].iloc[1]
    assert len(description) == TEXT_LIMITS["description"] and description.endswith("…")
    reasons = wh.frame("SELECT reason FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa' "
                       "AND asset = 'listings'", params)["reason"]
    assert list(reasons) == [f"source_id: longer than {TEXT_LIMITS['source_id']} characters"]
    wh.dispose()
