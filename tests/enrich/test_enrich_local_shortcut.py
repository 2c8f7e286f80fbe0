"""Issue 17: with no HTTP source called, `enrich_prospects` builds most rows by column
(`enrich/local_columns.py`) instead of through `enrich_one`; every row must be what
`enrich_one` gives (values, provenance, signals, statuses), except the fetch time (one per chunk)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from realestate_assets.enrich.clients import Enricher
from realestate_assets.enrich.pipeline import enrich_prospects
from realestate_assets.enrich.sources_config import load_sources_config
from realestate_assets.market.comps import CompsSettings


def county(n: int = 300, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sales (some parcels sold twice, some facts missing), prospects (two unknown parcels, some
    addresses) and an assessor roll for part of the parcels (owners, mailing addresses)."""
    rng = np.random.default_rng(seed)
    parcels = [f"p{i}" for i in range(n)]
    sold = parcels + list(rng.choice(parcels, n // 3))
    sales = pd.DataFrame({
        "source": "s", "sale_id": [f"s{i}" for i in range(len(sold))], "parcel_id": sold,
        "sale_price": rng.uniform(2e5, 9e5, len(sold)).round(),
        "sale_date": pd.to_datetime("2016-01-01") + pd.to_timedelta(rng.integers(0, 900, len(sold)), "D"),
        "use_type": rng.choice(["sfr", "condo", None], len(sold), p=[0.7, 0.25, 0.05]),
        "neighborhood": rng.choice(["15", "", None], len(sold)), "lot_sqft": rng.uniform(2e3, 9e3, len(sold)),
        "waterfront": rng.choice([0.0, 1.0, np.nan], len(sold)), "bldg_grade": 7.0,
        "living_sqft": np.where(rng.random(len(sold)) < 0.05, np.nan, rng.uniform(800, 3000, len(sold))),
        "beds": rng.choice([2.0, 3.0, np.nan], len(sold)), "baths": 2.0,
        "age_at_sale": rng.integers(1, 80, len(sold)).astype(float), "eff_age_at_sale": np.nan,
        "latitude": 47.6 + rng.normal(0, 0.01, len(sold)), "longitude": -122.3 + rng.normal(0, 0.01, len(sold))})
    sales["sale_date"] = sales["sale_date"].dt.date
    keys = [*parcels, "nowhere-1", "nowhere-2"]
    prospects = pd.DataFrame({
        "prospect_key": keys, "parcel_id": keys,
        "address": [f"{i} Main St" if i % 3 else None for i in range(len(keys))],
        "city": "Seattle", "state": [None if i % 5 == 0 else "WA" for i in range(len(keys))],
        "zip": [f"98{i % 100:03d}" for i in range(len(keys))],
        "latitude": 47.6, "longitude": -122.3})
    owned = parcels[::4]
    roll = pd.DataFrame({
        "source": "roll", "parcel_id": owned,
        "owner_name": [["ACME HOLDINGS LLC", "J SMITH FAMILY TRUST", "CITY OF SEATTLE", None][i % 4]
                       for i in range(len(owned))],
        "owner_mailing_address": [[None, "PO BOX 77, PHOENIX, AZ 85001", "1 Main St, Seattle, WA 98001"][i % 3]
                                  for i in range(len(owned))],
        "assessed_value": rng.uniform(1e5, 8e5, len(owned)), "market_value": rng.uniform(1e5, 9e5, len(owned)),
        "tax_amount": np.nan, "tax_year": 2016.0, "source_ref": "r"})
    return sales, prospects, roll


def run(sales: pd.DataFrame, prospects: pd.DataFrame, roll: pd.DataFrame,
        previous: pd.DataFrame | None = None) -> pd.DataFrame:
    return enrich_prospects(prospects, sales, county_fips="53033", county_state="WA", sources=load_sources_config(),
                            comps=CompsSettings(), env={}, assessor=roll, previous=previous).frame


def without_fetch_times(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["provenance"] = [{k: {**e, "fetched_at": "t"} if e.get("fetched_at") else e for k, e in p.items()}
                         for p in frame["provenance"]]
    return out


def test_the_shortcut_gives_enrich_ones_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    sales, prospects, roll = county()
    # An earlier run where ATTOM answered for p1: its values are kept while it is skipped, so that
    # prospect goes through enrich_one even on the shortcut's run.
    first = run(sales, prospects, roll)
    previous = first.copy()
    at = previous.index[previous["prospect_key"] == "p1"][0]
    previous.at[at, "avm_value"] = 512_000.0
    previous.at[at, "provenance"] = {**previous.at[at, "provenance"], "avm_value": {
        "source": "attom", "fetched_at": "2016-05-01T00:00:00+00:00", "confidence": 0.85}}
    shortcut = run(sales, prospects, roll, previous)
    # The asset reads the previous provenance as jsonb text (json.dumps writes jsonb's text form).
    as_text = previous.assign(provenance=[json.dumps(p, default=str) for p in previous["provenance"]])
    shortcut_from_text = run(sales, prospects, roll, as_text)

    monkeypatch.setattr(Enricher, "local_plan", lambda self: None)  # every prospect through enrich_one
    general = run(sales, prospects, roll, previous)
    general_first = run(sales, prospects, roll)

    # Every row by the shortcut (the numeric columns typed from the county's arrays, not inferred)
    # and some through enrich_one: the same values and column types.
    pd.testing.assert_frame_equal(without_fetch_times(first), without_fetch_times(general_first))
    pd.testing.assert_frame_equal(without_fetch_times(shortcut), without_fetch_times(general))
    pd.testing.assert_frame_equal(without_fetch_times(shortcut_from_text), without_fetch_times(general))
    kept = shortcut.set_index("prospect_key").loc["p1"]
    assert kept["avm_value"] == 512_000.0 and kept["provenance"]["avm_value"]["kept"] is True
    # The rows the test is about exist: failed, no market, owners with every signal, no assessor.
    rows = shortcut.set_index("prospect_key")
    assert (rows["status"] == "failed").sum() >= 2
    assert rows["corporate_owner"].eq(True).any() and rows["trust_owner"].eq(True).any()
    assert rows["absentee_owner"].eq(True).any() and rows["out_of_state_owner"].eq(True).any()
    assert rows.loc["nowhere-1", "source_status"]["market"]["status"] == "no_match"
    assert rows.loc["p0", "provenance"]["owner_names"]["source"] == "county_assessor"
