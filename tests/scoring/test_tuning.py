"""One tuner for the AVM and the classifiers, its search spaces from config/scoring.yaml."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from realestate_assets.config_models import ScoringConfig, SearchRange, load_scoring
from realestate_assets.ml.pipeline import avm_settings, classifier_settings
from realestate_assets.ml.tuning import optuna_search, search_space


def test_search_spaces_come_from_scoring_yaml_and_are_validated() -> None:
    scoring = load_scoring()
    assert scoring.search_spaces == ScoringConfig().search_spaces  # the file states the defaults
    assert avm_settings(scoring).space == search_space("avm", scoring)
    assert classifier_settings(scoring, 4).space["num_leaves"] == {"low": 3, "high": 31, "log": False,
                                                                   "integer": True, "step": None}
    with pytest.raises(ValidationError):
        SearchRange(low=5, high=1)
    with pytest.raises(ValidationError):
        SearchRange(low=0.1, high=1, log=True, step=0.1)
    with pytest.raises(ValidationError):
        ScoringConfig.model_validate({"search_spaces": {"avm": {"num_leaves": {"low": 2}}}})


def test_the_configured_settings_are_the_first_trial_moved_onto_the_ranges() -> None:
    seen: list[dict] = []

    def objective(params: dict) -> float:
        seen.append(params)
        return abs(params["num_leaves"] - 20) + params["learning_rate"]

    # With the optional depth range (config/scoring.yaml: not searched by default).
    space = search_space("avm") | {"max_depth": {**search_space("avm")["num_leaves"], "low": 4, "high": 8}}
    first = {"num_leaves": 200, "learning_rate": 0.05, "lambda_l2": 0.0, "num_boost_round": 333,
             "min_data_in_leaf": 20, "feature_fraction": 1.0, "max_depth": math.inf}  # (the AVM's `tune`)
    best, summary = optuna_search(objective, space, first, trials=6, seed=1, direction="minimize")
    # LightGBM's "no depth limit" is the depth range's deepest.
    assert seen[0] == {"num_leaves": 63, "learning_rate": 0.05, "lambda_l2": 0.001, "num_boost_round": 350,
                       "min_data_in_leaf": 20, "feature_fraction": 1.0, "max_depth": 8}
    assert summary["trials"] == 6 and summary["first_trial"] == pytest.approx(43.05)
    assert summary["best"] <= summary["first_trial"] and set(best) == set(space)
    for params in seen:
        assert 7 <= params["num_leaves"] <= 63 and params["num_boost_round"] % 50 == 0
        assert 4 <= params["max_depth"] <= 8
