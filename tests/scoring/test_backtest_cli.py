"""`reos backtest` on a sample of the bundled county: the exact prediction columns, one row per
sale on or after the cutoff, metrics JSON and calibration plot."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from realestate_assets.backtest import PREDICTION_COLUMNS
from realestate_assets.cli import app
from realestate_assets.settings import repo_root
from tests.samples import write_sample


def test_backtest_writes_predictions_metrics_and_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    (config / "counties").mkdir(parents=True)
    county = repo_root() / "config" / "counties" / "king_wa.yaml"
    (config / "counties" / "king_wa.yaml").write_text(county.read_text())
    scoring = yaml.safe_load((repo_root() / "config" / "scoring.yaml").read_text())
    scoring.update({"avm_trials": 2, "deal_trials": 2, "propensity_trials": 2})
    (config / "scoring.yaml").write_text(yaml.safe_dump(scoring))
    monkeypatch.setenv("REOS_CONFIG_DIR", str(config))
    csv = tmp_path / "sales.csv"
    raw = write_sample(csv, n_parcels=2500)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["backtest", "--sales", str(csv), "--county", "king_wa",
                                      "--cutoff", "2015-07-01", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    predictions = pd.read_csv(out / "predictions.csv", dtype={"sale_id": str, "parcel_id": str})
    assert list(predictions.columns) == PREDICTION_COLUMNS == [
        "sale_id", "parcel_id", "sale_date", "sale_price", "estimated_value", "estimated_value_low",
        "estimated_value_high", "estimated_value_reindexed", "bird_dog_score", "deal_probability"]
    assert len(predictions) == int((pd.to_datetime(raw["sale_date"]) >= "2015-07-01").sum())
    assert pd.to_datetime(predictions["sale_date"]).min() >= pd.Timestamp("2015-07-01")
    assert predictions["bird_dog_score"].between(0, 100).all()
    assert predictions["deal_probability"].dropna().between(0, 1).all()
    assert predictions["deal_probability"].notna().any()
    assert (predictions["estimated_value"] > 0).all() and (predictions["estimated_value_reindexed"] > 0).all()
    assert (predictions["estimated_value_low"] < predictions["estimated_value"]).all()
    assert (predictions["estimated_value"] < predictions["estimated_value_high"]).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_sales"] == int((pd.to_datetime(raw["sale_date"]) < "2015-07-01").sum())
    assert {"avm", "avm_reindexed", "baselines", "deal_model", "sale_propensity"} <= set(metrics)
    assert {"mdape_pct", "cod", "prd", "prb"} <= set(metrics["avm"])
    # Issue 16: interval coverage and width, per-quarter MdAPE, the forecast's own error, the baselines.
    inside = predictions["sale_price"].between(predictions["estimated_value_low"], predictions["estimated_value_high"])
    assert metrics["interval"]["coverage_pct"] == pytest.approx(inside.mean() * 100, abs=0.5)
    assert metrics["interval"]["nominal_coverage_pct"] == pytest.approx(80)
    assert metrics["interval"]["median_width_pct"] > 0
    assert sum(b["n"] for b in metrics["interval"]["by_price_band"]) == metrics["interval"]["n"]
    quarters = pd.to_datetime(predictions["sale_date"]).dt.to_period("Q").astype(str)
    assert sorted(metrics["per_quarter"]) == sorted(quarters.unique())
    assert sum(q["n"] for q in metrics["per_quarter"].values()) == len(predictions)
    first = metrics["per_quarter"][min(metrics["per_quarter"])]
    assert {"avm_mdape_pct", "avm_reindexed_mdape_pct", "nearest_comps_size_adjusted_mdape_pct",
            "hedonic_ols_mdape_pct"} <= set(first)  # the baselines quarter by quarter too
    window = predictions.loc[quarters == min(metrics["per_quarter"])]
    ape = (window["estimated_value"] / window["sale_price"] - 1).abs().median() * 100
    assert first["avm_mdape_pct"] == pytest.approx(ape, abs=0.05)  # estimates are rounded to the dollar
    segments = metrics["per_segment"]  # where the dispersion is: use type, assessor area, fifth of the estimate
    assert set(segments) == {"use_type", "area", "estimate_fifth"}
    assert sorted(segments["estimate_fifth"]) == ["1", "2", "3", "4", "5"]
    for table in segments.values():
        assert sum(cell["n"] for cell in table.values()) == len(predictions)
        cell = next(iter(table.values()))
        assert {"avm_cod", "avm_reindexed_mdape_pct", "avm_reindexed_median_error_pct"} <= set(cell)
    forecast = metrics["forecast"]
    assert {"mean_abs_error_pct", "flat_mean_abs_error_pct", "model", "by_month"} <= set(forecast)
    assert forecast["model"]["last_month"] == "2015-06-01"
    assert {"nearest_comps_size_adjusted", "hedonic_ols"} <= set(metrics["baselines"])
    deal = metrics["deal_model"]  # the deal model beside its bare baseline on the same pairs
    assert {"auc", "precision_at_top5_pct", "precision_at_top10_pct", "brier"} <= set(deal)
    assert "auc" in deal["bare_deal_model"]
    assert (out / "calibration.png").read_bytes().startswith(b"\x89PNG")
    for text in ("mdape_pct", "cod", "deal model", "predictions", "80% ranges", "market forecast"):
        assert text in result.output


def test_backtest_rejects_a_bad_cutoff(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("a\n1\n")
    result = CliRunner().invoke(app, ["backtest", "--sales", str(csv), "--county", "king_wa", "--cutoff", "2015/01",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
