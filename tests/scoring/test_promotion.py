"""Champion/challenger: a worse challenger stays inactive; a better one is activated; the
registry row says why, on real PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from realestate_assets.db.warehouse import Warehouse
from realestate_assets.ml.avm import AvmSettings, TrainedAvm, train_avm
from realestate_assets.ml.promotion import MIN_CONTEST_ROWS, better, decide
from realestate_assets.ml.registry import avm_decision, register
from realestate_assets.objects import LocalObjectStore
from tests.scoring.helpers_scoring import king_sales


@pytest.fixture(scope="module")
def good() -> TrainedAvm:
    return train_avm(king_sales(), AvmSettings(num_boost_round=200), compare=False)


@pytest.fixture(scope="module")
def weak() -> TrainedAvm:
    return train_avm(king_sales(), AvmSettings(num_boost_round=10, num_leaves=2, learning_rate=0.05),
                     compare=False)


def test_metric_direction() -> None:
    assert better("mdape_pct", 9.0, 10.0) and not better("mdape_pct", 11.0, 10.0)
    assert better("auc", 0.8, 0.7) and not better("auc", 0.6, 0.7)
    assert not better("auc", float("nan"), 0.7) and better("auc", 0.6, float("nan"))


def test_first_model_is_activated_and_a_tiny_contest_keeps_the_champion() -> None:
    rows = pd.DataFrame({"d": pd.date_range("2016-01-01", periods=MIN_CONTEST_ROWS - 1)})
    assert decide("auc", rows, "d", pd.Timestamp("2015-01-01"), lambda r, w: 0.0, None).promote
    kept = decide("auc", rows, "d", pd.Timestamp("2015-01-01"), lambda r, w: 1.0 if w == "challenger" else 0.0,
                  "old-version")
    assert not kept.promote and "stays active" in kept.reason


def test_worse_challenger_stays_inactive_and_better_one_is_activated(
        good: TrainedAvm, weak: TrainedAvm, database_url: str, tmp_path: Path) -> None:
    county = f"promo_{uuid.uuid4().hex[:8]}"  # public county data: a county of the test's own
    wh, store = Warehouse(database_url), LocalObjectStore(tmp_path / "objects")

    def put(version: str, model: TrainedAvm):  # -> StoredObject
        return store.put(f"models/king_wa/{version}.json", model.to_bytes(), "application/json")

    first = avm_decision(good, None, None, king_sales())
    assert first.promote and register(wh, county, "avm", "avm-good", "lightgbm_regressor", good,
                                      put("avm-good", good), first, 100)
    worse = avm_decision(weak, good, "avm-good", king_sales())
    assert not worse.promote and worse.challenger > worse.champion
    assert "does not beat" in worse.reason and worse.contest_rows > 100
    assert not register(wh, county, "avm", "avm-weak", "lightgbm_regressor", weak, put("avm-weak", weak),
                        worse, 100)
    registry = wh.frame("SELECT version, is_active, status, promotion FROM ml_models WHERE county = :c "
                        "ORDER BY version", {"c": county}).set_index("version")
    assert registry.loc["avm-good", "is_active"] and not registry.loc["avm-weak", "is_active"]
    assert registry.loc["avm-weak", "status"] == "challenger_rejected"
    assert "does not beat" in registry.loc["avm-weak", "promotion"]["reason"]

    # The other way round, the better model wins the same contest and the old one retires.
    better_one = avm_decision(good, weak, "avm-weak", king_sales())
    assert better_one.promote
    assert register(wh, county, "avm", "avm-good-2", "lightgbm_regressor", good, put("avm-good-2", good),
                    better_one, 100)
    active = wh.frame("SELECT version FROM ml_models WHERE county = :c AND is_active", {"c": county})
    assert active["version"].tolist() == ["avm-good-2"]
    assert wh.scalar("SELECT status FROM ml_models WHERE county = :c AND version = 'avm-good'",
                     {"c": county}) == "retired"
    # Re-registering the same version (a re-run) keeps its state and its recorded decision.
    assert register(wh, county, "avm", "avm-good-2", "lightgbm_regressor", good, put("avm-good-2", good),
                    None, 100)
    assert "beats" in wh.scalar("SELECT promotion ->> 'reason' FROM ml_models WHERE county = :c "
                                "AND version = 'avm-good-2'", {"c": county})
    wh.dispose()
