"""The market panel without the county's sales in the API process (market/stored.py) answers what
`MarketData` — every sale of the county loaded and its index fitted, the panel's old way — answers,
on the bundled King County sales: the same comps, in the same order, at the same prices and
distances, and the same index."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
from psycopg2.extras import execute_values

from realestate_assets.api.v1.property_market import MarketCache, comps_of
from realestate_assets.assets.common import county_sales
from realestate_assets.config_models import load_counties, load_scoring
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.discovery.collect import collect_sales
from realestate_assets.docs.context import MarketData, pool_comps
from realestate_assets.market.comps import SalesPool
from realestate_assets.market.index import INDEX_SALE_COLUMNS, HedonicIndex
from realestate_assets.market.stored import (
    FIRST_BOX_SHARE,
    MARKET_SALES_COLUMNS,
    NUMERIC_SALES_COLUMNS,
    comps_candidates,
    fit_label,
    fitted_index,
    sales_frame,
    store_index,
    stored_index,
)
from realestate_assets.settings import repo_root
from tests.api.helpers_api import owner_cursor

COLUMNS = ("source", "sale_id", "parcel_id", "sale_price", "sale_date", "use_type", "neighborhood", "lot_sqft",
           "waterfront", "bldg_grade", "living_sqft", "beds", "baths", "age_at_sale", "eff_age_at_sale",
           "latitude", "longitude")


def _db(value: Any) -> Any:
    return None if isinstance(value, float) and np.isnan(value) else value


def load_bundled_sales(url: str, county: str) -> pd.DataFrame:
    """The bundled county's sales in the warehouse as `county`, and its index stored as the
    pipeline does (this module's fixture, bench/api_comps.py): the rows as inserted."""
    sales = collect_sales(load_counties()["king_wa"]).rows
    sales = sales.assign(waterfront=sales["waterfront"].map({1.0: True, 0.0: False}))
    with owner_cursor(url) as cur:
        ensure_county_partitions(cur, county)
        execute_values(cur, f"INSERT INTO sales (county, {', '.join(COLUMNS)}) VALUES %s",
                       [(county, *(_db(getattr(r, c)) for c in COLUMNS)) for r in sales.itertuples()])
    fitted = HedonicIndex.from_sales(county_sales(Warehouse(url), {"county": county}, INDEX_SALE_COLUMNS))
    with owner_cursor(url) as cur:
        store_index(cur, county, fitted)
    return sales


@pytest.fixture(scope="module")
def king(database_url: str) -> dict[str, Any]:
    """The bundled county's sales in the warehouse and its index stored as the pipeline does."""
    county = f"kx_{uuid.uuid4().hex[:6]}"
    load_bundled_sales(database_url, county)
    with owner_cursor(database_url) as cur:
        cur.execute(f"SELECT {MARKET_SALES_COLUMNS} FROM sales WHERE county = %s ORDER BY sale_date, sale_id",
                    (county,))
        everything = sales_frame(cur.fetchall(), [c.name for c in cur.description])
    return {"county": county, "market": MarketData(everything, load_scoring(repo_root() / "config"))}


def test_the_stored_index_is_the_index_of_every_sale(database_url: str, king: dict[str, Any]) -> None:
    with owner_cursor(database_url) as cur:
        stored, _ = stored_index(cur, king["county"])
    old = king["market"].index
    assert stored.method == old.method == "hedonic"
    assert stored.by_month.index.equals(old.by_month.index)
    np.testing.assert_allclose(stored.by_month.to_numpy(), old.by_month.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("as_of", ["county", "2014-06-15"])
def test_comps_from_candidates_near_the_property_are_the_county_wide_comps(
        database_url: str, king: dict[str, Any], as_of: str) -> None:
    """Every 12th parcel of the county as a subject (its building at its latest sale), as of the
    county's date and as of a date in the middle of the file."""
    market: MarketData = king["market"]
    date = market.sales["sale_date"].max() if as_of == "county" else pd.Timestamp(as_of)
    facts = market.sales.drop_duplicates("parcel_id", keep="last").iloc[::12][
        ["parcel_id", "latitude", "longitude", "living_sqft", "use_type"]]
    panel = MarketCache(market.scoring)
    compared = with_comps = 0
    with owner_cursor(database_url) as cur:
        for subject in facts.to_dict("records"):
            subject.update(county=king["county"], as_of_date=date.date())
            expected, expected_summary = market.comps_result(subject, date)
            comps, summary = comps_of(cur, panel, subject)
            assert [(c["parcel_id"], c["sale_date"], c["distance_m"]) for c in comps] == \
                [(c["parcel_id"], c["sale_date"], c["distance_m"]) for c in expected], subject["parcel_id"]
            for got, want in [*zip(comps, expected, strict=True), (summary, expected_summary)]:
                assert got.keys() == want.keys()
                assert {k for k, v in got.items() if v is None} == {k for k, v in want.items() if v is None}
                numbers = [k for k, v in want.items() if isinstance(v, float)]
                assert {k: got[k] for k in numbers} == pytest.approx({k: want[k] for k in numbers}, rel=1e-9)
            compared += 1
            with_comps += bool(comps)
    assert compared > 300 and with_comps > compared // 2


def _doubling_comps_of(cur: Any, market: MarketCache, found: dict[str, Any]) -> tuple[list, dict] | str:
    """comps_of as it was before Stop 47 (a): the box doubled from a sixteenth of the radius, every
    box's comps listed."""
    settings = market.scoring.comps
    index, fitted_at = stored_index(cur, found["county"])
    as_of = pd.Timestamp(found["as_of_date"])
    ref_lat = market.reference_latitude(cur, found["county"], as_of.date(), fitted_at)
    box = settings.radius_m * FIRST_BOX_SHARE
    while True:
        sales = comps_candidates(cur, found["county"], found, as_of, settings, ref_lat, box)
        sales = sales.assign(sale_date=pd.to_datetime(sales["sale_date"]))
        comps, summary = pool_comps(SalesPool(sales, settings, as_of, as_of, ref_lat=ref_lat), sales, found, as_of,
                                    index)
        if box >= settings.radius_m or (
                len(comps) == settings.max_comps and comps[-1]["distance_m"] + 0.05 <= box):
            return comps, summary
        box = min(2 * box, settings.radius_m)


@pytest.mark.parametrize("as_of", ["county", "2014-06-15"])
def test_widened_boxes_give_what_doubled_boxes_gave(database_url: str, king: dict[str, Any], as_of: str) -> None:
    """The boxes widened by `next_box` (fewer candidate queries) give exactly the comps and summary
    the doubled boxes gave, for every 96th parcel (bench/api_comps.py compares
    every 12th: equal md5s)."""
    market: MarketData = king["market"]
    date = market.sales["sale_date"].max() if as_of == "county" else pd.Timestamp(as_of)
    facts = market.sales.drop_duplicates("parcel_id", keep="last").iloc[::96][
        ["parcel_id", "latitude", "longitude", "living_sqft", "use_type"]]
    panel = MarketCache(market.scoring)
    with owner_cursor(database_url) as cur:
        for subject in facts.to_dict("records"):
            subject.update(county=king["county"], as_of_date=date.date())
            assert comps_of(cur, panel, subject) == _doubling_comps_of(cur, panel, subject), subject["parcel_id"]


def test_sales_frame_types_rows_as_pandas_did(database_url: str, king: dict[str, Any]) -> None:
    """`sales_frame` (column by column) is the frame of the rows typed by `pd.to_numeric`, as it was."""
    with owner_cursor(database_url) as cur:
        cur.execute(f"SELECT {MARKET_SALES_COLUMNS} FROM sales WHERE county = %s ORDER BY sale_date, sale_id",
                    (king["county"],))
        rows, columns = cur.fetchall(), [c.name for c in cur.description]
    for part in (rows, rows[:1], rows[:0]):
        typed = pd.DataFrame(part, columns=columns)
        for column in NUMERIC_SALES_COLUMNS:
            typed[column] = pd.to_numeric(typed[column], errors="coerce").astype(float)
        typed["waterfront"] = typed["waterfront"].map({True: 1.0, False: 0.0}).astype(float)
        pd.testing.assert_frame_equal(sales_frame(part, columns), typed, check_exact=True)


def test_a_stored_fit_is_taken_only_while_the_sales_it_read_are_unchanged(
        database_url: str, king: dict[str, Any]) -> None:
    """`fitted_index` (issue 17: `features` takes `enrichment`'s fit instead of reading every sale
    again) gives the stored index only when it was stored with the present `fit_label`: not one
    stored unlabelled, nor after any write to the county's sales."""
    county = king["county"]
    fitted = HedonicIndex.from_sales(county_sales(Warehouse(database_url), {"county": county}, INDEX_SALE_COLUMNS))
    with owner_cursor(database_url) as cur:
        label = fit_label(cur, county)
        assert label is not None
        store_index(cur, county, fitted)  # unknown: what it was fitted on
        assert fitted_index(cur, county) == (None, label)
        store_index(cur, county, fitted, label)
        taken, now = fitted_index(cur, county)
        assert now == label and taken is not None and taken.method == fitted.method
        pd.testing.assert_series_equal(taken.by_month, fitted.by_month, check_exact=True, check_freq=False)
    with owner_cursor(database_url) as cur:  # any write to the county's sales, even one changing no value
        cur.execute("UPDATE sales SET sale_price = sale_price WHERE county = %s AND sale_id = "
                    "(SELECT min(sale_id) FROM sales WHERE county = %s)", (county, county))
    with owner_cursor(database_url) as cur:
        index, moved = fitted_index(cur, county)
        assert index is None and moved not in (None, label)
        store_index(cur, county, fitted, moved)  # as the module's fixture left it, labelled for the sales now
