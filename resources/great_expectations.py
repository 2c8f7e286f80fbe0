"""Great Expectations' worker process (realestate_assets/gx_worker.py) for `features`'
required-features check, wanted when a run's resources are initialized and started by the run's
first step that computes.

Dagster initializes a resource for a run only if one of the run's steps requires it: the
in-process executor (local: one process for every step) initializes the whole run's at its start,
and a per-step executor (a K8s pod per step) when the `features` step's process starts. Set up,
the resource only marks the process's run as wanting GE (`gx_worker.want`); the worker starts when
a step commits to computing (`gx_worker.prefetch`: `sales`, or a stage whose inputs changed), so
it sets GE up (≈3.4 CPU s in its fresh interpreter) on the other core while `sales`, `prospects`
and `enrichment` run, and `features` finds it ready (issue 17, 43k in one process). A run whose
steps all find their inputs unchanged never starts it; a run without `features` never wants it.
The worker ends when the run's (or the step's) resources are torn down.
"""

from __future__ import annotations

import dagster as dg

from realestate_assets import gx_worker


class GreatExpectationsResource(dg.ConfigurableResource):
    """Wants the process's Great Expectations worker at set-up (a computing step starts it), ends
    it at teardown."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        gx_worker.want()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        gx_worker.stop()
