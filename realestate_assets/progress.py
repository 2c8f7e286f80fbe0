"""What `reos materialize` / `reos demo` show while a run goes: each step as it starts and ends,
with seconds, rows and checks — read from the run's own event stream, nothing re-run.

`StepProgress.on_event` is registered with `DagsterInstance.add_event_listener(run_id, ...)`: the
instance calls it for every event it stores for that run, in the process running the steps.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

ROW_COUNT = "dagster/row_count"


class StepProgress:
    """One line per finished step; on a terminal, a spinner with the elapsed time for the running one.

    Steps in `quiet` (check-only steps, e.g. the per-county freshness checks) get a line only when
    they fail or one of their checks does.
    """

    def __init__(self, console: Console, quiet: Collection[str] = ()) -> None:
        self.console = console
        self.quiet = set(quiet)
        self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                             console=console, transient=True)
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = defaultdict(int)
        self.checks: dict[str, list[tuple[str, bool, str]]] = defaultdict(list)

    def __enter__(self) -> StepProgress:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def on_event(self, entry: Any) -> None:
        """An `EventLogEntry` of the run; anything but step, materialization and check events is ignored."""
        event = entry.dagster_event
        if event is None or not event.step_key:
            return
        step, kind = event.step_key, event.event_type_value
        if kind == "STEP_START":
            self.started[step] = entry.timestamp
            self.tasks[step] = self.live.add_task(f"{step} …")
            if not self.console.is_terminal and step not in self.quiet:  # no spinner in a log: say it started
                self.console.print(f"  ▶ {escape(step)}", soft_wrap=True)
        elif kind == "ASSET_MATERIALIZATION":
            row_count = event.step_materialization_data.materialization.metadata.get(ROW_COUNT)
            if row_count is not None:
                self.rows[step] += int(row_count.value)
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.asset_check_evaluation_data
            self.checks[step].append((evaluation.check_name, evaluation.passed, evaluation.severity.value))
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY"):
            self._finish(step, kind, entry.timestamp)

    def _finish(self, step: str, kind: str, at: float) -> None:
        if step in self.tasks:
            self.live.remove_task(self.tasks.pop(step))
        checks = self.checks.get(step, [])
        if step in self.quiet and kind == "STEP_SUCCESS" and all(passed for _, passed, _ in checks):
            return
        seconds = at - self.started.get(step, at)
        mark, colour = {"STEP_SUCCESS": ("✓", "green"), "STEP_FAILURE": ("✗", "red"),
                        "STEP_SKIPPED": ("–", "yellow"), "STEP_UP_FOR_RETRY": ("↻", "yellow")}[kind]
        parts = [f"{seconds:6.1f} s"] if step in self.started else ["skipped (upstream did not run)"]
        if step in self.rows:
            parts.append(f"{self.rows[step]:,} rows")
        if checks:
            failed = [f"{name} ({'warn' if severity == 'WARN' else 'failed'})"
                      for name, passed, severity in checks if not passed]
            parts.append(f"checks {len(checks) - len(failed)}/{len(checks)} passed"
                         + (": " + ", ".join(failed) if failed else ""))
        self.console.print(f"  [{colour}]{mark}[/{colour}] {escape(step):<18} {escape(' · '.join(parts))}",
                           soft_wrap=True)


@contextmanager
def quiet_dagster_warnings() -> Iterator[None]:
    """Our commands print no Dagster API-stability warnings (Beta/Preview/Superseded): they are
    about APIs this code chose knowingly (partitioned checks, pools), not something an operator can
    act on. The classes are `dg.BetaWarning` etc., imported from where they are defined so that a
    command which never needs Dagster (`reos db url`) does not load it (~40 ms instead of seconds)."""
    from dagster_shared.utils.warnings import BetaWarning, PreviewWarning, SupersessionWarning

    with warnings.catch_warnings():
        for category in (BetaWarning, PreviewWarning, SupersessionWarning):
            warnings.simplefilter("ignore", category)
        yield
