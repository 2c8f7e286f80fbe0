"""How well each signal ranks resale deals — the deal model, its bare baseline, the bird-dog score
and each score component — on the same labelled pairs. Pure functions, no Dagster imports.

The question a listed property's score answers is the deal model's ("is buying at this price a
deal?"), so the score's ranking of known deals must be at least as good as the bare deal model's
(`ml/deal.py::BareDealModel`, log price vs comps alone) on the same pairs. `deal_ranking_report`
puts them side by side and says what every other component adds or costs (ablation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.ml.classifier import auc, calibration_bins, classification_metrics, precision_at
from realestate_assets.ml.scoring import bird_dog_score


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Ranking only (any monotone score): AUC and precision among the top 5% and 10%."""
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    known = np.isfinite(score)
    y, score = y[known], score[known]
    return {"n": len(y), "positives": int(y.sum()), "base_rate": float(y.mean()) if len(y) else float("nan"),
            "auc": auc(y, score), "precision_at_top5_pct": precision_at(y, score, 0.05),
            "precision_at_top10_pct": precision_at(y, score, 0.10)}


def probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Ranking plus calibration (Brier, log loss, a reliability table) of a probability."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    bins = int(min(10, max(2, len(y) // 20)))
    return {**classification_metrics(y, p), "reliability": calibration_bins(y, p, bins=bins)}


def deal_ranking_report(y: np.ndarray, signals: pd.DataFrame, components: pd.DataFrame,
                        weights: Mapping[str, float]) -> dict[str, Any]:
    """`signals`: deal_probability, bare_deal_probability, bird_dog_score (one row per labelled pair);
    `components`: the score's component percentiles for the same rows; `weights`: the blend.

    Returns each signal's metrics, the fixed blend of every component (`weights`), each component
    alone and that blend without each component: what each adds or costs."""
    y = np.asarray(y, dtype=int)
    report: dict[str, Any] = {
        "deal_model": probability_metrics(y, signals["deal_probability"].to_numpy()),
        "bare_deal_model": probability_metrics(y, signals["bare_deal_probability"].to_numpy()),
        "bird_dog_score": ranking_metrics(y, signals["bird_dog_score"].to_numpy()),
    }
    used = [k for k in weights if k in components and components[k].notna().any()]
    report["blend_of_all_components"] = ranking_metrics(
        y, bird_dog_score(components[used], {k: weights[k] for k in used}).to_numpy()) if used else {}
    report["components_alone"] = {k: ranking_metrics(y, components[k].to_numpy()) for k in used}
    report["blend_without"] = {
        k: ranking_metrics(y, bird_dog_score(components[[c for c in used if c != k]],
                                             {c: weights[c] for c in used if c != k}).to_numpy())
        for k in used if len(used) > 1}
    bare_auc = report["bare_deal_model"]["auc"]
    for name in ("deal_model", "bird_dog_score"):
        value = report[name]["auc"]
        report[f"{name}_auc_minus_bare"] = float(value - bare_auc) if np.isfinite(value) and np.isfinite(
            bare_auc) else float("nan")
    return report
