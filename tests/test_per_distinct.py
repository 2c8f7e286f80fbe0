"""ml/avm.per_distinct: a row-by-row function computed once per distinct row gives the
same values as computed row by row (scores' chunks: docs/scale.md, thirtieth round (b), thirty-second round (c))."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from realestate_assets.market.forecast import DampedTrend, MarketForecast
from realestate_assets.ml.avm import _months_since_epoch, drift_factor, months_since_epoch, per_distinct
from realestate_assets.ml.deal import _last_sale_month


def test_one_column_of_dates_with_missing_values_and_a_shuffled_index() -> None:
    dates = pd.Series([dt.date(2016, 12, 22), None, dt.date(2016, 12, 22), dt.date(2015, 1, 31), None] * 7,
                      index=np.arange(35)[::-1] + 100)
    expected = _months_since_epoch(dates)
    got = months_since_epoch(dates)
    np.testing.assert_array_equal(got, expected)  # NaN where a date is missing, on both sides
    assert got.dtype == np.float64


def test_two_columns_taken_together_as_datetime64_or_objects() -> None:
    as_of = pd.Series([dt.date(2016, 12, 22), dt.date(2017, 3, 1)] * 10, index=range(50, 70))
    years = pd.Series([0.0, 1.5, np.nan, 3.25, -0.0] * 4, index=range(50, 70))
    expected = _last_sale_month(as_of, years)
    np.testing.assert_array_equal(per_distinct(_last_sale_month, as_of, years), expected)
    np.testing.assert_array_equal(per_distinct(_last_sale_month, pd.to_datetime(as_of), years), expected)


def test_the_forecast_factor_with_few_and_with_all_distinct_dates() -> None:
    forecast = MarketForecast(DampedTrend(0.5, 0.1, 0.9, 0.0, 0.004, "2016-06-01", 24))

    def factor(dates: np.ndarray) -> np.ndarray:  # TrainedAvm.estimate's, row by row
        return forecast.factor(dates) * drift_factor(0.002, forecast.horizon(dates))

    few = np.array(["2016-12-22", "2017-01-05", "2016-12-22", "2016-03-01"] * 5, dtype="datetime64[ns]")
    all_distinct = pd.date_range("2015-01-01", periods=40, freq="17D").to_numpy()
    for dates in (few, all_distinct, few[:1], few[:0], pd.Series(few, index=np.arange(20)[::-1])):
        np.testing.assert_array_equal(per_distinct(factor, dates), factor(dates))
