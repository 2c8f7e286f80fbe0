"""The links' `source_ref` taken by position equals the left merge it replaces (issue 17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from realestate_assets.discovery.collect import _with_refs, match_sources
from realestate_assets.discovery.matching import match_prospects


def _merged(links: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    return links.merge(records[["source", "source_id", "source_ref"]].astype({"source_id": str}),
                       on=["source", "source_id"], how="left")


def _records(rng: np.random.Generator, n: int, ids: int, ref_dtype: str | None) -> pd.DataFrame:
    source_id = pd.Series([f"P{v}" for v in rng.integers(0, ids, n)], dtype=object)
    refs = pd.Series([None if v % 7 == 0 else f"ref-{v}" for v in range(n)], dtype=object)
    return pd.DataFrame({
        "source": rng.choice(["assessor", "mls", "zillow"], n),
        "source_id": source_id,
        "source_ref": refs.astype(ref_dtype) if ref_dtype else refs,
        "parcel_id": source_id,
        "latitude": 47.5 + rng.random(n) / 100, "longitude": -122.3 + rng.random(n) / 100,
    })


@pytest.mark.parametrize("ref_dtype", [None, "string"])
@pytest.mark.parametrize("ids", [10_000_000, 50])  # keys unique (by position), keys repeated (merged)
def test_refs_equal_the_merge(ids: int, ref_dtype: str | None) -> None:
    rng = np.random.default_rng(ids)
    records = _records(rng, 400, ids, ref_dtype)
    links = match_prospects(records).links
    assert_frame_equal(_with_refs(links, records), _merged(links, records))


def test_a_source_giving_parcels_and_listings_still_merges() -> None:
    """The same (source, id) as a parcel record and a listing: both links get both refs, as before."""
    sales = pd.DataFrame({"source": ["kc"], "sale_id": ["s1"], "parcel_id": ["7"], "sale_date": ["2024-01-02"],
                          "source_ref": ["sale-ref"], "latitude": [47.6], "longitude": [-122.3],
                          "use_type": ["sfr"], "address": ["1 Main St"], "city": ["Seattle"], "state": ["WA"],
                          "zip": ["98101"]})
    listings = pd.DataFrame({"source": ["kc"], "source_id": ["7"], "source_ref": ["listing-ref"],
                             "list_date": ["2024-03-01"], "latitude": [47.6], "longitude": [-122.3],
                             "address": ["1 Main St"], "city": ["Seattle"], "state": ["WA"], "zip": ["98101"]})
    links = match_sources(sales, listings).links
    assert sorted(links["source_ref"]) == ["listing-ref", "listing-ref", "sale-ref", "sale-ref"]


def _old_records(sales: pd.DataFrame, listings: pd.DataFrame) -> pd.DataFrame:
    """The parcel records as `match_sources` made them before (the whole sales row taken, then
    consolidated), concatenated with the listings as it still does."""
    from realestate_assets.discovery.collect import _last_sales
    parcels = sales.loc[_last_sales(sales)]
    parcel_records = pd.DataFrame({
        "source": parcels["source"], "source_id": parcels["parcel_id"], "parcel_id": parcels["parcel_id"],
        "source_ref": parcels["source_ref"], "latitude": parcels["latitude"], "longitude": parcels["longitude"],
        "use_type": parcels["use_type"], "rank": 0,
        **{c: parcels[c] for c in ("address", "city", "state", "zip") if c in parcels.columns},
    })
    listing_records = listings.assign(rank=1).sort_values("list_date", ascending=False, na_position="last")
    return (pd.concat([parcel_records, listing_records], ignore_index=True) if len(listings)
            else parcel_records.reset_index(drop=True))


@pytest.mark.parametrize("with_listings", [False, True])
@pytest.mark.parametrize("with_address", [False, True])
def test_parcel_records_as_before(with_listings: bool, with_address: bool) -> None:
    rng = np.random.default_rng(7)
    n = 300
    parcel = [f"{v:04d}" for v in rng.integers(0, 120, n)]
    sales = pd.DataFrame({
        "source": rng.choice(["kc", "bulk"], n), "sale_id": [f"s{i}" for i in range(n)], "parcel_id": parcel,
        "sale_date": [f"2024-{1 + i % 12:02d}-01" for i in range(n)], "source_ref": [f"r{i}" for i in range(n)],
        "latitude": 47.5 + rng.random(n) / 10, "longitude": -122.3 + rng.random(n) / 10,
        "use_type": rng.choice(["sfr", "condo"], n),
    })
    if with_address:
        sales = sales.assign(address=[f"{v} Main St" for v in rng.integers(0, 90, n)], city="Seattle",
                             state="WA", zip="98101")
    listings = pd.DataFrame({"source": "mls", "source_id": [f"L{i}" for i in range(20)],
                             "source_ref": [f"l{i}" for i in range(20)],
                             "list_date": [f"2024-05-{1 + i:02d}" for i in range(20)],
                             "list_price": rng.integers(1, 9, 20) * 100_000.0,
                             "latitude": 47.5 + rng.random(20) / 10, "longitude": -122.3 + rng.random(20) / 10})
    if not with_listings:
        listings = listings.iloc[:0]
    before = sales.copy()
    matched = match_sources(sales, listings)
    assert_frame_equal(matched.records.drop(columns="prospect_key"), _old_records(sales, listings))
    matched.records.loc[:, "parcel_id"] = "changed"  # the records share no array with the input
    assert_frame_equal(sales, before)
    assert not (matched.records["source_id"] == "changed").any()  # nor parcel_id with source_id
