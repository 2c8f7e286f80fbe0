"""Ping a pooled PostgreSQL connection before use only when it sat idle: one rule for every pool
we keep — the warehouse's (the API's, the pipeline's: db/warehouse.py) and Dagster's own storage
(instance_storage.py).

A connection is closed unseen while it waits — a database restart, a proxy's or a NAT's idle
timeout — not between statements a moment apart. SQLAlchemy's `pool_pre_ping` pings before every
checkout: a round trip in ten of an API property list, and ≈157 of the ≈385 round trips of an
unchanged re-run of three county steps on Dagster's storage (issue 17). Imported by processes
that load a Dagster instance (the webserver, the daemon), so it imports no more than it needs.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg2
from sqlalchemy import event
from sqlalchemy import exc as exc_mod
from sqlalchemy.engine import Engine

# A pooled connection idle this long is pinged before its next use; one in steady use is not.
PING_IDLE_S = 10.0


def ping_when_idle(engine: Engine, idle_s: float = PING_IDLE_S) -> None:
    """Pre-ping only `engine`'s connections idle for `idle_s` or more (and a new one, never
    returned yet). A dead one fails the ping, and the pool replaces it (SQLAlchemy's pessimistic
    disconnect recipe: DisconnectionError on checkout makes the pool retry with a new connection)."""

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", float("-inf")) < idle_s:
            return
        try:
            _ping(dbapi_connection)
        except psycopg2.Error as exc:
            raise exc_mod.DisconnectionError(str(exc)) from exc


def _ping(dbapi_connection: Any) -> None:
    """`SELECT 1` in autocommit, as SQLAlchemy's own pre-ping: the ping opens no transaction, so the
    caller's first statement may still be `SET TRANSACTION` (Warehouse.reading) or `BEGIN`
    (begun_by_first). Switching is local to the client: no round trip."""
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = autocommit
