"""The AVM on real sales, its ratio study, SHAP reasons and the bird-dog score rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realestate_assets.config_models import load_counties
from realestate_assets.discovery.collect import collect_sales
from realestate_assets.ml.avm import AvmSettings, TrainedAvm, ratio_study, train_avm, training_fingerprint
from realestate_assets.ml.scoring import WEIGHTS, bird_dog_score, score_components, top_factors


@pytest.fixture(scope="module")
def king_sales() -> pd.DataFrame:
    return collect_sales(load_counties()["king_wa"]).rows


@pytest.fixture(scope="module")
def avm(king_sales: pd.DataFrame) -> TrainedAvm:
    return train_avm(king_sales, AvmSettings(num_boost_round=120))


def test_ratio_study_on_known_numbers() -> None:
    actual = np.array([100.0, 200.0, 300.0, 400.0])
    perfect = ratio_study(actual, actual)
    assert perfect["mdape_pct"] == 0 and perfect["cod"] == 0 and perfect["prd"] == pytest.approx(1.0)
    assert perfect["pe10_pct"] == 100
    off = ratio_study(actual * np.array([1.05, 0.95, 1.25, 1.0]), actual)
    assert off["pe10_pct"] == 75 and off["pe20_pct"] == 75
    assert off["mdape_pct"] == pytest.approx(5.0)


def test_avm_beats_a_naive_median_on_the_time_holdout(avm: TrainedAvm, king_sales: pd.DataFrame) -> None:
    metrics = avm.metrics
    assert metrics["n"] == len(king_sales) - int(len(king_sales) * 0.8)
    assert metrics["mdape_pct"] < 20 and metrics["cod"] < 25
    assert avm.holdout_start > avm.training_start
    holdout = king_sales.sort_values("sale_date").iloc[-metrics["n"]:]
    naive = ratio_study(np.full(len(holdout), king_sales["sale_price"].median()),
                        holdout["sale_price"].to_numpy())
    assert metrics["mdape_pct"] < naive["mdape_pct"] / 2


def test_artifact_round_trip_and_shap_contributions_add_up(avm: TrainedAvm,
                                                           king_sales: pd.DataFrame) -> None:
    from realestate_assets.ml.avm import training_frame

    frame = training_frame(king_sales.head(50))
    restored = TrainedAvm.from_bytes(avm.to_bytes())
    np.testing.assert_allclose(restored.predict(frame), avm.predict(frame))
    contributions = avm.contributions(frame)
    np.testing.assert_allclose(np.exp(contributions.sum(axis=1)), avm.predict(frame), rtol=1e-6)
    factors = top_factors(contributions, frame, n=3)
    assert len(factors) == 50 and all(len(f) == 3 for f in factors)
    assert "the estimate by" in factors[0][0]["text"]


def test_same_sales_and_settings_give_the_same_version(king_sales: pd.DataFrame) -> None:
    settings = AvmSettings()
    assert training_fingerprint(king_sales, settings) == training_fingerprint(
        king_sales.sample(frac=1.0, random_state=3), settings)
    assert training_fingerprint(king_sales, settings) != training_fingerprint(
        king_sales, AvmSettings(num_boost_round=301))


def test_score_rule_is_bounded_weighted_and_skips_unknown_components() -> None:
    features = pd.DataFrame({
        "last_sale_price_indexed": [100.0, 200.0, 300.0, np.nan],
        "years_since_last_sale": [10.0, 5.0, 1.0, 20.0],
        "comps_median_price_per_sqft": [1.0, 1.0, 1.0, np.nan],
        "living_sqft": [300.0, 300.0, 300.0, 300.0],
        "eff_age_years": [50.0, 30.0, 10.0, 40.0],
    })
    estimated = pd.Series([300.0, 300.0, 300.0, 300.0])
    components = score_components(features, estimated)
    score = bird_dog_score(components)
    assert score.between(0, 100).all()
    assert score.iloc[0] > score.iloc[1] > score.iloc[2]  # more equity, tenure and upside
    # Row 3 has no equity or confidence: its score uses tenure and upside only.
    tenure, upside = components.loc[3, "tenure"], components.loc[3, "upside"]
    expected = 100 * (WEIGHTS["tenure"] * tenure + WEIGHTS["upside"] * upside) / (
        WEIGHTS["tenure"] + WEIGHTS["upside"])
    assert score.iloc[3] == pytest.approx(expected, abs=0.01)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
