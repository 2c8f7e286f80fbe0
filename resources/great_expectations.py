"""Great Expectations' worker process (realestate_assets/gx_worker.py), started when a run's
resources are initialized, for `features`' required-features check.

Dagster initializes a resource for a run only if one of the run's steps requires it: the
in-process executor (local: one process for every step) initializes the whole run's at its start,
so the worker sets GE up (≈3.4 CPU s in its fresh interpreter) on the other core while `sales`,
`prospects` and `enrichment` run, and `features` finds it ready (issue 17, 43k in one process); a
per-step executor (a K8s pod per step) initializes it when the `features` step's process starts.
A run without `features` never starts it. The worker ends when the run's (or the step's)
resources are torn down.
"""

from __future__ import annotations

import dagster as dg

from realestate_assets import gx_worker


class GreatExpectationsResource(dg.ConfigurableResource):
    """Starts the process's Great Expectations worker at set-up, ends it at teardown."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        gx_worker.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        gx_worker.stop()
