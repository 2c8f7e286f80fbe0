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
