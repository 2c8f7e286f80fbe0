"""Issue 16, AVM bias and the re-indexed valuation, as pure functions: the deflated target, the
loss on it (squared or absolute error), the forecast's drift learned by rolling origin, and the
spatial residual correction — none of them reads anything dated on or after the sale it describes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.config_models import CompsSettings
from realestate_assets.market.index import HedonicIndex
from realestate_assets.ml.avm import (
    LOSSES,
    AvmSettings,
    TrainedAvm,
    deflator_level,
    drift_per_month,
    market_months,
    months_since_epoch,
    reindexed,
    rolling_drift,
    train_avm,
    training_frame,
)
from realestate_assets.ml.residuals import corrected, neighbour_residuals
from tests.scoring.helpers_scoring import sale

RULE = CompsSettings(radius_m=1200, max_comps=10, min_comps=3)


# ---- deflated target ------------------------------------------------------------------------------

def test_market_months_inverts_months_since_epoch() -> None:
    dates = pd.Series(pd.to_datetime(["2010-01-01", "2013-07-31", "2016-12-15"]))
    assert market_months(months_since_epoch(dates)).dt.strftime("%Y-%m-%d").tolist() == \
        ["2010-01-01", "2013-07-01", "2016-12-01"]


def test_the_deflator_level_is_the_index_at_the_market_date_clamped_to_its_months() -> None:
    index = HedonicIndex(pd.Series([1.0, 1.1, 1.2], index=pd.date_range("2014-01-01", periods=3, freq="MS")))
    frame = pd.DataFrame({"sale_months": months_since_epoch(pd.Series(pd.to_datetime(
        ["2013-06-10", "2014-02-20", "2014-03-01", "2015-09-01"])))})
    np.testing.assert_allclose(deflator_level(index, frame), [1.0, 1.1, 1.2, 1.2])
    np.testing.assert_allclose(deflator_level(None, frame), 1.0)  # log-price target: nothing divided


def test_a_deflated_avm_learns_the_house_and_the_index_carries_the_market() -> None:
    """Prices rise 2% a month: the deflated model's value follows the index to its last month and
    its artifact round-trips with the same values and SHAP sums."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(400):
        month = i % 36
        sqft = float(rng.uniform(900, 2500))
        date = (pd.Timestamp("2012-01-01") + pd.DateOffset(months=month, days=int(rng.integers(0, 27)))).date()
        rows.append(sale(f"p{i}", f"s{i}", str(date), 200.0 * sqft * 1.02 ** month * rng.lognormal(0, 0.05),
                         sqft=sqft, lat=47.6 + rng.uniform(0, 0.02), lon=-122.3 - rng.uniform(0, 0.02)))
    sales = pd.DataFrame(rows)
    avm = train_avm(sales, AvmSettings(num_boost_round=60, min_data_in_leaf=5, target="deflated"), compare=False)
    assert avm.selection["target"] == "deflated" and avm.deflator is not None
    restored = TrainedAvm.from_bytes(avm.to_bytes())
    frame = training_frame(sales.iloc[:30])
    np.testing.assert_allclose(restored.predict(frame), avm.predict(frame))
    contributions = restored.contributions(frame)
    np.testing.assert_allclose(np.exp(contributions.sum(axis=1)), avm.predict(frame), rtol=1e-6)


# ---- the loss on the target -------------------------------------------------------------------------

