"""Issue 16, on hand-made frames: the bare deal model, the deal-ranking report, the listed-property
score (the deal component alone), and the sale-propensity signals computed without leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.enrich.market import CompsSettings
from realestate_assets.ml.deal import (
    BareDealModel,
    block_turnover,
    fit_bare_deal_model,
    propensity_frame,
    propensity_inputs,
    propensity_inputs_from_features,
)
from realestate_assets.ml.deal_eval import deal_ranking_report, ranking_metrics
from realestate_assets.ml.market_index import AsOfIndexes
from realestate_assets.ml.scoring import (
    LISTED_WEIGHTS,
    MODEL_WEIGHTS,
    bird_dog_score,
    model_bird_dog_score,
    score_composition,
)
from tests.scoring.helpers_scoring import sale

RULE = CompsSettings(radius_m=2000, window_months=24, sqft_tolerance=0.5, max_comps=10, min_comps=1)


def pairs_frame(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Deals are likelier the further below comps the price was."""
    rng = np.random.default_rng(seed)
    ratio = np.exp(rng.normal(0, 0.15, n))
    p = 1 / (1 + np.exp(-(-8 * np.log(ratio) - 1.2)))
    return pd.DataFrame({"price_to_comps": ratio, "is_deal": (rng.random(n) < p).astype(int)})


def test_bare_deal_model_learns_cheaper_is_likelier_and_gives_unknowns_the_base_rate() -> None:
    frame = pairs_frame()
    bare = fit_bare_deal_model(frame)
    assert bare.coef < 0  # below comps → deal
    p = bare.predict_proba(pd.DataFrame({"price_to_comps": [0.8, 1.0, 1.2, np.nan, -1.0]}))
    assert p[0] > p[1] > p[2]
    assert p[3] == p[4] == pytest.approx(frame["is_deal"].mean())
    assert BareDealModel(**bare.as_dict()) == bare  # stored with the deal model, rebuilt by the backtest
    one_class = fit_bare_deal_model(frame.assign(is_deal=0))
    assert one_class.coef == 0.0 and one_class.predict_proba(frame) == pytest.approx(0.0, abs=1e-5)


def test_ranking_metrics_top_shares_and_missing_scores() -> None:
    y = np.array([1] * 10 + [0] * 90)
    score = np.r_[np.linspace(1, 0.9, 10), np.linspace(0.5, 0, 90)]
    m = ranking_metrics(y, score)
    assert m["auc"] == 1.0 and m["precision_at_top5_pct"] == 1.0 and m["precision_at_top10_pct"] == 1.0
    assert ranking_metrics(y, np.where(np.arange(100) < 5, np.nan, score))["n"] == 95


def test_report_says_what_each_component_adds_or_costs() -> None:
    frame = pairs_frame(300)
    y = frame["is_deal"].to_numpy()
    bare = fit_bare_deal_model(frame)
    rng = np.random.default_rng(3)
    components = pd.DataFrame({"deal": -frame["price_to_comps"], "propensity": np.nan,
                               "equity": rng.random(len(frame)), "confidence": rng.random(len(frame))}).rank(pct=True)
    signals = pd.DataFrame({"deal_probability": bare.predict_proba(frame), "bare_deal_probability":
                            bare.predict_proba(frame), "bird_dog_score": model_bird_dog_score(components)})
    report = deal_ranking_report(y, signals, components, MODEL_WEIGHTS)
    assert set(report["components_alone"]) == {"deal", "equity", "confidence"}  # propensity: never present
    # Noise components cost ranking quality in a fixed blend; the listed score does not blend them.
    assert report["blend_of_all_components"]["auc"] < report["components_alone"]["deal"]["auc"]
    assert report["bird_dog_score"]["auc"] == pytest.approx(report["deal_model"]["auc"])
    assert report["bird_dog_score_auc_minus_bare"] == pytest.approx(0.0)
    assert report["blend_without"]["equity"]["auc"] > report["blend_of_all_components"]["auc"]
    assert sum(b["n"] for b in report["deal_model"]["reliability"]) == len(frame)
    assert {"brier", "log_loss", "precision_at_top5_pct"} <= set(report["bare_deal_model"])


