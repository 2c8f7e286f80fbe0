"""Feature functions on hand-made frames: registry, availability, and leak guards."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from realestate_assets.enrich.market import CompsSettings
from realestate_assets.ml.deal import (
    asof_comps,
    deal_training_frame,
    leak_free,
    propensity_frame,
    repeat_sale_pairs,
)
from realestate_assets.ml.features import (
    ENRICHMENT_INPUTS,
    REGISTRY,
    SPECS,
    UNSUPPORTED,
    availability,
    availability_of,
    build_features,
    locations_by_key,
    missing_shares,
    present_counts,
)
from realestate_assets.ml.market_index import AsOfIndexes, HedonicIndex
from tests.scoring.helpers_scoring import sale


def enrichment_row(key: str, **values: object) -> dict:
    row = {"prospect_key": key, "as_of_date": pd.Timestamp("2016-06-30").date(), "status": "enriched",
           "use_type": "sfr", "neighborhood": "15", "living_sqft": 1000.0, "lot_sqft": 4000.0, "beds": 2.0,
           "baths": 1.0, "bldg_grade": 7.0, "year_built": 1990, "effective_year_built": 1990, "waterfront": False,
           "sale_count": 1, "last_sale_price": 300_000.0, "last_sale_date": pd.Timestamp("2012-06-30").date(),
           "comps_count": 5, "comps_median_price_per_sqft": 400.0, "comps_estimated_value": 400_000.0,
           "comps_value_spread_pct": 10.0, "market_trend_12m_pct": 5.0}
    row.update(values)
    return row


class FlatIndex:
    """An index that doubles between 2012 and 2016: easy numbers."""

    def level(self, dates: pd.Series) -> np.ndarray:
        return np.where(pd.to_datetime(pd.Series(dates)).dt.year >= 2016, 2.0, 1.0)

    def trend_pct(self, as_of: pd.Timestamp, months: int = 12) -> float:
        return 7.0


def test_registry_is_complete_and_every_feature_is_described() -> None:
    for spec in REGISTRY:
        assert spec.description and spec.unit and spec.source and spec.missing, spec
    groups = {spec.group for spec in REGISTRY}
    assert groups == {"property", "financial", "market", "owner", "location"}
    assert {"absentee_owner", "out_of_state_owner", "years_owned", "corporate_owner", "tract_vacancy_rate",
            "gross_yield_pct", "cap_rate_est_pct", "days_on_market", "assessed_to_market_ratio"} <= set(SPECS)


def test_unsupported_and_unsourced_features_are_listed_unavailable_not_filled() -> None:
    enrichment = pd.DataFrame([enrichment_row("a"), enrichment_row("b")])
    locations = pd.DataFrame({"prospect_key": ["a", "b"], "latitude": [47.6, 47.6], "longitude": [-122.3, -122.3]})
    features = build_features(enrichment, locations, FlatIndex())
    report = availability(features)
    for name in ("tract_median_household_income", "absentee_owner", "gross_yield_pct", "list_price",
                 "tax_burden_pct", *UNSUPPORTED):
        assert report[name]["available"] is False, name
        assert report[name]["reason"]
        if name in features:
            assert features[name].isna().all(), name  # missing stays missing
    assert report["living_sqft"] == {"available": True, "coverage": 1.0, "source": "county sales"}
    assert features["market_trend_12m_pct"].eq(7.0).all()  # from the index the models use


def test_enrichment_values_flow_into_financial_owner_and_location_features() -> None:
    enrichment = pd.DataFrame([enrichment_row("a", tract_median_gross_rent=2000.0, absentee_owner=True,
                                              out_of_state_owner=None, corporate_owner=False, tax_amount=6000.0,
                                              tract_vacancy_rate=0.05)])
    locations = pd.DataFrame({"prospect_key": ["a"], "latitude": [47.6], "longitude": [-122.3]})
    row = build_features(enrichment, locations, FlatIndex()).iloc[0]
    assert row["last_sale_price_indexed"] == pytest.approx(600_000)
    assert row["gross_yield_pct"] == pytest.approx(4.0)  # 24k / 600k
    assert row["cap_rate_est_pct"] == pytest.approx(2.4)
    assert row["tax_burden_pct"] == pytest.approx(1.0)
    assert row["absentee_owner"] == 1.0 and row["corporate_owner"] == 0.0
    assert np.isnan(row["out_of_state_owner"])  # unknown is not "no"
    assert row["tract_vacancy_rate"] == pytest.approx(0.05)


def test_leak_guard_ignores_sales_and_listings_dated_after_the_as_of_date() -> None:
    enrichment = pd.DataFrame([enrichment_row("late", last_sale_date=pd.Timestamp("2017-01-01").date())])
    locations = pd.DataFrame({"prospect_key": ["late"], "latitude": [47.6], "longitude": [-122.3],
                              "list_price": [500_000.0], "list_date": [pd.Timestamp("2016-09-01").date()]})
    row = build_features(enrichment, locations, FlatIndex()).iloc[0]
    assert np.isnan(row["last_sale_price"]) and np.isnan(row["years_since_last_sale"])
    assert np.isnan(row["list_price"]) and np.isnan(row["days_on_market"])
    listed = locations.assign(list_date=[pd.Timestamp("2016-06-01").date()])
    row = build_features(pd.DataFrame([enrichment_row("late")]), listed.assign(prospect_key="late"),
                         FlatIndex()).iloc[0]
    assert row["list_price"] == 500_000 and row["days_on_market"] == 29
    assert row["list_price_to_comps_value"] == pytest.approx(1.25)


def test_features_built_in_chunks_against_indexed_locations_are_the_whole_county_s() -> None:
    """The `features` asset builds a county a chunk at a time against its locations indexed once
    (issue 17): the rows, and the availability and missing shares from counts summed over the
    chunks, are those of one frame merged with the locations as a column."""
    rows = [enrichment_row(f"k{i:02d}", tract_median_gross_rent=2000.0 if i % 3 else None,
                           absentee_owner=bool(i % 2) if i % 5 else None) for i in range(23)]
    rows[4]["status"] = rows[17]["status"] = "failed"  # not enriched: no feature row
    enrichment = pd.DataFrame(rows)
    locations = pd.DataFrame({  # one prospect without a location row, listings on some
        "prospect_key": [f"k{i:02d}" for i in range(23) if i != 11][::-1],
        "latitude": 47.6, "longitude": -122.3,
        "list_price": [500_000.0 if i % 4 == 0 else None for i in range(22)],
        "list_date": [pd.Timestamp("2016-06-01").date() if i % 4 == 0 else None for i in range(22)]})
    whole = build_features(enrichment, locations, FlatIndex())
    indexed = locations_by_key(locations)
    chunks = [build_features(enrichment.iloc[i:i + 5], indexed, FlatIndex()) for i in range(0, 23, 5)]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert np.isnan(whole.set_index("prospect_key").loc["k11", "latitude"])  # a left join
    present: dict[str, int] = {}
    for chunk in chunks:
        for name, count in present_counts(chunk).items():
            present[name] = present.get(name, 0) + count
    assert availability_of(present, len(whole)) == availability(whole)
    assert missing_shares(present, len(whole)) == {
        c: round(float(whole[c].isna().mean()), 4) for c in SPECS if c in whole and c not in UNSUPPORTED}


def test_the_features_read_exactly_the_enrichment_columns_they_use() -> None:
    """The `features` asset reads only `ENRICHMENT_INPUTS` of each enrichment row (issue 17): the
    same rows as from every column, and none of them is read for nothing."""
    from realestate_assets.enrich.pipeline import ENRICHMENT_COLUMNS

    full = {c: None for c in ENRICHMENT_COLUMNS} | enrichment_row("a") | {
        "tax_amount": 4_000.0, "rent_estimate_monthly": 2_500.0, "tract_median_gross_rent": 1_900.0,
        "assessed_to_market_ratio": 0.9, "absentee_owner": True, "out_of_state_owner": False,
        "corporate_owner": True, "years_owned": 6.5, "tract_median_household_income": 90_000.0,
        "tract_vacancy_rate": 0.05, "tract_median_home_value": 700_000.0, "waterfront": True,
        "owner_names": "A. Owner", "avm_value": 650_000.0}
    enrichment = pd.DataFrame([full, full | {"prospect_key": "b", "rent_estimate_monthly": None}])
    locations = pd.DataFrame({"prospect_key": ["a", "b"], "latitude": 47.6, "longitude": -122.3,
                              "list_price": 500_000.0, "list_date": pd.Timestamp("2016-06-01").date()})
    assert set(ENRICHMENT_INPUTS) <= set(ENRICHMENT_COLUMNS)
    expected = build_features(enrichment, locations, FlatIndex())
    pd.testing.assert_frame_equal(build_features(enrichment[list(ENRICHMENT_INPUTS)], locations, FlatIndex()),
                                  expected, check_exact=True)
    for column in ENRICHMENT_INPUTS:  # each one matters
        try:
            without = build_features(enrichment.drop(columns=[column]), locations, FlatIndex())
        except KeyError:
            continue
        assert not without.equals(expected), column


def test_asof_comps_use_only_sales_before_the_target_date() -> None:
    early = [sale(f"e{i}", f"e{i}", "2015-06-01", 400_000, lat=47.6 + i * 1e-4) for i in range(3)]
    later = [sale(f"l{i}", f"l{i}", "2016-03-01", 900_000, lat=47.6 - i * 1e-4) for i in range(5)]
    sales = pd.DataFrame(early + later)
    target = pd.DataFrame({"parcel_id": ["t"], "date": [pd.Timestamp("2016-01-01")], "latitude": [47.6],
                           "longitude": [-122.3], "living_sqft": [1000.0], "use_type": ["sfr"]})
    comps = asof_comps(target, sales, AsOfIndexes(sales, min_sales=100), CompsSettings())
    assert comps.loc[0, "comps_count"] == 3  # the five later sales are unknown on 2016-01-01
    assert comps.loc[0, "comps_median_price_per_sqft"] == pytest.approx(400.0)


def test_pairs_built_or_renovated_after_purchase_are_excluded() -> None:
    sales = pd.DataFrame([
        sale("ok", "1", "2011-03-01", 300_000, age=20), sale("ok", "2", "2015-03-01", 500_000, age=24),
        sale("new", "3", "2012-03-01", 100_000, age=0), sale("new", "4", "2014-03-01", 700_000, age=2),
        sale("reno", "5", "2011-03-01", 200_000, age=50, eff_age=-2),
        sale("reno", "6", "2015-03-01", 800_000, age=54, eff_age=2),
    ])
    pairs = repeat_sale_pairs(sales)
    assert len(pairs) == 3
    kept = pairs.loc[leak_free(pairs), "parcel_id"].tolist()
    assert kept == ["ok"]


def test_deal_labels_are_excess_returns_over_the_index_and_inputs_predate_the_purchase() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(40):
        buy = pd.Timestamp("2011-01-15") + pd.DateOffset(months=int(rng.integers(0, 24)))
        sell = buy + pd.DateOffset(months=int(rng.integers(6, 30)))
        price = float(rng.uniform(200_000, 600_000))
        lat = 47.6 + float(rng.normal(0, 0.003))
        rows.append(sale(f"p{i}", f"b{i}", str(buy.date()), price, lat=lat, age=30))
        rows.append(sale(f"p{i}", f"s{i}", str(sell.date()), price * float(rng.uniform(0.9, 1.6)), lat=lat, age=30))
    sales = pd.DataFrame(rows)
    frame, threshold, counts = deal_training_frame(sales, CompsSettings(radius_m=5000),
                                                   AsOfIndexes(sales, min_sales=10))
    assert counts["labelled_pairs"] == 40 and frame["is_deal"].sum() == (frame["excess_return"] >= threshold).sum()
    assert frame["is_deal"].mean() == pytest.approx(0.25, abs=0.05)
    index = HedonicIndex.from_sales(sales, min_sales=10)
    first = frame.iloc[0]
    moved = index.level(pd.Series([first["resale_date"]]))[0] / index.level(pd.Series([first["sale_date"]]))[0]
    pair = sales.set_index("sale_id")
    ratio = pair.loc[f"s{first['parcel_id'][1:]}", "sale_price"] / pair.loc[f"b{first['parcel_id'][1:]}", "sale_price"]
    assert first["excess_return"] == pytest.approx(np.log(ratio) - np.log(moved))


def test_propensity_snapshots_see_only_earlier_sales_and_label_the_next_12_months() -> None:
    sales = pd.DataFrame([sale("a", "1", "2011-05-01", 300_000), sale("a", "2", "2012-03-01", 350_000),
                          sale("b", "3", "2011-02-01", 400_000), sale("c", "4", "2012-06-01", 500_000)])
    frame = propensity_frame(sales, AsOfIndexes(sales, min_sales=100),
                             snapshots=[pd.Timestamp("2012-01-01")]).set_index("parcel_id")
    assert set(frame.index) == {"a", "b"}  # c's first sale is after the snapshot: unknown then
    assert frame.loc["a", "sold_next_12m"] == 1 and frame.loc["b", "sold_next_12m"] == 0
    assert frame.loc["a", "years_since_last_sale"] == pytest.approx(0.67, abs=0.01)  # from 2011-05, not 2012-03
    assert frame.loc["a", "prior_sales"] == 1


def test_required_features_check_counts_nulls_nans_and_infinities() -> None:
    """The Great Expectations check counts what the features table must not hold: NULL, NaN and
    ±inf, in floats, nullable integers, objects and booleans."""
    from realestate_assets.assets.features import RequiredFeatures, expect_required

    frame = pd.DataFrame({
        "complete": [1.0, 2.0, 3.0, 4.0, 5.0],
        "nan_and_inf": [np.nan, np.inf, -np.inf, 1.0, 2.0],
        "ints_with_null": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        "ints": [1, 2, 3, 4, 5],
        "objects": [None, "a", np.nan, float("inf"), 1.5],
        "flags": [True, False, None, True, True],
    })
    assert expect_required(frame, list(frame.columns)) == {
        "success": False, "failed": {"nan_and_inf": 3, "ints_with_null": 1, "objects": 3, "flags": 1}}
    assert expect_required(frame, ["complete", "ints"]) == {"success": True, "failed": {}}
    # Over chunks (the asset hands each chunk over as it goes to the write; they are validated
    # in blocks of at least `block_rows`, the rest by `result`): the same counts, in column order
    # whichever chunk failed first, however the chunks fall into blocks.
    for block_rows in (1, 2, 3, 250_000):
        check = RequiredFeatures(list(frame.columns), block_rows=block_rows)
        for chunk in (frame.iloc[3:], frame.iloc[:0], frame.iloc[1:3], frame.iloc[:1]):
            check.validate(chunk)
        assert check.result() == expect_required(frame, list(frame.columns))
        assert check.result() == expect_required(frame, list(frame.columns))  # asked twice: counted once


def test_great_expectations_runs_in_the_process_s_worker_which_serves_one_check_after_another(
        tmp_path, monkeypatch) -> None:
    """GE's set-up and the validations run in a worker process (its import holds the GIL of the
    process it runs in): one per process, started ahead (`gx_worker.start`, the run's resource) or
    by the first check, kept for the next check once a check answered, ended when a check is left
    by the step's error; a second check while the first holds it gets its own, ended after it. A
    set-up that failed, or a worker that died, is raised where the step first waits for it: the
    check never passes silently."""
    import psutil

    from realestate_assets import gx_worker
    from realestate_assets.assets.features import RequiredFeatures

    frame = pd.DataFrame({"a": [1.0, np.nan]})

    def gone(worker: gx_worker.Worker) -> bool:
        return worker.process.returncode is not None and not psutil.pid_exists(worker.process.pid)

    ahead = gx_worker.start()
    assert psutil.Process(ahead.process.pid).ppid() == os.getpid()  # another process, started now
    first = RequiredFeatures(["a"])
    second = RequiredFeatures(["a"], block_rows=1)  # while `first` holds the process's worker
    assert first._worker is ahead and second._worker is not ahead
    own = second._worker
    for check in (first, second):
        check.validate(frame)
        assert check.result() == {"success": False, "failed": {"a": 1}}
        assert check.result() == {"success": False, "failed": {"a": 1}}  # still readable
    assert gone(own) and ahead.alive
    with RequiredFeatures(["a"]) as again:
        assert again._worker is ahead  # the next check, the same worker
        again.validate(frame.iloc[:1])
        assert again.result() == {"success": True, "failed": {}}

    with pytest.raises(KeyError), RequiredFeatures(["a"]) as left:  # the step fails mid-way
        left.validate(frame)
        raise KeyError("the step's own error")
    assert gone(ahead)
    replaced = gx_worker.start()
    assert replaced is not ahead and replaced.alive  # the next check's

    died = RequiredFeatures(["a"])
    died.validate(frame)
    replaced.process.kill()
    with pytest.raises(RuntimeError, match="worker process ended"):
        died.result()
    assert gone(replaced)

    fake = tmp_path / "great_expectations"  # the worker's GE fails to import
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('no great_expectations')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    try:
        for block_rows in (2, 3):
            check = RequiredFeatures(["a"], block_rows=block_rows)
            worker = check._worker
            with pytest.raises(ImportError, match="no great_expectations"):
                check.validate(frame)  # a full block (2 rows): raised here
                check.validate(frame.iloc[:0])  # less than a block: nothing validated yet
                check.result()  # ...and raised here
            assert gone(worker)
    finally:
        gx_worker.stop()


def test_the_great_expectations_worker_starts_with_the_run_s_first_computing_step_and_ends_after() -> None:
    """A run whose steps require `great_expectations` wants the worker (the in-process executor
    initializes the run's resources at its start); its first step that commits to computing
    (`gx_worker.prefetch`) starts it, so it is up before the validating step, and none is left
    after the run. A run whose steps compute nothing never starts one; nor does a run without such
    a step, though its steps compute."""
    import dagster as dg

    from realestate_assets import gx_worker
    from resources import GreatExpectationsResource

    gx_worker.stop()
    seen: dict[str, object] = {}

    def alive() -> bool:
        return gx_worker._shared is not None and gx_worker._shared.alive

    @dg.asset
    def computing() -> None:  # a step ahead of the one that validates, with work to do
        seen["before"] = alive()
        gx_worker.prefetch()
        seen["after"] = alive()

    @dg.asset(deps=[computing], required_resource_keys={"great_expectations"})
    def validating() -> None:
        seen["worker"] = gx_worker._shared

    @dg.asset
    def unchanged() -> None:  # its inputs as they were: no prefetch
        seen["unchanged"] = alive()

    @dg.asset(deps=[unchanged], required_resource_keys={"great_expectations"})
    def validating_unchanged() -> None:
        seen["validating_unchanged"] = alive()

    @dg.asset
    def other() -> None:
        gx_worker.prefetch()
        seen["other"] = gx_worker._shared

    resources = {"great_expectations": GreatExpectationsResource()}
    assert dg.materialize([computing, validating], resources=resources).success
    assert seen["before"] is False and seen["after"] is True
    worker = seen["worker"]
    assert isinstance(worker, gx_worker.Worker) and not worker.alive and gx_worker._shared is None
    assert dg.materialize([unchanged, validating_unchanged], resources=resources).success
    assert seen["unchanged"] is False and seen["validating_unchanged"] is False and gx_worker._shared is None
    assert dg.materialize([other], resources=resources).success
    assert seen["other"] is None


def test_a_flag_is_one_zero_or_missing_whatever_the_column_s_type() -> None:
    """`_flag`'s casts for a `bool` column and an all-missing one give the map's values exactly."""
    from realestate_assets.ml.features import _flag

    columns = [pd.Series([True, False, True], index=[5, 3, 9], name="w"), pd.Series([None, None], dtype=object),
               pd.Series([np.nan, None, pd.NA], dtype=object), pd.Series([True, None, False, 1, 0, "x"]),
               pd.Series([True, pd.NA, False], dtype="boolean"), pd.Series([], dtype=object),
               pd.Series([], dtype=bool), pd.Series([np.nan, np.nan])]
    for values in columns:
        expected = values.map({True: 1.0, False: 0.0}).astype(float)
        pd.testing.assert_series_equal(_flag(values), expected, check_exact=True)


def test_features_of_arrow_text_and_dates_are_those_of_objects() -> None:
    """The `features` asset reads its enrichment chunks with text and dates held by Arrow
    (`read_frames(arrow=True)`, issue 17): the same feature values as from objects, the text and
    the as-of date kept as Arrow's for the write."""
    from realestate_assets.db.copy_io import DATE_DTYPE, TEXT_DTYPE

    rows = [enrichment_row(f"k{i:02d}", last_sale_date=None if i % 4 == 0 else
                           pd.Timestamp(f"20{10 + i % 9}-03-0{1 + i % 5}").date(),
                           neighborhood=None if i % 6 == 0 else "15") for i in range(12)]
    rows[3]["status"] = "failed"  # not enriched: no feature row
    rows[5]["as_of_date"] = None  # no as-of date: the features that need one are missing
    objects = pd.DataFrame(rows)
    arrow = objects.astype({c: TEXT_DTYPE for c in ("prospect_key", "status", "use_type", "neighborhood")}
                           | {c: DATE_DTYPE for c in ("as_of_date", "last_sale_date")})
    locations = locations_by_key(pd.DataFrame({
        "prospect_key": [f"k{i:02d}" for i in range(12)][::-1], "latitude": 47.6, "longitude": -122.3,
        "list_price": 500_000.0, "list_date": pd.Timestamp("2016-06-01").date()}))
    expected = build_features(objects, locations, FlatIndex())
    got = build_features(arrow, locations, FlatIndex())
    assert got["prospect_key"].dtype == TEXT_DTYPE and got["as_of_date"].dtype == DATE_DTYPE
    kept = ["prospect_key", "as_of_date", "use_type", "neighborhood"]
    pd.testing.assert_frame_equal(got.drop(columns=kept), expected.drop(columns=kept), check_exact=True)
    for c in kept:
        assert [None if pd.isna(v) else v for v in got[c]] == [None if pd.isna(v) else v for v in expected[c]]
    assert len(got) == 11 and got["last_sale_price_indexed"].notna().sum() == 6  # leak guard, NULLs
