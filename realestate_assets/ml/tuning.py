"""What the AVM and the classifiers share: settings, time-ordered folds and one Optuna tuner.

Search spaces come from config/scoring.yaml (`search_spaces:`, validated as `SearchRange`s);
the configured starting settings are always the first trial, so tuning never loses to them
on the folds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from realestate_assets.config_models import ScoringConfig, SearchRange

# LightGBM threads of a trained model's predictions and SHAP contributions (training runs on 1,
# the models' params): rows are split between the threads and each row's value is computed
# alone, so the values are the same on any number. Both cores: `scores` predicts a million
# rows while the other core would idle (issue 17).
PREDICT_THREADS = 2


def search_space(family: Literal["avm", "classifier"], scoring: ScoringConfig | None = None) -> dict[str, dict]:
    """A model family's Optuna ranges as plain data (what settings and artifacts carry)."""
    spaces = (scoring or ScoringConfig()).search_spaces
    return {name: spec.model_dump() for name, spec in getattr(spaces, family).items()}


@dataclass(frozen=True)
class TuningSettings:
    """How a model is tuned and evaluated: trial budget, folds, hold-out, seed, search space."""

    trials: int = 10
    cv_folds: int = 3
    holdout_fraction: float = 0.2
    seed: int = 7
    space: dict[str, dict] = field(default_factory=lambda: search_space("classifier"))


def time_series_folds(n: int, folds: int, min_train: int = 50) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds over rows sorted by date: validate on the block after each train."""
    from sklearn.model_selection import TimeSeriesSplit

    folds = max(2, min(folds, n // max(min_train, 1) - 1)) if n >= 3 * min_train else 2
    return [(train, valid) for train, valid in TimeSeriesSplit(n_splits=folds).split(np.arange(n))
            if len(train) >= min(min_train, n // 3)]


def _within(spec: SearchRange, value: float) -> float:
    """A starting value moved onto the range (clipped, on its step), so Optuna can enqueue it."""
    value = min(max(float(value), spec.low), spec.high)
    if spec.step:
        value = spec.low + round((value - spec.low) / spec.step) * spec.step
    return round(value) if spec.integer else value


def optuna_search(objective: Callable[[dict[str, Any]], float], space: Mapping[str, Mapping[str, Any]],
                  first: Mapping[str, Any], trials: int, seed: int, direction: Literal["minimize", "maximize"],
                  progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """TPE search over `space`; `first` (the configured settings) is trial 1.

    `objective(params)` scores one draw of the searched parameters. Returns the best draw and a
    summary (trials, best and first-trial values).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ranges = {name: SearchRange.model_validate(spec) for name, spec in space.items()}

    def draw(trial: optuna.Trial) -> float:
        params: dict[str, Any] = {}
        for name, r in ranges.items():
            if r.integer:
                params[name] = trial.suggest_int(name, int(r.low), int(r.high), step=int(r.step or 1), log=r.log)
            else:
                params[name] = trial.suggest_float(name, r.low, r.high, step=r.step, log=r.log)
        value = objective(params)
        if progress:
            progress(1)
        return value

    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({name: _within(r, first[name]) for name, r in ranges.items() if name in first})
    study.optimize(draw, n_trials=trials)
    return dict(study.best_params), {"trials": len(study.trials), "best": study.best_value,
                                     "first_trial": study.trials[0].value}