def test_a_listed_property_is_scored_on_its_deal_component_alone() -> None:
    components = pd.DataFrame({
        "deal": [0.9, 0.2, np.nan, np.nan], "propensity": [0.1, 0.9, 0.5, 0.9],
        "equity": [0.1, 0.9, 0.5, 0.9], "confidence": [0.1, 0.9, 0.5, 0.9]})
    score = model_bird_dog_score(components)
    assert score[0] == 90.0 and score[1] == 20.0  # the blend would have put row 1 first
    unlisted = components.loc[2:]
    assert score[2:].tolist() == bird_dog_score(unlisted, MODEL_WEIGHTS).tolist()
    listed = score_composition(components.loc[0].to_dict(), listed=True, suspect=None, has_sale=True)
    assert [c["name"] for c in listed] == list(LISTED_WEIGHTS) and listed[0]["effective_weight"] == 1.0
    off_market = score_composition(components.loc[2].to_dict(), listed=False, suspect=None, has_sale=True)
    assert [c["name"] for c in off_market] == list(MODEL_WEIGHTS)


def neighbourhood() -> pd.DataFrame:
    return pd.DataFrame([
        sale("a", "1", "2011-03-15", 300_000, sqft=1000),
        sale("b", "2", "2012-05-01", 400_000, sqft=1000, lon=-122.301),
        sale("c", "3", "2012-09-01", 420_000, sqft=1000, lon=-122.302),
        sale("d", "4", "2013-02-01", 900_000, sqft=1000, lon=-122.303),  # after the snapshot
        sale("a", "5", "2013-03-01", 999_000, sqft=1000),  # a's resale: after the snapshot
        sale("far", "6", "2012-08-01", 500_000, sqft=1000, lat=47.9),
    ])


def test_propensity_signals_use_only_sales_before_the_snapshot() -> None:
    sales = neighbourhood()
    as_of = pd.Timestamp("2013-01-01")
    indexes = AsOfIndexes(sales, min_sales=100)
    x = propensity_inputs(sales.loc[pd.to_datetime(sales["sale_date"]) < as_of], as_of, indexes, RULE)
    x = x.set_index("parcel_id")
    assert set(x.index) == {"a", "b", "c", "far"}
    assert x.loc["a", "last_sale_month"] == 3
    moved = x.loc["a", "last_price_per_sqft_indexed"] * 1000
    assert x.loc["a", "gain_since_purchase_pct"] == pytest.approx((moved / 300_000 - 1) * 100)
    assert np.isfinite(x.loc["a", "last_price_to_comps_value"])
    # The frame builder hands each snapshot only earlier sales: d's sale and a's resale change nothing.
    frame = propensity_frame(sales, indexes, snapshots=[as_of], rule=RULE).set_index("parcel_id")
    pd.testing.assert_series_equal(frame.loc["a", x.columns], x.loc["a"], check_names=False)
    assert frame.loc["a", "sold_next_12m"] == 1
    without_rule = propensity_inputs(sales.loc[pd.to_datetime(sales["sale_date"]) < as_of], as_of, indexes)
    assert without_rule["last_price_to_comps_value"].isna().all()


def test_scoring_inputs_match_the_training_inputs() -> None:
    features = pd.DataFrame([{
        "living_sqft": 1000.0, "lot_sqft": 4000.0, "beds": 3.0, "baths": 2.0, "bldg_grade": 7.0, "age_years": 20.0,
        "eff_age_years": 20.0, "waterfront": 0.0, "latitude": 47.6, "longitude": -122.3, "use_type": "sfr",
        "as_of_date": pd.Timestamp("2016-06-30").date(), "years_since_last_sale": 4.0, "market_trend_12m_pct": 5.0,
        "sale_count": 2.0, "last_sale_price": 300_000.0, "last_sale_price_indexed": 390_000.0,
        "last_price_to_comps_value": 0.95}])
    x = propensity_inputs_from_features(features).iloc[0]
    assert x["gain_since_purchase_pct"] == pytest.approx(30.0)
    assert x["last_price_per_sqft_indexed"] == pytest.approx(390.0)
    assert x["last_price_to_comps_value"] == 0.95 and x["prior_sales"] == 2.0
    assert x["last_sale_month"] == 6  # 2016-06-30 minus four years


def test_block_turnover_counts_recent_sales_per_known_parcel_nearby_without_leaking() -> None:
    sales = neighbourhood()
    as_of = pd.Timestamp("2013-01-01")
    here = pd.DataFrame({"latitude": [47.6, 47.9, 10.0], "longitude": [-122.3, -122.3, 10.0]})
    turnover = block_turnover(here, sales, as_of, radius_m=400, months=24)
    assert turnover[0] == pytest.approx(3 / 3)  # a, b, c known nearby; their 3 sales all within 24 months
    assert turnover[1] == pytest.approx(1.0)
    assert np.isnan(turnover[2])  # nobody known there
    assert block_turnover(here, sales, as_of, radius_m=400, months=12)[0] == pytest.approx(2 / 3)


