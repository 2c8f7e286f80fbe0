"""The compiled trees (ml/compiled.py): LightGBM's predictions to the bit, kept in the object
store by artifact and machine, and LightGBM (recorded) whenever compiling fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from realestate_assets.ml import compiled as compiled_module
from realestate_assets.ml.avm import TrainedAvm
from realestate_assets.ml.classifier import TrainedClassifier
from realestate_assets.ml.compiled import (
    NOT_USED,
    ZERO,
    ahead,
    compile_object,
    compiled,
    forest_key,
    load_object,
    matrix,
    on_first_use,
    packed,
    predict,
    run,
)
from realestate_assets.objects import LocalObjectStore
from tests.spies import Spy

USES = ["sfr", "townhouse", "condo"]


def rows(n: int, seed: int) -> pd.DataFrame:
    """Numbers with NaNs, zeros, values within LightGBM's zero threshold and negatives; a
    category with missing and never-seen values."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(7.5, 0.4, n)
    size[rng.random(n) < 0.1] = np.nan
    grade = rng.integers(-3, 12, n).astype(float)
    grade[rng.random(n) < 0.1] = 0.0
    tiny = rng.choice([0.0, ZERO / 2, -ZERO / 2, ZERO, 2 * ZERO, -1e-30, 1.0, np.nan], n)
    use = pd.Series(rng.choice([*USES, "unknown"], n), dtype="object")
    use[rng.random(n) < 0.1] = None
    return pd.DataFrame({"living_sqft": size, "bldg_grade": grade, "tiny": tiny, "use_type": use})


def encoded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["living_sqft", "bldg_grade", "tiny"]].astype(float)
    out["use_type"] = pd.Categorical(frame["use_type"].astype("string"), categories=USES)
    return out


def booster(objective: str, seed: int = 0, trees: int = 80) -> lgb.Booster:
    """A small model with a categorical split and missing values, more trees than lleaves' default
    block of 34 (whose separate sums per block changed the last bits)."""
    frame = rows(3000, seed)
    x = encoded(frame)
    rng = np.random.default_rng(seed + 1)
    signal = np.nan_to_num(np.log(x["living_sqft"]), nan=7.0) + 0.1 * x["bldg_grade"] \
        + x["use_type"].cat.codes.replace(-1, 3) * 0.3 + (x["tiny"].fillna(2.0) > 0) * 0.2
    label = signal + rng.normal(0, 0.3, len(x))
    if objective == "binary":
        label = (label > np.median(label)).astype(int)
    params = {"objective": objective, "num_leaves": 15, "min_data_in_leaf": 5, "learning_rate": 0.1,
              "verbosity": -1, "seed": seed, "deterministic": True, "force_row_wise": True,
              "min_data_per_group": 5, "cat_smooth": 1.0}
    return lgb.train(params, lgb.Dataset(x, label=label, categorical_feature=["use_type"]), num_boost_round=trees)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], Any]]:
    """The compiles from now on (`compile_object`'s calls, each still compiled)."""
    spy = Spy(compiled_module.compile_object)
    monkeypatch.setattr(compiled_module, "compile_object", spy)
    return spy.calls


@pytest.mark.parametrize("objective,raw", [("regression", False), ("regression_l1", False), ("binary", True)])
def test_compiled_predictions_are_lightgbms_to_the_bit(store: LocalObjectStore, objective: str, raw: bool) -> None:
    model = booster(objective)
    forest = compiled(model, raw, store, "a" * 64, "model")
    assert forest.engine == "compiled" and forest.entry is not None
    for seed in (1, 2):
        x = encoded(rows(5000, seed))
        expected = model.predict(x, raw_score=raw)
        np.testing.assert_array_equal(predict(model, x, raw, forest), expected)
        np.testing.assert_array_equal(predict(model, x.iloc[:1], raw, forest), expected[:1])
    assert predict(model, encoded(rows(0, 3)), raw, forest).shape == (0,)


