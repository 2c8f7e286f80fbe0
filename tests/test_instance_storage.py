"""Dagster's PostgreSQL storage keeps its connections (realestate_assets/instance_storage.py), on
the machine's PostgreSQL: the same runs as dagster-postgres' own storage, without a new
connection per statement."""

from __future__ import annotations

import hashlib
import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage
from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from realestate_assets import instance_storage
from realestate_assets.db import idle_ping
from realestate_assets.instance_storage import storage_block
from tests.databases import empty_database, query

PARTITIONS = dg.StaticPartitionsDefinition(["king_wa"])


@dg.asset(partitions_def=PARTITIONS, check_specs=[dg.AssetCheckSpec("rows_present", asset="county_table")])
def county_table() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3}, check_results=[dg.AssetCheckResult(passed=True)])


@contextmanager
def traffic_to(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The new DB-API connections any SQLAlchemy pool opens to `database` while inside, the
    checkouts of pooled ones, the pings, the statements sent to it that read the system catalog and
    its `NOTIFY`s."""
    seen = {"connections": 0, "checkouts": 0, "pings": 0, "catalog queries": 0, "notifies": 0}

    def connected(dbapi_connection: Any, _record: Any) -> None:
        seen["connections"] += dbapi_connection.info.dbname == database

    def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        seen["checkouts"] += dbapi_connection.info.dbname == database

    ping = idle_ping._ping

    def counted_ping(dbapi_connection: Any) -> None:
        seen["pings"] += dbapi_connection.info.dbname == database
        ping(dbapi_connection)

    def executed(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen["catalog queries"] += conn.engine.url.database == database and "pg_catalog" in statement
        seen["notifies"] += conn.engine.url.database == database and statement.lstrip().startswith("NOTIFY")

    event.listen(Pool, "connect", connected)
    event.listen(Pool, "checkout", checked_out)
    event.listen(Engine, "before_cursor_execute", executed)
    monkeypatch.setattr(idle_ping, "_ping", counted_ping)
    try:
        yield seen
    finally:
        event.remove(Pool, "connect", connected)
        event.remove(Pool, "checkout", checked_out)
        event.remove(Engine, "before_cursor_execute", executed)


def storage_config(kind: str, url: str) -> dict[str, Any]:
    return {"postgres": {"postgres_url": url}} if kind == "dagster-postgres" else storage_block(url)


@pytest.mark.parametrize("kind", ["pooled", "dagster-postgres"])
def test_runs_on_postgres_storage_and_the_pooled_one_keeps_its_connections(database_url: str, kind: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    idle_s = 1.0  # pinged after idling this long (PING_IDLE_S, 10 s, made short for the test)
    monkeypatch.setattr(instance_storage, "PING_IDLE_S", idle_s)
    with empty_database(database_url, prefix="reos_dagster") as url:
        database = make_url(url).database
        with dg.instance_for_test(overrides={"storage": storage_config(kind, url)}) as instance:
            if kind == "pooled":
                assert type(instance.get_ref().storage_data.rehydrate(object)).__name__ == "PooledPostgresStorage"
            dg.materialize([county_table], instance=instance, partition_key="king_wa")  # tables made
            with traffic_to(database, monkeypatch) as seen:
                for _ in range(3):
                    result = dg.materialize([county_table], instance=instance, partition_key="king_wa")
                    assert result.success
            # A kept connection the server dropped while idle (a restart, a proxy's or a NAT's idle
            # timeout) is pinged before its next use and replaced: the next run stores its events.
            dropped = query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            assert kind != "pooled" or dropped
            time.sleep(idle_s)  # idle that long: pinged
            with traffic_to(database, monkeypatch) as after_drop:
                assert dg.materialize([county_table], instance=instance, partition_key="king_wa").success
            assert kind != "pooled" or after_drop["pings"] >= 1
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=county_table.key, asset_partitions=["king_wa"]), limit=10).records
            assert len(records) == 5
            check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(county_table.key, "rows_present")])
            assert check[dg.AssetCheckKey(county_table.key, "rows_present")].status.value == "SUCCEEDED"
        # Three runs store ≈ 60 events and look up as many rows: dagster-postgres connects for each
        # statement and asks the catalog whether the check table exists for each check event; the
        # pooled storage keeps one connection per storage (run, event log, schedule) and remembers,
        # pings one only after it idled (`pool_pre_ping` pinged every checkout) and sends no `NOTIFY`
        # after each event (dagster-postgres: one an event).
        if kind == "pooled":
            assert seen["connections"] <= 3 and seen["catalog queries"] <= 3, seen
            assert seen["pings"] * 4 < seen["checkouts"] and seen["notifies"] == 0, seen
        else:
            assert seen["connections"] > 30 and seen["catalog queries"] > 6 and seen["notifies"] > 30, seen


def county_job() -> dg.JobDefinition:
    """`county_table` as a job of its own, for `reconstructable` (a step process rebuilds it)."""
    job = dg.define_asset_job("county_job", [county_table])
    return dg.Definitions(assets=[county_table], jobs=[job]).resolve_job_def("county_job")


def test_step_processes_load_the_pooled_storage_from_the_instance_ref(database_url: str) -> None:
    """Steps in processes of their own (the multiprocess executor here, a pod per step with the K8s
    executor) rebuild the instance from its ref: the custom storage class and its config travel."""
    with empty_database(database_url, prefix="reos_dagster") as url, \
            dg.instance_for_test(overrides={"storage": storage_config("pooled", url)}) as instance:
        result = dg.execute_job(dg.reconstructable(county_job), instance=instance,
                                tags={"dagster/partition": "king_wa"})
        assert result.success
        assert instance.get_latest_materialization_event(county_table.key) is not None


def test_the_event_write_follows_dagster_postgres_own() -> None:
    """`_EventLogStorage.store_event` is dagster-postgres' 1.13 `store_event` without its `NOTIFY`:
    when an upgrade changes theirs, this fails — compare the two and carry the change over, then
    record the new digest here."""
    theirs = inspect.getsource(PostgresEventLogStorage.store_event)
    assert hashlib.sha256(theirs.encode()).hexdigest() == \
        "4a2e37e5871bf2c87789192abc185ecfefa37938a9e0c3d2f915c2348a77641e", theirs
