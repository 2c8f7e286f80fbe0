"""ml/treeshap.py: the explained rows' SHAP contributions are LightGBM's `pred_contrib`, to the bit."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from realestate_assets.ml import treeshap


def _frame(rows: int, seed: int) -> pd.DataFrame:
    """Numbers with NaNs, exact zeros and values within LightGBM's zero threshold; a category with
    missing values; repeated rows (the memo's hits) beside distinct ones."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "a": rng.normal(size=rows), "b": rng.integers(0, 6, rows).astype(float), "c": rng.uniform(-1, 1, rows),
        "d": rng.choice([0.0, 1.0, 2.5, np.nan], rows), "e": rng.normal(size=rows).round(1),
        "kind": pd.Categorical(rng.choice(["x", "y", "z", "w", None], rows), categories=["w", "x", "y", "z"]),
    })
    frame.loc[frame.sample(frac=0.1, random_state=seed).index, "a"] = np.nan
    frame.loc[frame.sample(frac=0.05, random_state=seed + 1).index, "c"] = 1e-40  # within kZeroThreshold
    frame.loc[frame.sample(frac=0.05, random_state=seed + 2).index, "c"] = 0.0
    return pd.concat([frame, frame.iloc[: rows // 4]], ignore_index=True)


def _target(frame: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kind = frame["kind"].cat.codes.to_numpy()
    return (np.nan_to_num(frame["a"].to_numpy()) * 2 + frame["b"].to_numpy() * (kind == 1)
            + np.sin(frame["c"].to_numpy() * 4) + np.nan_to_num(frame["d"].to_numpy()) + rng.normal(size=len(frame)))


@pytest.mark.parametrize(("objective", "params"), [
    ("regression", {}),
    ("regression_l1", {"num_leaves": 54, "min_data_in_leaf": 3}),  # deep, as the tuned AVM
    ("regression", {"num_leaves": 100, "min_data_in_leaf": 2}),  # past 64 leaves: no decision-vector memo
    ("binary", {}),
    ("regression", {"zero_as_missing": True}),  # missing type Zero
    ("regression", {"use_missing": False}),  # missing type None: NaN taken as 0
    ("regression", {"max_cat_to_onehot": 8}),  # one-hot categorical splits
])
def test_contributions_are_lightgbms_to_the_bit(objective: str, params: dict) -> None:
    train = _frame(800, 1)
    y = _target(train, 2)
    if objective == "binary":
        y = (y > np.median(y)).astype(float)
    booster = lgb.train({"objective": objective, "verbose": -1, "seed": 3, "num_leaves": 31, "min_data_in_leaf": 5,
                         "min_data_per_group": 5, "cat_smooth": 1, **params},
                        lgb.Dataset(train, y, categorical_feature=["kind"]), num_boost_round=60)
    booster = lgb.Booster(model_str=booster.model_to_string())  # as the artifacts are loaded
    rows = _frame(600, 4)  # rows never trained on, unseen values included
    expected = booster.predict(rows, pred_contrib=True)
    got = treeshap.contributions(booster, rows)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)  # every value and the expected value (the last column), bit for bit
    assert np.array_equal(treeshap.contributions(booster, rows.iloc[::-1]), expected[::-1])  # per row


def test_models_it_does_not_reproduce_are_left_to_lightgbm() -> None:
    train = _frame(400, 5).drop(columns="kind")
    y = _target(_frame(400, 5), 6)
    multiclass = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "min_data_in_leaf": 5},
                           lgb.Dataset(train, np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))), num_boost_round=5)
    linear = lgb.train({"objective": "regression", "linear_tree": True, "verbose": -1, "min_data_in_leaf": 5},
                       lgb.Dataset(train.fillna(0.0), y), num_boost_round=5)
    assert treeshap._forest(multiclass) is None
    assert np.array_equal(treeshap.contributions(multiclass, train), multiclass.predict(train, pred_contrib=True))
    assert treeshap._forest(linear) is None
    with pytest.raises(lgb.basic.LightGBMError, match="linear trees"):  # LightGBM's own answer, unchanged
        treeshap.contributions(linear, train.fillna(0.0))


def test_no_rows_give_no_contributions() -> None:
    train = _frame(200, 7)
    booster = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
                        lgb.Dataset(train, _target(train, 8)), num_boost_round=3)
    assert treeshap.contributions(booster, train.iloc[:0]).shape == (0, train.shape[1] + 1)


def test_without_the_kernel_the_contributions_are_lightgbms(monkeypatch: pytest.MonkeyPatch) -> None:
    train = _frame(200, 9)
    booster = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
                        lgb.Dataset(train, _target(train, 10)), num_boost_round=3)
    monkeypatch.setattr(treeshap, "_KERNEL", [None])  # numba missing, or no cache locator
    assert np.array_equal(treeshap.contributions(booster, train), booster.predict(train, pred_contrib=True))
