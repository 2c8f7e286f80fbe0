"""bulk_file in chunks, address normalization, and one prospect per property across sources."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from realestate_assets.config_models import BulkFileSource, SocrataSource
from realestate_assets.discovery.addresses import normalize_address, normalize_addresses, normalize_state
from realestate_assets.discovery.matching import match_prospects, normalize_parcel_ids
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import iter_source
from realestate_assets.discovery.validate import canonicalize

HEADER = "pinx,sale_id,sale_price,sale_date,address,longitude,latitude"


def test_bulk_file_zip_non_utf8_malformed_line_in_chunks(tmp_path):
    lines = [HEADER]
    for i in range(250):
        lines.append(f"..{i:010d},2015..{i},{300000 + i},2015-03-{1 + i % 28:02d},"
                     f"{i} Peñasco Way,-122.3,47.6")
    lines.insert(120, "..broken,row,with,too,many,fields,here,and,more")
    data = ("\n".join(lines) + "\n").encode("cp1252")
    archive = tmp_path / "sales.csv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("sales.csv", data)
    source = BulkFileSource(type="bulk_file", name="bulk", path=str(archive), format="csv.zip",
                            encoding="cp1252", chunk_rows=100,
                            fields={"parcel_id": "pinx", "sale_id": "sale_id", "sale_price": "sale_price",
                                    "sale_date": "sale_date", "address": "address",
                                    "longitude": "longitude", "latitude": "latitude"})
    results = list(iter_source(source))
    pages = [r for r in results if isinstance(r, Page)]
    rejects = [r for r in results if isinstance(r, Reject)]
    # chunks of 100 good rows: the broken line is a reject, not a row
    assert len(pages) == 3 and sum(len(p.frame) for p in pages) == 250
    assert len(rejects) == 1 and "malformed line: 9 fields" in rejects[0].reason
    assert pages[0].frame.loc[0, "address"] == "0 Peñasco Way"  # decoded as the config says
    rows = pd.concat([canonicalize(p, source.field_map()).rows for p in pages])
    assert len(rows) == 250 and rows["sale_price"].min() == 300000


def test_bulk_file_wrong_encoding_is_replaced_not_fatal(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_bytes((HEADER + "\n..1,1,300000,2015-01-01,8 Pe\xf1asco,-122.3,47.6\n").encode("latin-1"))
    source = BulkFileSource(type="bulk_file", name="bulk", path=str(path))
    pages = [r for r in iter_source(source) if isinstance(r, Page)]
    assert pages[0].frame.loc[0, "address"] == "8 Pe\ufffdasco"


@pytest.mark.parametrize(("text", "street", "unit", "zip_code"), [
    ("123 North Main Street Apt 4B, Seattle, WA 98101", "123 N MAIN ST", "4B", "98101"),
    ("123 N. Main St. #4b Seattle Washington 98101-1234", "123 N MAIN ST", "4B", "98101"),
    ("1600 Pennsylvania Avenue Northwest, Washington DC 20500", "1600 PENNSYLVANIA AVE NW", None, "20500"),
    ("500 Pine Boulevard Suite 200", "500 PINE BLVD", "200", None),
])
def test_normalize_address(text, street, unit, zip_code):
    parsed = normalize_address(text)
    assert (parsed.street, parsed.unit, parsed.zip) == (street, unit, zip_code)


@pytest.mark.parametrize("text", [None, "", "   ", "Main St & 3rd Ave", "4 5 6 7 street street",
                                  "<script>alert(1)</script>", "\x00\xff" * 300, "PO Box 12 Anytown", 12345,
                                  float("nan")])
def test_normalize_address_never_raises(text):
    parsed = normalize_address(text)
    assert parsed.street is None or parsed.street == parsed.street.upper()


def test_normalize_address_po_box():
    box = normalize_address("PO Box 12, Austin, TX 78701")
    assert (box.po_box, box.street, box.unit, box.city, box.state, box.zip) == (
        "PO BOX 12", None, None, "AUSTIN", "TX", "78701")
    assert box.parsed and box.key is None  # a box is no property: it never matches one
    assert normalize_address("P.O. Box 12 Spokane Washington 99201").po_box == "PO BOX 12"
    given = normalize_address("PO Box 12", state="Texas", zip_code="78701-0012")  # the text lacks them
    assert (given.po_box, given.state, given.zip) == ("PO BOX 12", "TX", "78701")
    street = normalize_address("123 North Main Street Apt 4B, Seattle, WA 98101")
    assert street.po_box is None and street.key == "123 N MAIN ST|4B|98101"
    assert normalize_state("Texas") == normalize_state(" tx ") == "TX" and normalize_state(None) is None


def test_normalize_addresses_vectorized_keeps_index():
    frame = normalize_addresses(pd.Series(["1 Main Street", None, "1 MAIN ST"], index=[10, 11, 12]),
                                zip_code=pd.Series(["98101", None, "98101"], index=[10, 11, 12]))
    assert list(frame.index) == [10, 11, 12]
    assert frame.loc[10, "address_key"] == frame.loc[12, "address_key"] == "1 MAIN ST||98101"
    assert pd.isna(frame.loc[11, "address_key"])


def test_match_prospects_rules():
    records = pd.DataFrame([
        {"source": "a", "source_id": "1", "parcel_id": "..0007600046", "address": "123 North Main Street",
         "zip": "98101", "latitude": 47.6, "longitude": -122.3},
        {"source": "b", "source_id": "x", "parcel_id": "0007600046"},
        {"source": "c", "source_id": "y", "address": "123 N Main St, Seattle WA 98101"},
        {"source": "c", "source_id": "z", "latitude": 47.60002, "longitude": -122.30002},  # ~3 m away
        {"source": "c", "source_id": "far", "latitude": 47.6002, "longitude": -122.3},  # ~22 m away
        # two condo units at one rooftop stay two prospects
        {"source": "d", "source_id": "u1", "address": "500 Pine St Unit 1", "zip": "98101",
         "latitude": 47.61, "longitude": -122.33},
        {"source": "d", "source_id": "u2", "address": "500 Pine St", "unit": "2", "zip": "98101",
         "latitude": 47.61, "longitude": -122.33},
        # different parcels at one address stay apart
        {"source": "e", "source_id": "p1", "parcel_id": "111", "address": "9 Oak Ave", "zip": "98101"},
        {"source": "e", "source_id": "p2", "parcel_id": "222", "address": "9 Oak Ave", "zip": "98101"},
    ])
    result = match_prospects(records)
    keys = dict(zip(records["source_id"], result.keys, strict=True))
    assert keys["1"] == keys["x"] == keys["y"] == keys["z"]
    assert keys["far"] != keys["1"]
    assert keys["u1"] != keys["u2"] and keys["p1"] != keys["p2"]
    assert result.prospects == 6 and result.duplicate_rate == pytest.approx(3 / 9)
    matched = dict(zip(result.links["source_id"], result.links["matched_on"], strict=True))
    assert matched == {"1": "parcel_id", "x": "parcel_id", "y": "address", "z": "coordinates", "far": "none",
                       "u1": "none", "u2": "none", "p1": "none", "p2": "none"}
    # stable: same key when the record order changes or a source drops out
    again = match_prospects(records.iloc[::-1].reset_index(drop=True))
    assert dict(zip(again.links["source_id"], again.links["prospect_key"], strict=True)) == keys
    without_b = match_prospects(records[records["source"] != "b"].reset_index(drop=True))
    assert dict(zip(without_b.links["source_id"], without_b.links["prospect_key"], strict=True))["y"] == keys["1"]


def test_match_prospects_empty_and_parcel_normalization():
    result = match_prospects(pd.DataFrame(columns=["source", "source_id"]))
    assert result.prospects == 0 and result.duplicate_rate == 0.0
    assert normalize_parcel_ids(pd.Series(["..0007-600 046", "", None, "000"])).tolist()[0] == "0007600046"
    assert normalize_parcel_ids(pd.Series(["", None, "000"])).isna().all()


def test_same_house_from_socrata_and_listing_site_is_one_prospect(socrata_server, pages, site_source):
    """Two sources describing 123 North Main Street, Seattle: one prospect, two links."""
    from parsel import Selector

    from realestate_assets.discovery.listing.extract import extract
    from realestate_assets.discovery.listing.items import validate_candidate
    from realestate_assets.discovery.socrata import read_socrata

    sales = SocrataSource(type="socrata", name="county_sales", domain=socrata_server.url, dataset="abcd-1234",
                          page_size=100)
    frame = next(r for r in read_socrata(sales) if isinstance(r, Page)).frame
    county = pd.DataFrame({"source": "county_sales", "source_id": frame[":id"], "parcel_id": frame["pin"],
                           "address": frame["address"], "zip": frame["zip"]})
    listings = [validate_candidate(p, "http://site.test/", how)[0]
                for kind, p, how in extract(Selector(text=pages.PAGE_1.decode()), site_source("http://site.test"),
                                            "http://site.test/") if kind == "candidate"]
    site = pd.DataFrame([{"source": "local_site", "source_id": i.source_id, "address": i.address,
                          "city": i.city, "state": i.state, "zip": i.zip} for i in listings])
    result = match_prospects(pd.concat([county, site], ignore_index=True))
    links = result.links.set_index(["source", "source_id"])["prospect_key"]
    assert links[("county_sales", "row-000")] == links[("local_site", listings[0].source_id)]
    assert result.records == 27 and result.prospects == 26


def test_component_keys_and_sources_by_column_match_the_per_group_rules():
    """`_component_keys` and `_sources_by_code` (issue 17: by column, not a Python call per
    prospect) give what the per-group rules give: the smallest value of the strongest identifier
    any record of the component has, and each prospect's distinct sources sorted."""
    import numpy as np

    from realestate_assets.discovery.collect import _sources_by_code
    from realestate_assets.discovery.matching import _component_keys, _prospect_key, sorted_codes

    rng = np.random.default_rng(3)
    n, count = 2_000, 700
    labels = rng.integers(0, count, n)
    labels[:count] = np.arange(count)  # every component has a record
    columns = {kind: pd.Series([f"{kind}{rng.integers(0, 50)}" if rng.random() < share else None
                                for _ in range(n)], dtype="string")
               for kind, share in (("parcel", 0.2), ("address", 0.3), ("coords", 0.3), ("record", 1.0))}
    identifiers = [(kind, lambda rows, kind=kind: columns[kind].iloc[rows]) for kind in columns]
    expected: dict[int, str] = {}
    for kind, values in columns.items():  # the per-group rules, as match_prospects applied them
        for label in range(count):
            if label not in expected:
                present = [v for v in values[labels == label] if v is not pd.NA]
                if present:
                    expected[label] = _prospect_key(kind, min(present))
    assert _component_keys(labels, count, identifiers).tolist() == [expected[label] for label in labels]

    for names in (["b", "a", "c"], [f"s{i:03d}" for i in range(70)]):  # a few sources, and more than a mask
        records = pd.DataFrame({"prospect_key": [f"k{i % 300}" for i in range(n)],
                                "source": rng.choice(names, n)})
        codes, keys = sorted_codes(records["prospect_key"].to_numpy(dtype=object))
        by_code = _sources_by_code(codes, len(keys), records["source"])
        by_group = records.drop_duplicates().sort_values("source").groupby("prospect_key")["source"].agg(list)
        assert keys.tolist() == by_group.index.tolist() and by_code.tolist() == by_group.tolist()
        if len(names) <= 62:  # prospects with the same sources share one list (copy_io encodes it once)
            assert len({id(v) for v in by_code}) == len({tuple(v) for v in by_code})