def _with_non_market_sales(n: int = 400, share: float = 0.25) -> tuple[pd.DataFrame, np.ndarray]:
    """Houses worth 200 $/sqft; a quarter of the recorded sales at half the value (family
    transfers, partial interests: what a recorded sales file holds). Returns the sales and which
    rows are at market."""
    rng = np.random.default_rng(11)
    rows, market = [], []
    for i in range(n):
        sqft = float(rng.uniform(900, 2500))
        date = (pd.Timestamp("2013-01-01") + pd.DateOffset(days=i // 2)).date()
        at_market = rng.uniform() >= share
        price = 200.0 * sqft * rng.lognormal(0, 0.04) * (1.0 if at_market else 0.5)
        rows.append(sale(f"p{i}", f"s{i}", str(date), price, sqft=sqft))  # one place: size is the house
        market.append(at_market)
    return pd.DataFrame(rows), np.array(market)


def test_the_absolute_loss_values_the_typical_sale_and_cv_chooses_it_over_non_market_sales() -> None:
    """Squared error on log price learns the mean, dragged down by the non-market quarter (at most
    ≈ 0.84× the market value); absolute error learns the median sale. Judged on houses the model
    never saw. With loss "auto" CV compares both and keeps the lower out-of-fold MdAPE; the chosen
    loss is the booster's objective."""
    sales, at_market = _with_non_market_sales(600)
    train, new = sales.iloc[:400], training_frame(sales.iloc[400:])
    new_at_market = at_market[400:]
    settings = {"num_boost_round": 100, "min_data_in_leaf": 40, "target": "log_price"}
    market_value = 200.0 * new["living_sqft"].to_numpy()[new_at_market]
    ratio = {}
    for loss in ("squared", "absolute"):
        avm = train_avm(train, AvmSettings(loss=loss, **settings), compare=False)
        assert avm.selection["loss"] == loss and avm.params["objective"] == LOSSES[loss]
        ratio[loss] = float(np.median(avm.predict(new)[new_at_market] / market_value))
    assert ratio["squared"] < 0.9 and abs(ratio["absolute"] - 1.0) < 0.03
    chosen = train_avm(train, AvmSettings(**settings), compare=False)
    by_loss = chosen.selection["cv_mdape_pct_by_loss"]
    assert set(by_loss) == set(LOSSES) and chosen.selection["loss"] == "absolute" == min(by_loss, key=by_loss.get)
    restored = TrainedAvm.from_bytes(chosen.to_bytes())
    np.testing.assert_allclose(restored.predict(new.iloc[:20]), chosen.predict(new.iloc[:20]))


def test_auto_loss_gives_the_squared_error_to_callers_that_do_not_choose() -> None:
    """The deal model's as-of AVMs (`final_booster`) take `params()` as configured: plain squared error."""
    assert AvmSettings().params()["objective"] == "regression"
    assert AvmSettings(loss="absolute").params()["objective"] == "regression_l1"


# ---- the forecast's drift -------------------------------------------------------------------------

def test_drift_is_the_median_slope_of_the_residuals_on_the_horizon() -> None:
    horizon = np.array([0, 1, 2, 3, 4, 6.0])
    residual = 0.01 * horizon  # the projection fell 1% a month short
    assert drift_per_month(residual, horizon) == pytest.approx(0.01)
    assert drift_per_month(np.array([0.3, -0.2]), np.array([0.0, 0.0])) == 0.0  # nothing past the last month
    outlier = np.append(residual, 5.0)  # one wild sale does not move a median
    assert drift_per_month(outlier, np.append(horizon, 2.0)) == pytest.approx(0.01)


def test_rolling_drift_of_a_fold_comes_from_the_earlier_folds_only() -> None:
    horizon = np.tile(np.arange(1, 5.0), 3)
    fold = np.repeat([0, 1, 2], 4)
    residual = np.concatenate([0.01 * horizon[:4], 0.03 * horizon[4:8], 9.0 * horizon[8:]])
    out = rolling_drift(residual, horizon, fold)
    assert np.isnan(out[:4]).all()                               # the first fold: no earlier fold
    assert out[4:8] == pytest.approx(0.01)                        # fold 1 from fold 0 only
    assert 0.01 <= out[8] <= 0.03 and np.unique(out[8:]).size == 1  # fold 2 never sees its own 9.0


# ---- spatial residual correction of the re-indexed mode ---------------------------------------------

def _window(n: int = 8) -> pd.DataFrame:
    return pd.DataFrame({"sale_date": pd.to_datetime([f"2016-01-{1 + i:02d}" for i in range(n)]),
                         "latitude": 47.6 + 1e-4 * np.arange(n), "longitude": np.full(n, -122.3)})


def test_neighbour_residuals_use_only_sales_strictly_before_each_sale() -> None:
    sales = _window()
    residual = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    out = neighbour_residuals(sales["latitude"], sales["longitude"], sales["sale_date"], residual, RULE)
    assert out[:3].tolist() == [0.0, 0.0, 0.0]                  # fewer than 3 earlier neighbours
    assert out[3] == pytest.approx(0.2)                          # median of 0.1, 0.2, 0.3
    assert out[7] == pytest.approx(np.median(residual[:7]))      # never its own or a later residual
    later = residual.copy()
    later[5:] = 99.0                                              # what happens after a sale changes nothing for it
    again = neighbour_residuals(sales["latitude"], sales["longitude"], sales["sale_date"], later, RULE)
    np.testing.assert_allclose(again[:6], out[:6])


def test_same_day_sales_and_far_sales_are_not_neighbours() -> None:
    sales = _window(6)
    sales.loc[3:, "sale_date"] = pd.Timestamp("2016-01-04")     # three sales on one day
    sales.loc[5, "latitude"] = 48.6                              # ~110 km away
    residual = np.array([0.1, 0.1, 0.1, 0.5, 0.5, 0.5])
    out = neighbour_residuals(sales["latitude"], sales["longitude"], sales["sale_date"], residual, RULE)
    assert out[3] == out[4] == pytest.approx(0.1) and out[5] == 0.0


def test_the_correction_is_shrunk_and_off_at_zero() -> None:
    sales = _window()
    values = np.full(8, 100.0)
    actual = np.full(8, 110.0)
    np.testing.assert_allclose(corrected(values, actual, sales["latitude"], sales["longitude"],
                                         sales["sale_date"], 0.0, RULE), values)
    half = corrected(values, actual, sales["latitude"], sales["longitude"], sales["sale_date"], 0.5, RULE)
    assert half[:3].tolist() == [100.0] * 3 and half[3:] == pytest.approx(100.0 * np.sqrt(1.1))
    factor = np.full(8, 1.05)
    np.testing.assert_allclose(reindexed(values, factor, sales, actual, 0.5, None), values * 1.05)  # no rule: none
    assert reindexed(values, factor, sales, actual * 1.05, 1.0, RULE)[3:] == pytest.approx(115.5)  # fully corrected
