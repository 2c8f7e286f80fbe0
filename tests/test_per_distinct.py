"""market/index.per_distinct: a row-by-row function computed once per distinct row gives the
same values as computed row by row (scores' chunks: docs/scale.md, thirtieth round (b))."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from realestate_assets.market.forecast import months_between
from realestate_assets.market.index import per_distinct
from realestate_assets.ml.avm import _months_since_epoch, months_since_epoch
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


def test_months_between_with_few_and_with_all_distinct_dates() -> None:
    start = pd.Timestamp("2016-06-01")
    few = np.array(["2016-12-22", "2017-01-05", "2016-12-22", None] * 5, dtype=object)
    all_distinct = pd.date_range("2015-01-01", periods=40, freq="17D").to_numpy()
    for dates in (few, all_distinct, few[:1], few[:0]):
        months = pd.Series(pd.to_datetime(dates)).dt.to_period("M").dt.to_timestamp()
        expected = ((months.dt.year - start.year) * 12 + (months.dt.month - start.month)).to_numpy(dtype=float)
        np.testing.assert_array_equal(months_between(start, dates), expected)