@pytest.mark.parametrize("objective", ["regression_l1", "binary"])
def test_blocks_of_rows_keep_lightgbms_bits(objective: str) -> None:
    """`forest_root` goes through the rows in blocks, tree by tree within a block: rows spanning
    several blocks with a ragged last one (and fewer rows than a block), on 1 and 2 threads (each
    thread's range its own blocks), give LightGBM's raw scores to the bit."""
    model = booster(objective)
    forest = load_object(compile_object(model.model_to_string(), block=16), model)
    assert forest.entry is not None
    x = encoded(rows(1001, 7))
    expected = model.predict(x, raw_score=True)
    for threads in (1, 2):
        np.testing.assert_array_equal(run(forest.entry, matrix(x), threads), expected)
    for n in (1, 15, 16, 17, 33):
        np.testing.assert_array_equal(run(forest.entry, matrix(x.iloc[:n]), 2), expected[:n])


def test_the_matrix_is_lightgbms_view_of_the_rows() -> None:
    x = encoded(rows(200, 4))
    got = matrix(x)
    assert np.isnan(got[x["use_type"].isna().to_numpy(), 3]).all()
    assert set(np.unique(got[~x["use_type"].isna().to_numpy(), 3])) <= {0.0, 1.0, 2.0}
    tiny = x["tiny"].to_numpy()
    near_zero = np.abs(tiny) <= ZERO
    assert (got[near_zero, 2] == 0).all() and not np.signbit(got[near_zero, 2]).any()
    np.testing.assert_array_equal(got[~near_zero, 2], tiny[~near_zero])


def test_the_models_predict_through_their_compiled_trees(store: LocalObjectStore) -> None:
    """`TrainedAvm.predict` and `TrainedClassifier.margin` use the forest of their own booster only."""
    regression, binary = booster("regression"), booster("binary", seed=5)
    avm = TrainedAvm(regression, {"use_type": USES}, settings=None,  # type: ignore[arg-type]
                     features=["living_sqft", "bldg_grade", "tiny", "use_type"])
    frame = rows(1000, 6)
    plain = avm.predict(frame)
    avm.forest = compiled(regression, False, store, "b" * 64, "avm")
    np.testing.assert_array_equal(avm.predict(frame), plain)

    classifier = TrainedClassifier("c", binary, ["living_sqft", "bldg_grade", "tiny"], {"use_type": USES},
                                   eval_booster=regression)
    margins = classifier.margin(frame)
    classifier.forest = compiled(binary, True, store, "c" * 64, "c")
    assert classifier.forest.engine == "compiled"
    np.testing.assert_array_equal(classifier.margin(frame), margins)
    # The hold-out's booster is not the compiled one: LightGBM's.
    np.testing.assert_array_equal(classifier.margin(frame, holdout=True),
                                  regression.predict(classifier.encode(frame), raw_score=True))


