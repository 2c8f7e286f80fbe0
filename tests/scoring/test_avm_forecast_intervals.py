"""Issue 16, valuation side, as pure functions: the market forecast on a synthetic series, the
conformal ranges' coverage on synthetic data, and the AVM's comps features without leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.config_models import CompsSettings
from realestate_assets.market.forecast import DampedTrend, MarketForecast, forecast_error, months_between
from realestate_assets.market.index import AsOfIndexes, HedonicIndex
from realestate_assets.ml.avm import COMPS_FEATURES, FrozenMarket, blend, training_frame, with_asof_comps
from realestate_assets.ml.intervals import PriceBandIntervals, conformal_bounds, interval_metrics
from tests.scoring.helpers_scoring import sale


def monthly(values: np.ndarray, start: str = "2010-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))


# ---- forecast -------------------------------------------------------------------------------------

def test_damped_trend_recovers_a_steady_trend_and_damps_it_with_the_horizon() -> None:
    rng = np.random.default_rng(1)
    log_levels = monthly(0.01 * np.arange(60) + rng.normal(0, 0.002, 60))  # +1% a month, a little noise
    model = DampedTrend.fit(log_levels)
    assert model.trend == pytest.approx(0.01, abs=0.002)
    assert model.last_month == "2014-12-01" and model.fitted_months == 60
    steps = model.forecast(np.arange(0, 37))
    assert steps[0] == 0 and np.all(np.diff(steps) > 0)          # still rising...
    assert np.all(np.diff(steps, 2) <= 1e-12)                     # ...ever more slowly (φ ≤ 1)
    bound = model.phi / (1 - model.phi) * model.trend if model.phi < 1 else np.inf
    assert steps[-1] <= bound + 1e-12                             # bounded: a hot year is not extrapolated for ever
    assert model.forecast(np.array([-3.0]))[0] == 0               # before the last month: no change


def test_a_flat_or_short_series_is_projected_flat() -> None:
    assert DampedTrend.fit(monthly(np.full(30, 0.2))).forecast(np.array([12.0]))[0] == pytest.approx(0, abs=1e-9)
    short = DampedTrend.fit(monthly(np.linspace(0, 0.1, 6)))
    assert short.forecast(np.array([12.0]))[0] == 0


def test_the_forecast_is_fitted_on_the_index_months_only_and_reports_its_own_error() -> None:
    rising = monthly(np.exp(0.01 * np.arange(48)))
    index = HedonicIndex(rising / rising.iloc[0])
    before = HedonicIndex(index.by_month.loc[:"2012-12-01"])  # what a cut-off of 2013-01-01 knows
    forecast = MarketForecast.from_index(before)
    assert forecast.last_month == pd.Timestamp("2012-12-01")
    dates = pd.Series(pd.to_datetime(["2012-11-15", "2012-12-20", "2013-06-10", "2013-12-31"]))
    factor = forecast.factor(dates)
    assert factor[0] == factor[1] == 1.0 and 1.0 < factor[2] < factor[3]
    assert months_between(pd.Timestamp("2012-12-01"), dates).tolist() == [-1, 0, 6, 12]
    table = forecast_error(forecast, index, dates)
    assert list(table["horizon_months"]) == [-1, 0, 6, 12]
    last = table.iloc[-1]
    assert last["realized_change_pct"] == pytest.approx((np.exp(0.12) - 1) * 100)
    assert abs(last["error_pct"]) < abs(last["flat_error_pct"])  # a steady trend: projecting beats holding flat
    restored = MarketForecast.from_dict(forecast.to_dict())
    np.testing.assert_allclose(restored.factor(dates), factor)


def test_a_month_not_over_at_the_cutoff_does_not_bend_the_trend() -> None:
    levels = np.exp(0.01 * np.arange(36))
    levels[-1] *= 0.85  # the last month has three days of sales: a noisy, low level
    index = HedonicIndex(monthly(levels))
    face = MarketForecast.from_index(index)  # taken at face value, the low month drags the projection down
    forecast = MarketForecast.from_index(index, cutoff=pd.Timestamp("2012-12-04"))
    a_year_on = (face.model.level + face.model.forecast(np.array([12.0]))[0],
                 forecast.model.level + forecast.model.forecast(np.array([13.0]))[0])
    assert a_year_on[0] < np.log(levels[-2]) < a_year_on[1]
    assert forecast.last_month == pd.Timestamp("2012-11-01") and forecast.model.trend > 0.005
    assert forecast.factor(pd.Series([pd.Timestamp("2012-12-20")]))[0] > 1.0  # one month on from November
    over = MarketForecast.from_index(index, cutoff=pd.Timestamp("2013-01-01"))  # December is over: it counts
    assert over.last_month == pd.Timestamp("2012-12-01")


# ---- conformal ranges ------------------------------------------------------------------------------

def test_conformal_bounds_are_the_finite_sample_ranks() -> None:
    r = np.arange(1.0, 20.0)  # n = 19: lo = ⌊20·0.1⌋ = 2nd, hi = ⌈20·0.9⌉ = 18th smallest
    assert conformal_bounds(r, 0.8) == (2.0, 18.0)
    assert conformal_bounds(np.array([0.1, 0.2]), 0.8) == (-np.inf, np.inf)  # too few: no finite range


def test_ranges_cover_80_percent_of_new_data_in_every_price_band() -> None:
    rng = np.random.default_rng(7)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        estimate = np.exp(rng.uniform(np.log(2e5), np.log(2e6), n))
        sigma = np.where(estimate > 1e6, 0.25, 0.10)  # dearer houses are harder to value
        return estimate, estimate * np.exp(rng.normal(0.02, sigma))

    calibration = PriceBandIntervals.fit(*draw(4000))
    assert len(calibration.edges) == 3 and sum(calibration.counts) == 4000
    estimate, actual = draw(40_000)
    low, high = calibration.bounds(estimate)
    overall = interval_metrics(low, high, estimate, actual)
    assert 78 <= overall["coverage_pct"] <= 82
    band = np.searchsorted(calibration.edges, estimate, side="right")
    for b in range(4):
        inside = (actual[band == b] >= low[band == b]) & (actual[band == b] <= high[band == b])
        assert 0.77 <= inside.mean() <= 0.83, b
    widths = (high - low) / estimate
    assert np.median(widths[estimate > 1.2e6]) > 2 * np.median(widths[estimate < 8e5])  # by band, not one width
    per_band = calibration.by_band(low, high, estimate, actual)
    assert [b["n"] for b in per_band] == [int((band == b).sum()) for b in range(4)]
    assert all(77 <= b["coverage_pct"] <= 83 for b in per_band)
    restored = PriceBandIntervals.from_dict(calibration.to_dict())
    np.testing.assert_allclose(restored.bounds(estimate)[0], low)


def test_few_residuals_give_fewer_bands_and_missing_estimates_no_range() -> None:
    ranges = PriceBandIntervals.fit(np.full(120, 5e5), np.full(120, 5e5) * np.linspace(0.8, 1.2, 120))
    assert len(ranges.counts) == 2  # 120 residuals, 50 a band at least
    low, high = ranges.bounds(np.array([np.nan, 5e5]))
    assert np.isnan(low[0]) and np.isnan(high[0]) and low[1] < 5e5 < high[1]
    tiny = PriceBandIntervals.fit(np.full(5, 5e5), np.full(5, 5e5) * np.linspace(0.9, 1.1, 5))
    assert all(np.isnan(tiny.bounds(np.array([5e5]))))  # no finite range from 5 residuals: none, not ±∞


def test_blend_is_geometric_and_keeps_the_model_value_without_comps() -> None:
    out = blend(np.array([400.0, 400.0]), np.array([100.0, np.nan]), 0.5)
    np.testing.assert_allclose(out, [200.0, 400.0])
    np.testing.assert_allclose(blend(np.array([400.0]), np.array([100.0]), 1.0), [400.0])


# ---- comps features without leakage ----------------------------------------------------------------

def neighbourhood() -> pd.DataFrame:
    rows = [sale(f"p{i}", f"s{i}", f"2014-{1 + i % 12:02d}-15", 300_000 + 10_000 * i, lat=47.6 + i * 1e-4)
            for i in range(12)]
    rows += [sale("p0", "s0b", "2015-03-01", 450_000, lat=47.6)]  # a resale of p0
    rows += [sale(f"q{i}", f"t{i}", f"2015-0{1 + i}-10", 900_000, lat=47.6 + i * 1e-4) for i in range(4)]
    return pd.DataFrame(rows).sort_values("sale_date", kind="stable").reset_index(drop=True)


def test_comps_features_come_only_from_other_parcels_sales_before_each_sale() -> None:
    sales = neighbourhood()
    rule = CompsSettings(radius_m=1200, window_months=24, sqft_tolerance=0.35, max_comps=10, min_comps=3)
    frame = with_asof_comps(training_frame(sales), sales, rule, AsOfIndexes(sales, min_sales=1000))
    assert set(COMPS_FEATURES) <= set(frame.columns)
    first = sales.index[sales["sale_id"] == "s0"][0]  # 2014-01-15: nothing sold before it
    assert frame.loc[first, "comps_count"] == 0 and np.isnan(frame.loc[first, "comps_value"])
    # Changing every sale on or after a sale's date (its own price included) changes nothing of its comps.
    for target in range(len(sales)):
        later = pd.to_datetime(sales["sale_date"]) >= pd.to_datetime(sales.loc[target, "sale_date"])
        changed = sales.assign(sale_price=sales["sale_price"].where(~later, sales["sale_price"] * 3))
        again = with_asof_comps(training_frame(changed), changed, rule, AsOfIndexes(changed, min_sales=1000))
        np.testing.assert_array_equal(again.loc[target, COMPS_FEATURES].to_numpy(dtype=float),
                                      frame.loc[target, COMPS_FEATURES].to_numpy(dtype=float))
    # The resale of p0 counts the other parcels' earlier sales, never p0's own first sale.
    resale = sales.index[sales["sale_id"] == "s0b"][0]
    others = ((pd.to_datetime(sales["sale_date"]) < pd.Timestamp("2015-03-01")) & (sales["parcel_id"] != "p0")
              & (sales["sale_price"] < 800_000)).sum()
    assert frame.loc[resale, "comps_count"] == min(others + 2, 10)  # + q0, q1 (sold in Jan/Feb 2015)


def test_a_frozen_market_values_later_sales_with_what_was_known_at_the_cutoff() -> None:
    sales = neighbourhood()
    known = sales.loc[pd.to_datetime(sales["sale_date"]) < pd.Timestamp("2015-01-01")]
    later = sales.loc[pd.to_datetime(sales["sale_date"]) >= pd.Timestamp("2015-01-01")]
    rule = CompsSettings(radius_m=1200, window_months=24, sqft_tolerance=0.35, max_comps=10, min_comps=3)
    inputs = FrozenMarket.of(known).inputs(later, rule)
    assert (inputs["sale_months"] == inputs["sale_months"].iloc[0]).all()  # the market date is frozen
    assert (inputs["comps_count"] == 10).all()  # only the 12 sales of 2014 are candidates, p0's own excluded
    assert inputs["comps_value"].lt(500_000).all()  # none of the 2015 sales at 900k is used
