"""Champion/challenger: a new model is activated only when it beats the active one on the
same hold-out. No Dagster imports.

The contest uses each model's evaluation booster (trained before its own hold-out) on the
sales neither of them trained on: those on or after the later of the two hold-out starts.
A model without an evaluation booster is judged on sales after its training end only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

MIN_CONTEST_ROWS = 20
LOWER_IS_BETTER = {"mdape_pct", "cod", "brier", "log_loss"}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger: float | None = None
    champion: float | None = None
    contest_rows: int = 0
    contest_start: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


MANUAL = "manual"  # the `metric` of a decision a person made (Decision.promote always true)


def manual_decision(reason: str, actor: str, replaced: str | None) -> Decision:
    """A platform admin's activation, recorded in the registry's `promotion` like the rule's own
    decisions, so one column says why every active version is active."""
    who = f"activated by {actor}" + (f" in place of {replaced}" if replaced else "")
    return Decision(True, f"{who}: {reason.strip()}", MANUAL)


def better(metric: str, challenger: float, champion: float) -> bool:
    if not np.isfinite(challenger):
        return False
    if not np.isfinite(champion):
        return True
    return challenger < champion if metric in LOWER_IS_BETTER else challenger > champion


def contest_start(challenger_holdout_start: str, champion_holdout_start: str | None,
                  champion_training_end: str | None, champion_has_eval: bool) -> pd.Timestamp:
    starts = [pd.Timestamp(challenger_holdout_start)]
    if champion_has_eval and champion_holdout_start:
        starts.append(pd.Timestamp(champion_holdout_start))
    elif champion_training_end:
        starts.append(pd.Timestamp(champion_training_end) + pd.Timedelta(days=1))
    return max(starts)


def decide(metric: str, rows: pd.DataFrame, date_column: str, start: pd.Timestamp,
           score: Callable[[pd.DataFrame, str], float], champion_version: str | None) -> Decision:
    """`score(rows, who)` gives the metric of 'challenger' or 'champion' on the contest rows."""
    if champion_version is None:
        return Decision(True, "no active model: the first model is activated", metric)
    contest = rows.loc[pd.to_datetime(rows[date_column]) >= start]
    if len(contest) < MIN_CONTEST_ROWS:
        return Decision(False, f"only {len(contest)} hold-out rows unseen by both models (need "
                               f"{MIN_CONTEST_ROWS}): {champion_version} stays active", metric,
                        contest_rows=len(contest), contest_start=str(start.date()))
    new, old = score(contest, "challenger"), score(contest, "champion")
    wins = better(metric, new, old)
    verb = "beats" if wins else "does not beat"
    outcome = "activated" if wins else f"{champion_version} stays active"
    return Decision(wins, f"challenger {metric} {new:.4g} {verb} active {old:.4g} on the same "
                          f"{len(contest)} hold-out rows from {start.date()}: {outcome}",
                    metric, float(new), float(old), len(contest), str(start.date()))