def test_asof_avm_values_never_see_the_sale_they_value_or_anything_later() -> None:
    from realestate_assets.ml.avm import AvmSettings
    from realestate_assets.ml.deal import asof_avm_values

    rng = np.random.default_rng(5)
    history = [sale(f"p{i}", f"h{i}", f"2011-{1 + i % 12:02d}-15", 200.0 * sqft, sqft=sqft, lat=47.6 + i * 1e-4)
               for i, sqft in enumerate(rng.uniform(800, 2500, 120).round())]
    later = [sale("x", "x1", "2012-05-01", 300_000, sqft=1500), sale("y", "y1", "2012-08-01", 250_000, sqft=1200),
             sale("z", "z1", "2010-06-01", 100_000, sqft=1000)]
    sales = pd.DataFrame(history + later)
    rows = pd.DataFrame(later)
    settings = AvmSettings(num_boost_round=30, min_data_in_leaf=5)
    values = asof_avm_values(rows, sales, AsOfIndexes(sales, min_sales=100), settings, min_sales=50)
    assert np.isnan(values[2])  # 2010: no earlier history
    assert np.isfinite(values[:2]).all() and (values[:2] > 0).all()
    # A row's own price and every sale after it are not in what values it (earlier sales of other
    # parcels move the index to the row's month, as in the backtest: that is known then).
    def revalued(changes: dict[str, float], extra: list[dict]) -> np.ndarray:
        changed = sales.copy()
        for sale_id, price in changes.items():
            changed.loc[changed["sale_id"] == sale_id, "sale_price"] = price
        changed = pd.concat([changed, pd.DataFrame(extra)], ignore_index=True)
        return asof_avm_values(rows, changed, AsOfIndexes(changed, min_sales=100), settings, min_sales=50)

    after_both = [sale("w", "w1", "2012-11-01", 9_000_000, sqft=1400)]
    np.testing.assert_allclose(revalued({"y1": 5_000_000}, after_both)[:2], values[:2])
    assert revalued({"x1": 5_000_000}, after_both)[0] == pytest.approx(values[0])


def test_the_asof_avm_is_the_untuned_avms_final_booster_without_its_other_fits() -> None:
    from dataclasses import replace

    from realestate_assets.ml.avm import AvmSettings, final_booster, train_avm, training_frame

    rng = np.random.default_rng(3)
    sales = pd.DataFrame([sale(f"p{i}", f"h{i}", f"201{1 + i % 3}-{1 + i % 12:02d}-15", 200.0 * sqft, sqft=sqft,
                               lat=47.6 + i * 1e-4) for i, sqft in enumerate(rng.uniform(800, 2500, 150).round())])
    settings = AvmSettings(num_boost_round=30, min_data_in_leaf=5, trials=4)
    frame = training_frame(sales.iloc[:20])
    full = train_avm(sales, replace(settings, trials=0, target="log_price", loss="squared"), compare=False)
    np.testing.assert_array_equal(final_booster(sales, settings)(frame), full.predict(frame))
    with pytest.raises(ValueError, match="at least 50 sales"):
        final_booster(sales.iloc[:49], settings)


def test_deal_inputs_at_scoring_compare_the_asking_price_with_the_estimate() -> None:
    from realestate_assets.ml.deal import deal_inputs_from_features

    features = pd.DataFrame([{
        "living_sqft": 1000.0, "lot_sqft": 4000.0, "beds": 3.0, "baths": 2.0, "bldg_grade": 7.0, "age_years": 20.0,
        "eff_age_years": 20.0, "waterfront": 0.0, "latitude": 47.6, "longitude": -122.3, "use_type": "sfr",
        "comps_count": 5.0, "comps_value_spread_pct": 10.0, "market_trend_12m_pct": 5.0,
        "comps_median_price_per_sqft": 300.0, "list_price": 270_000.0}])
    x = deal_inputs_from_features(features, pd.Series([300_000.0])).iloc[0]
    assert x["price_to_avm"] == pytest.approx(0.9) and x["price_to_comps"] == pytest.approx(0.9)
    assert np.isnan(deal_inputs_from_features(features).iloc[0]["price_to_avm"])


def test_a_reason_words_the_last_price_against_comps_as_a_percentage() -> None:
    """A driver's text reads as the memo's value table does: a ratio as a percentage, not 0.485532."""
    from realestate_assets.ml.scoring import _driver_text

    assert _driver_text("last_price_to_comps_value", 0.485532, {}) == (
        "last sale price in today's money 51% below the comparable sales")
    assert _driver_text("last_price_to_comps_value", 1.2, {}) == (
        "last sale price in today's money 20% above the comparable sales")
