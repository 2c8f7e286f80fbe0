"""Reloading Dagster's code location in the background, after a county change that moves the asset
freshness policies (api/v1/settings.update_county). A reload takes 11–30 s; the PATCH answers at
once with the reload `pending` (db/county_reloads.py, written in the change's transaction).

One reload at a time per API process, in a thread of its own: a reload asked for while one runs
is coalesced into one more after it (however many asked), which claims every change not yet
loaded when it starts, so the last change is always loaded by a reload that started after it.
The outcome goes to `county_reloads` (any API process's GET reads it) and, as a `county_reload`
live event, to the WebSockets of the tenants whose admins asked (api/live.py).

Several API processes: each reloads for the PATCHes it answered; a reload claims every change
not yet loaded, whichever process recorded it, so two processes reloading at once each load all
the changes committed before they started (at worst one reload more than needed). A process that
stops mid-reload leaves its changes `running` until the next reload of any process claims them;
an API process that starts while changes wait (pending or running) reloads for them (`resume`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from realestate_assets.api import dagster_runs, live
from realestate_assets.db import county_reloads

log = logging.getLogger(__name__)


class CodeReloader:
    def __init__(self, warehouse: Any, target: dagster_runs.DagsterTarget | None) -> None:
        self._warehouse = warehouse
        self._target = target
        self._lock = threading.Lock()
        self._busy = False  # a reload thread runs (it exits only under the lock, after seeing _wanted False)
        self._wanted = False  # a reload was asked for since the running one claimed its changes
        self._tenants: set[str] = set()  # whose admins asked, to tell their sockets

    def request(self, tenant_id: str | None) -> None:
        """Ask for a reload after the changes committed so far; returns at once."""
        with self._lock:
            self._wanted = True
            if tenant_id:
                self._tenants.add(tenant_id)
            if self._busy:
                return  # the running thread reloads once more when its reload ends
            self._busy = True
        threading.Thread(target=self._work, name="reos-code-reload", daemon=True).start()

    def resume(self) -> None:
        """At start-up: changes left `pending` or `running` (a process stopped before its reload
        ended, or lost the database mid-way) are reloaded now rather than at the next change. A
        `failed` one waits for the next change (Dagster said no; retrying at every start would not
        help). In a thread: the API starts serving without waiting for the database or Dagster."""
        threading.Thread(target=self._resume, name="reos-code-reload-resume", daemon=True).start()

    def _resume(self) -> None:
        try:
            with self._warehouse.transaction() as conn, conn.cursor() as cur:
                waiting = county_reloads.waiting(cur)
        except Exception as exc:  # the database is not there yet: the next change reloads them
            log.warning("could not look for changes waiting for a code location reload: %s", exc)
            return
        if waiting:
            log.info("reloading the code location for changes left waiting: %s", ", ".join(waiting))
            self.request(None)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._busy = False
                    return
                self._wanted = False
                tenants, self._tenants = self._tenants, set()
            try:
                self._reload_once(tenants)
            except Exception:  # the database went away: the changes stay pending for the next reload
                log.exception("reloading the code location failed")

    def _reload_once(self, tenants: set[str]) -> None:
        with self._warehouse.transaction() as conn, conn.cursor() as cur:
            claimed = county_reloads.claim(cur)  # committed before Dagster is asked
        if not claimed:
            return  # another process's reload loaded them meanwhile
        outcome = dagster_runs.reload_location(self._target)
        log.log(logging.INFO if outcome.ok else logging.WARNING, "code location reload for %s: %s",
                ", ".join(f"{c} v{v}" for c, v in claimed), outcome.detail)
        with self._warehouse.transaction() as conn, conn.cursor() as cur:
            county_reloads.finish(cur, claimed, outcome.ok, outcome.detail)
            for tenant_id in sorted(tenants):
                live.notify(cur, tenant_id, "county_reload", state="loaded" if outcome.ok else "failed",
                            counties=sorted({c for c, _ in claimed}), detail=outcome.detail)
