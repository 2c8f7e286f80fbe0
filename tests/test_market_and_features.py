"""Market index, comparables and features: hand-made frames with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.enrich.market import latest_sale_facts
from realestate_assets.enrich.pipeline import enrich_prospects
from realestate_assets.enrich.sources_config import load_sources_config
from realestate_assets.market.comps import CompsSettings, SalesPool, comparable_sales
from realestate_assets.market.index import AsOfIndexes, HedonicIndex, month_start
from realestate_assets.ml.features import FEATURES, build_features


def sale(parcel: str, sale_id: str, date: str, price: float, sqft: float = 1000, lat: float = 47.6,
         lon: float = -122.3, use: str = "sfr", age: float = 10) -> dict:
    return {"source": "s", "sale_id": sale_id, "parcel_id": parcel, "sale_price": price,
            "sale_date": pd.Timestamp(date).date(), "use_type": use, "neighborhood": "15",
            "lot_sqft": 4000.0, "waterfront": 0.0, "bldg_grade": 7.0, "living_sqft": sqft, "beds": 3.0,
            "baths": 2.0, "age_at_sale": age, "eff_age_at_sale": age, "latitude": lat, "longitude": lon}


def test_thin_data_falls_back_to_a_trailing_median_price_per_sqft_index() -> None:
    sales = pd.DataFrame([sale("a", "1", "2015-01-10", 100_000), sale("b", "2", "2015-02-10", 100_000),
                          sale("c", "3", "2015-03-10", 100_000), sale("d", "4", "2015-04-10", 200_000),
                          sale("e", "5", "2015-05-10", 200_000), sale("f", "6", "2015-06-10", 200_000)])
    index = HedonicIndex.from_sales(sales)  # 6 sales < 30: a dummy per month is not identified
    assert index.method == "median_ppsf"
    # Trailing 3-month medians: flat for three months, then rising only once the new prices arrive.
    assert list(index.by_month.round(3)) == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    adjusted = index.adjust(pd.Series([100_000.0]), pd.Series([pd.Timestamp("2015-01-15")]),
                            pd.Timestamp("2015-06-30"))
    assert adjusted[0] == pytest.approx(200_000)
    assert index.trend_pct(pd.Timestamp("2015-06-30"), months=3) == pytest.approx(100.0)


def test_enough_sales_fit_the_hedonic_index_and_no_sales_give_an_empty_one() -> None:
    rng = np.random.default_rng(5)
    rows = [sale(f"p{i}", str(i), f"2015-{1 + i % 6:02d}-10", 100_000 * (1 + 0.1 * (i % 6)) * rng.uniform(0.95, 1.05),
                 sqft=float(rng.uniform(800, 2000))) for i in range(60)]
    index = HedonicIndex.from_sales(pd.DataFrame(rows))
    assert index.method == "hedonic" and index.by_month.iloc[0] == pytest.approx(1.0)
    assert 1.3 < index.by_month.iloc[-1] < 1.7  # prices rose 50% over five months, smoothed
    empty = HedonicIndex.from_sales(pd.DataFrame(rows).assign(living_sqft=0.0).head(5))
    assert empty.method == "empty" and np.isnan(empty.level(pd.Series([pd.Timestamp("2015-03-01")]))).all()
    # Before any sale nothing is knowable: as-of factors leave prices as recorded.
    as_of = AsOfIndexes(pd.DataFrame(rows)).factor(pd.Series([pd.Timestamp("2014-06-01")]),
                                                   pd.Series([pd.Timestamp("2015-01-05")]))
    assert as_of.tolist() == [1.0]
    assert month_start(pd.Series([pd.Timestamp("2015-03-17")])).tolist() == [pd.Timestamp("2015-03-01")]


def test_the_hedonic_index_is_the_same_solved_on_one_blas_thread(monkeypatch) -> None:
    """The index's small system is solved on one BLAS thread (a woken thread pool cost ≈30× the
    solve on a loaded machine), every time: the same levels, bit for bit, as the solve left to the
    pool."""
    from contextlib import nullcontext

    from threadpoolctl import ThreadpoolController

    import realestate_assets.market.index as market_index

    rng = np.random.default_rng(11)
    rows = [sale(f"p{i}", str(i), f"{2012 + i % 4}-{1 + i % 12:02d}-{1 + i % 27:02d}",
                 250_000 * (1 + 0.01 * (i % 48)) * rng.uniform(0.8, 1.2), sqft=float(rng.uniform(700, 3500)),
                 age=float(rng.integers(0, 90))) | {"neighborhood": str(i % 9), "bldg_grade": float(5 + i % 6)}
            for i in range(4_000)]
    sales = pd.DataFrame(rows)
    solve, threads = np.linalg.lstsq, []

    def counted(*args: object, **kwargs: object) -> object:  # the threads of numpy's BLAS, which it runs on
        threads.extend(p["num_threads"] for p in ThreadpoolController().info()
                       if p["user_api"] == "blas" and "numpy" in p["filepath"])
        return solve(*args, **kwargs)

    monkeypatch.setattr(np.linalg, "lstsq", counted)
    one_thread = HedonicIndex.from_sales(sales)
    HedonicIndex.from_sales(sales)  # the process's pools as found the first time (`_blas_threads`)
    assert threads and set(threads) == {1}

    class Unlimited:
        def limit(self, **limits: object) -> nullcontext:
            return nullcontext()

    monkeypatch.setattr(market_index, "_blas_threads", Unlimited)
    pooled = HedonicIndex.from_sales(sales)
    assert one_thread.method == pooled.method == "hedonic" and len(one_thread.by_month) == 48
    assert one_thread.by_month.equals(pooled.by_month)


@pytest.mark.filterwarnings("ignore::UserWarning")  # to_period on tz-aware dates warns it drops the zone
def test_month_start_is_each_dates_first_of_the_month_whatever_the_input() -> None:
    """`month_start` floors datetime64 input with NumPy (issue 17: `to_datetime`'s cache probe
    was a quarter of `features`' chunk work); every kind of input gives what the pandas period
    formula gives: NaT kept, dates before 1970, other units, tz-aware dates by their wall clock."""
    def by_periods(dates: object) -> pd.Series:
        return pd.Series(pd.DatetimeIndex(pd.to_datetime(dates)).to_period("M").to_timestamp())

    rng = np.random.default_rng(3)
    dates = pd.Series(pd.to_datetime(rng.integers(-3_000_000_000, 3_000_000_000, 2_000), unit="s"))
    dates[::7] = pd.NaT
    cases = [dates, pd.DatetimeIndex(dates), dates.to_numpy(), dates.astype("datetime64[s]"),
             dates.dt.date.where(dates.notna(), None), list(dates.astype(str).str[:10].where(dates.notna(), None)),
             dates.dt.tz_localize("UTC").dt.tz_convert("America/Los_Angeles"), pd.Series([], dtype="datetime64[ns]"),
             pd.Series([pd.NaT, pd.NaT]), np.array(["1969-12-31", "2020-02-29"], dtype="datetime64[D]")]
    for case in cases:
        months = month_start(case)
        pd.testing.assert_series_equal(months, by_periods(case))
        assert months.dtype == "datetime64[ns]"
    assert month_start(pd.Timestamp("1969-12-31 23:59")) == pd.Timestamp("1969-12-01")


def test_comps_exclude_the_parcel_itself_dissimilar_and_distant_sales() -> None:
    near = [sale(f"n{i}", f"n{i}", "2016-01-01", 500_000 + i * 1000, lat=47.6 + i * 1e-4) for i in range(4)]
    others = [
        sale("target", "t1", "2016-02-01", 50_000),                    # the target's own sale
        sale("big", "b1", "2016-01-01", 5_000_000, sqft=3000),         # too large to compare
        sale("far", "f1", "2016-01-01", 9_000_000, lat=48.5),          # far away
        sale("condo", "c1", "2016-01-01", 9_000_000, use="townhouse"),  # another use type
    ]
    sales = pd.DataFrame(near + others)
    facts = latest_sale_facts(sales)
    comps = comparable_sales(facts.loc[["target"]].reset_index(), sales, pd.Timestamp("2016-02-01"),
                             CompsSettings(radius_m=500), HedonicIndex.from_sales(sales)).summary
    row = comps.iloc[0]
    assert row.comps_count == 4
    assert row.comps_median_price_per_sqft == pytest.approx(501.5, rel=0.01)
    assert row.comps_estimated_value == pytest.approx(501_500, rel=0.01)


def test_too_few_comps_means_no_estimate_not_a_guess() -> None:
    sales = pd.DataFrame([sale("a", "1", "2016-01-01", 400_000), sale("b", "2", "2016-01-02", 410_000)])
    comps = comparable_sales(latest_sale_facts(sales).reset_index(), sales, pd.Timestamp("2016-01-02"),
                             CompsSettings(), HedonicIndex.from_sales(sales)).summary
    assert comps["comps_estimated_value"].isna().all()


def test_latest_sale_facts_take_each_parcels_last_two_sales_by_date_then_sale_id() -> None:
    """Rows in any order; a tie on the date is broken by the sale id; a sale without a parcel is left
    out; a parcel sold once has no prior sale; parcels come out in parcel order."""
    sales = pd.DataFrame([sale("b", "9", "2014-01-01", 200_000, sqft=900),
                          sale("a", "3", "2015-01-01", 450_000, sqft=1100), sale("a", "1", "2010-01-01", 300_000),
                          sale("a", "2", "2015-01-01", 400_000), sale(None, "7", "2016-01-01", 999_000)],
                         index=[40, 10, 30, 20, 50])
    facts = latest_sale_facts(sales)
    assert facts.index.tolist() == ["a", "b"]
    assert facts["sale_count"].tolist() == [3, 1]
    assert facts["last_sale_id"].tolist() == ["3", "9"] and facts["living_sqft"].tolist() == [1100, 900]
    assert facts.loc["a", "prior_sale_price"] == 400_000 and np.isnan(facts.loc["b", "prior_sale_price"])
    assert latest_sale_facts(sales.iloc[:0]).empty


def enrich(prospects: pd.DataFrame, sales: pd.DataFrame) -> pd.DataFrame:
    """County records and comps only: no outside key is set, so ATTOM and the Census are skipped."""
    frame = prospects.reindex(columns=["prospect_key", "parcel_id", "address", "city", "state", "zip",
                                       "latitude", "longitude"])
    result = enrich_prospects(frame, sales, county_fips="53033", county_state="WA", sources=load_sources_config(),
                              comps=CompsSettings(), env={})
    assert set(result.skipped) == {"attom", "census_geocoder", "census_acs"}
    return result.frame


def test_enrichment_marks_unknown_parcels_failed_and_keeps_provenance() -> None:
    sales = pd.DataFrame([sale("a", "1", "2010-01-01", 300_000), sale("a", "2", "2015-01-01", 450_000)])
    prospects = pd.DataFrame({"prospect_key": ["a", "zz"], "parcel_id": ["a", "zz"]})
    out = enrich(prospects, sales).set_index("prospect_key")
    assert out.loc["a", "status"] == "enriched" and out.loc["a", "sale_count"] == 2
    assert out.loc["a", "last_sale_price"] == 450_000 and out.loc["a", "prior_sale_price"] == 300_000
    assert out.loc["a", "year_built"] == 2005
    assert out.loc["a", "years_owned"] == 0.0  # sold on the as-of date
    living = out.loc["a", "provenance"]["living_sqft"]
    assert living["source"] == "county_assessor" and living["record"] == "s sale 2"
    assert out.loc["a", "source_status"]["attom"]["status"] == "skipped"
    assert out.loc["zz", "status"] == "failed" and "no source describes the building" in out.loc["zz", "failure_reason"]
    assert pd.isna(out.loc["zz", "living_sqft"]) and pd.isna(out.loc["a", "owner_names"])


def test_features_use_only_the_as_of_date_and_never_impute() -> None:
    sales = pd.DataFrame([sale("a", "1", "2012-06-30", 300_000), sale("b", "2", "2016-06-30", 600_000)])
    prospects = pd.DataFrame({"prospect_key": ["a", "b"], "parcel_id": ["a", "b"]})
    enriched = enrich(prospects, sales)
    enriched.loc[enriched["prospect_key"] == "b", "beds"] = 0.0
    locations = pd.DataFrame({"prospect_key": ["a", "b"], "latitude": [47.6, 47.6],
                              "longitude": [-122.3, -122.3]})
    features = build_features(enriched, locations, HedonicIndex.from_sales(sales)).set_index("prospect_key")
    assert set(FEATURES) <= set(features.columns)
    assert features.loc["a", "years_since_last_sale"] == pytest.approx(4.0, abs=0.01)
    assert features.loc["a", "age_years"] == 14  # built 2002, as of 2016
    assert np.isnan(features.loc["b", "baths_per_bed"])  # zero bedrooms: unknown, not infinite
    assert np.isnan(features.loc["a", "last_price_to_comps_value"])  # no comps: stays missing
    # The index moved 300k→600k: the 2012 sale in 2016 money is 600k.
    assert features.loc["a", "last_sale_price_indexed"] == pytest.approx(600_000)


def test_county_market_fills_a_chunks_comps_as_the_county_wide_call_finds_them() -> None:
    """Issue 17: enrichment finds the comps of each chunk's parcels as it enriches the chunk
    (`CountyMarket.fill`); the facts must be those of one county-wide `comparable_sales`."""
    from realestate_assets.enrich.county_data import COMPS_FACTS, CountyMarket, county_facts
    from realestate_assets.enrich.local_columns import ByParcel

    rng = np.random.default_rng(17)
    rows = [sale(f"p{i % 150:03d}", str(i), f"2015-{1 + i % 12:02d}-{1 + i % 27:02d}",
                 float(rng.uniform(2e5, 9e5)), sqft=float(rng.choice([900, 1000, 1100, 1500, 2600])),
                 lat=47.6 + float(rng.uniform(0, 0.01)), lon=-122.3 + float(rng.uniform(0, 0.01)),
                 use=str(rng.choice(["sfr", "sfr", "condo"]))) for i in range(400)]
    sales = pd.DataFrame(rows)
    settings = CompsSettings(candidates=3, min_comps=2)  # few candidates: short rows searched in their band
    index = HedonicIndex.from_sales(sales)
    as_of = pd.Timestamp(pd.to_datetime(sales["sale_date"]).max())
    facts = latest_sale_facts(sales)
    expected = facts.join(comparable_sales(facts.reset_index(), sales, as_of, settings, index, chosen=False)
                          .summary.set_axis(facts.index))
    expected["market_trend_12m_pct"] = index.trend_pct(as_of)
    whole, whole_as_of = county_facts(sales, settings)
    pd.testing.assert_frame_equal(whole, expected, check_exact=True)
    assert whole_as_of == as_of and whole["comps_estimated_value"].notna().all()  # every parcel has comps

    market = CountyMarket(sales, settings)
    assert (market.facts["comps_count"] == 0).all() and market.facts[COMPS_FACTS[1:]].isna().all().all()
    parcels = pd.Series(rng.permutation(facts.index.to_numpy()))
    for start in range(0, len(parcels), 17):  # chunks in another order, a parcel asked twice, one unknown
        chunk = pd.concat([parcels.iloc[start:start + 17], parcels.iloc[:2], pd.Series(["nowhere"])])
        market.fill(ByParcel(market.facts).positions(chunk))
    pd.testing.assert_frame_equal(market.facts, expected, check_exact=True)


def test_one_as_of_dates_index_factors_are_the_index_own_and_follow_the_index_asked() -> None:
    """`SalesPool._factor` keeps one as-of date's factors over the pool's months between calls;
    each must be the index's factor from the sale's month, for whichever index is passed."""
    rng = np.random.default_rng(3)
    sales = pd.DataFrame([sale(f"p{i}", str(i), f"201{4 + i % 2}-{1 + i % 12:02d}-{1 + i % 27:02d}",
                               float(rng.uniform(2e5, 9e5)), sqft=float(rng.uniform(800, 2000))) for i in range(90)])
    as_of = pd.Timestamp("2016-03-05")
    pool = SalesPool(sales, CompsSettings(), as_of, as_of)
    fitted, thin = HedonicIndex.from_sales(sales), HedonicIndex.from_sales(sales.head(8))
    positions = rng.permutation(len(pool))[:40]
    to_day = np.full(len(positions), pool.date.max() + 30)
    sale_dates = pd.Series(sales["sale_date"].iloc[pool.rows[positions]].to_numpy())
    to_dates = pd.Series(np.full(len(positions), np.datetime64(int(to_day[0]), "D")))
    for index in (fitted, thin, fitted):
        assert np.array_equal(pool._factor(positions, to_day, index), index.factor(sale_dates, to_dates),
                              equal_nan=True)
        assert np.array_equal(pool._factor(positions[:5], to_day[:5], index),
                              index.factor(sale_dates[:5], to_dates[:5]), equal_nan=True)
