"""Dagster's own storage (runs, events, schedules) on PostgreSQL, its connections kept open.

dagster-postgres opens a new connection for every statement it sends (its engines use
SQLAlchemy's `NullPool`, so that an instance never holds connections), except in the webserver,
which switches each engine to a pool of one (`optimize_for_webserver`). A run worker or a step pod
sends a few dozen statements per step — each event stored, each materialization looked up — and
a new PostgreSQL connection costs 4–5 ms on this machine's local server (more across a network,
with TLS): an unchanged county step re-run spent more time connecting than deciding it had nothing
to do (issue 17, docs/scale.md "Thirty-sixth round (c)").

`PooledPostgresStorage` is dagster-postgres' storage with pooled engines in every process that
loads the instance, as the webserver's (one connection kept per storage, up to MAX_OVERFLOW more
while threads need them, closed on return; recycled after POOL_RECYCLE_S; no statement timeout, as
dagster-postgres sets none outside the webserver) and one thing more: a kept connection that sat
idle for PING_IDLE_S is pinged before its next use and replaced if the server, a proxy or a NAT
dropped it meanwhile, as the warehouse's pools do (db/idle_ping.py) — with a new connection per
statement there was nothing to drop, so without the ping a run's next event write would fail. The
webserver still applies its own settings on top (`optimize_for_webserver`).
Its run storage and event log also remember the tables and columns they found (`_RemembersSchema`),
its event log sends no `NOTIFY` after each event (`_EventLogStorage.store_event`), and it remembers
the materializations it stored, so a step's check evaluations point at the step's own without a
look-up (`_EventLogStorage.stored_materialization`).
Its configuration is dagster-postgres' (`postgres_db` or `postgres_url`): deploy/dagster.yaml
names it as `storage: custom:`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dagster as dg

# Not exported by dagster (pinned 1.13.27): a check evaluation's pointer to its materialization.
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

from realestate_assets.db.idle_ping import PING_IDLE_S, ping_when_idle

POOL_RECYCLE_S = 3600  # the webserver's default (`--db-pool-recycle`)
MAX_OVERFLOW = 20  # the webserver's default (`--db-pool-max-overflow`)


class _RemembersSchema:
    """A dagster-postgres storage that remembers which of its tables and columns it found.
    dagster-postgres asks the catalog on every use: whether `asset_check_executions` exists before
    storing each check's events, `asset_keys`' columns for each materialization, `runs`' columns
    for each run event (≈40 catalog queries, 0.85 ms each, in an unchanged re-run of three county
    steps); it remembers only its secondary indexes. Dagster's migrations only add tables and
    columns, so one found stays found; one not found is asked again (a migration may add it while
    this process runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._found: set[tuple[str, str]] = set()
        super().__init__(*args, **kwargs)

    def _remembered(self, kind: str, name: str, ask: Callable[[], bool]) -> bool:
        if (kind, name) not in self._found and ask():
            self._found.add((kind, name))
        return (kind, name) in self._found


class _EventLogStorage(_RemembersSchema, PostgresEventLogStorage):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # (asset, partition) → the latest materialization of it this process stored: one entry
        # per asset partition a run here materialized.
        self._stored: dict[tuple[dg.AssetKey, str | None], AssetCheckEvaluationTargetMaterializationData] = {}
        super().__init__(*args, **kwargs)

    def store_event(self, event: EventLogEntry) -> None:
        """dagster-postgres' `store_event` (1.13) without the `NOTIFY` it sends after each event's
        `INSERT`: nothing in Dagster 1.13 listens (its webserver and daemon watch runs by polling;
        dagster-postgres keeps it "to support version skew" with older webservers). One round trip
        an event: 67 in an unchanged re-run of three county steps (docs/scale.md "Thirty-seventh
        round (c)"). `tests/test_instance_storage.py` fails when dagster-postgres' method changes."""
        insert = self.prepare_insert_event(event).returning(SqlEventLogStorageTable.c.id)
        with self._connect() as conn:
            event_id = conn.execute(insert).scalar_one()
        if event.is_dagster_event and event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION:
            self._stored[event.dagster_event.asset_key, event.dagster_event.partition] = (
                AssetCheckEvaluationTargetMaterializationData(
                    run_id=event.run_id, storage_id=event_id, timestamp=event.timestamp))
        if event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS and event.dagster_event.asset_key:
            with self.index_transaction() as conn:
                self._store_asset_event_tags(conn, [event], [event_id])
                self._store_asset_event(conn, event, event_id)
        if event.is_dagster_event and event.dagster_event_type in ASSET_CHECK_EVENTS:
            self.store_asset_check_event(event, event_id)

    def stored_materialization(self, key: dg.AssetKey, partition: str | None,
                               run_id: str) -> AssetCheckEvaluationTargetMaterializationData | None:
        """The asset partition's materialization that run `run_id` stored last through this
        storage, as a check evaluation's target, or None (none stored here by that run: look it
        up). What a step's checks point at: the materialization the step itself just stored, known
        from its `INSERT`, where Dagster 1.13 reads the partition's latest back from the event log
        (the whole event) — one look-up a step (issue 17: ≈2.4 ms each, a twentieth of an
        unchanged re-run's step). `assets/common._target` asks for it."""
        found = self._stored.get((key, partition))
        return found if found is not None and found.run_id == run_id else None

    def has_table(self, table_name: str) -> bool:
        return self._remembered("table", table_name, functools.partial(super().has_table, table_name))

    def has_asset_key_col(self, column_name: str) -> bool:
        return self._remembered("asset_keys column", column_name,
                                functools.partial(super().has_asset_key_col, column_name))


class _RunStorage(_RemembersSchema, PostgresRunStorage):
    def has_run_stats_index_cols(self) -> bool:
        return self._remembered("runs columns", "start_time, end_time", super().has_run_stats_index_cols)

    def has_backfill_id_column(self) -> bool:
        return self._remembered("runs column", "backfill_id", super().has_backfill_id_column)


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres' run, event-log and schedule storage, each engine pooled (see the module)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None) -> None:
        # The parent's three storages made without a round trip (no table check), then replaced by
        # ones that check and create their tables as dagster-postgres does, two of them remembering
        # the schema (`_RemembersSchema`).
        super().__init__(postgres_url, should_autocreate_tables=False, inst_data=inst_data,
                         token_provider=token_provider)
        self.should_autocreate_tables = should_autocreate_tables
        self._run_storage = _RunStorage(postgres_url, should_autocreate_tables, token_provider=token_provider)
        self._event_log_storage = _EventLogStorage(postgres_url, should_autocreate_tables,
                                                   token_provider=token_provider)
        self._schedule_storage = PostgresScheduleStorage(postgres_url, should_autocreate_tables,
                                                         token_provider=token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            # The engine dagster-postgres' `optimize_for_webserver` makes, with a ping after idling;
            # the replaced engine is a NullPool's, which holds no connection.
            options = storage._engine.url.query.get("options")
            storage._engine = create_pg_engine(
                postgres_url, token_provider, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_S, **({"connect_args": {"options": options}} if options else {}))
            ping_when_idle(storage._engine, PING_IDLE_S)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PooledPostgresStorage:
        return cls(postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   inst_data=inst_data, token_provider=get_token_provider_from_config(config_value))


def storage_block(postgres_url: str) -> dict[str, Any]:
    """An instance's `storage:` block for `PooledPostgresStorage` on `postgres_url` (deploy/dagster.yaml
    names the same class with a `postgres_db` block instead)."""
    return {"custom": {"module": __name__, "class": PooledPostgresStorage.__name__,
                       "config": {"postgres_url": postgres_url}}}