def test_compiled_once_then_read_from_the_store(store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    model = booster("binary")
    first = compiled(model, True, store, "d" * 64, "deal")
    assert first.engine == "compiled" and first.compiled_now and store.exists(forest_key("d" * 64, "deal"))

    def no_compiler(text: str) -> bytes:
        raise AssertionError("compiled again")

    monkeypatch.setattr(compiled_module, "compile_object", no_compiler)
    again = compiled(model, True, store, "d" * 64, "deal")
    assert again.engine == "compiled" and not again.compiled_now
    x = encoded(rows(2000, 7))
    np.testing.assert_array_equal(predict(model, x, True, again), model.predict(x, raw_score=True))
    # Another artifact (or another machine: the key carries the target) is compiled for itself.
    other = compiled(model, True, store, "e" * 64, "deal")
    assert other.engine.startswith("lightgbm (compile failed: AssertionError")


def test_a_torn_stored_forest_is_compiled_again(store: LocalObjectStore) -> None:
    model = booster("binary")
    key = forest_key("f" * 64, "deal")
    code = compiled_module.compile_object(model.model_to_string())
    store.put(key, packed(code)[:-100], "application/octet-stream")
    forest = compiled(model, True, store, "f" * 64, "deal")
    assert forest.engine == "compiled" and forest.compiled_now
    assert compiled_module.unpacked(store.get(key)) == code


def test_lightgbm_when_compiling_fails_and_says_why(store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    model = booster("regression")

    def broken(text: str) -> bytes:
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(compiled_module, "compile_object", broken)
    forest = compiled(model, False, store, "1" * 64, "avm")
    assert forest.entry is None and forest.engine == "lightgbm (compile failed: RuntimeError: no LLVM here)"
    assert "avm predicts with LightGBM" in caplog.text
    assert not store.exists(forest_key("1" * 64, "avm"))
    x = encoded(rows(500, 8))
    np.testing.assert_array_equal(predict(model, x, False, forest), model.predict(x))


def test_an_output_transform_is_left_to_lightgbm(store: LocalObjectStore) -> None:
    """`Booster.predict()` of a binary model is a probability, not the raw score compiled."""
    forest = compiled(booster("binary"), False, store, "2" * 64, "p")
    assert forest.entry is None and forest.engine == "lightgbm (objective binary sigmoid:1 transforms the raw score)"


def test_a_model_is_compiled_when_it_first_predicts_and_not_before(store: LocalObjectStore, made: list[Any]) -> None:
    """`load_active_models(compiled_trees=True)`'s forests: a model that predicts no row (the deal
    model of a county without asking prices) costs no compile; the others compile on their first
    prediction, once, and predict LightGBM's values to the bit."""
    model = booster("binary")
    idle = on_first_use(model, True, store, "2" * 64, "deal")
    forest = on_first_use(model, True, store, "3" * 64, "deal")
    assert idle.engine == forest.engine == NOT_USED and not made and not store.exists(forest_key("3" * 64, "deal"))
    other = booster("binary", seed=3)  # another booster's rows (a hold-out's) leave the forest waiting
    x = encoded(rows(1000, 9))
    np.testing.assert_array_equal(predict(other, x, True, forest), other.predict(x, raw_score=True))
    assert forest.engine == NOT_USED and not made
    for _ in range(2):
        np.testing.assert_array_equal(predict(model, x, True, forest), model.predict(x, raw_score=True))
    assert forest.engine == "compiled" and forest.compiled_now and len(made) == 1
    assert store.exists(forest_key("3" * 64, "deal")) and idle.engine == NOT_USED and idle.entry is None


def test_forests_made_ahead_are_the_ones_first_use_makes(store: LocalObjectStore, made: list[Any]) -> None:
    """`ahead` (`scores`: the AVM's and propensity's trees compiled while the county's query
    sorts): each waiting forest made once, by its thread or by a prediction that comes first,
    whichever takes it; LightGBM's values to the bit; nothing started for forests that do not
    wait (made already, or none)."""
    first, second = booster("binary"), booster("regression", seed=5)
    forests = [on_first_use(first, True, store, "4" * 64, "p"), on_first_use(second, False, store, "5" * 64, "avm")]
    thread = ahead(forests[0], None, forests[1])
    assert thread is not None
    x = encoded(rows(1000, 11))
    # A prediction while the thread works: it waits for the forest, or makes it itself.
    np.testing.assert_array_equal(predict(second, x, False, forests[1]), second.predict(x))
    thread.join()
    assert [f.engine for f in forests] == ["compiled", "compiled"] and all(f.compiled_now for f in forests)
    assert len(made) == 2 and store.exists(forest_key("4" * 64, "p")) and store.exists(forest_key("5" * 64, "avm"))
    np.testing.assert_array_equal(predict(first, x, True, forests[0]), first.predict(x, raw_score=True))
    assert ahead(*forests) is None and ahead(None) is None and len(made) == 2


def test_compiling_at_registration_never_fails_the_registering_step(store: LocalObjectStore) -> None:
    """`ml_model` compiles the active models after registering them (`compile_active_models`):
    an optimization, so a county without an active AVM (its artifact did not read back) is said,
    not raised."""
    from realestate_assets.ml.registry import compile_active_models

    class NoModels:
        def frame(self, query: str, params: dict[str, Any]) -> pd.DataFrame:
            return pd.DataFrame()

    assert compile_active_models(NoModels(), store, {"county": "x"}) == \
        {"none": "not compiled: no active AVM for x: materialize ml_model first"}
