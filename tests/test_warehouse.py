"""Schema migrations and idempotent partition writes against the real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pandas as pd
import psycopg2
import pytest
from psycopg2 import sql

from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.warehouse import AuditResult, Warehouse, replace_rejects, sync_partition
from realestate_assets.discovery.records import Reject


@pytest.fixture
def county() -> str:
    """A county of the test's own: public county tables have no tenant to keep tests apart."""
    return f"wh_{uuid.uuid4().hex[:8]}"


def prospects(keys: list[str], lat: float = 47.6) -> pd.DataFrame:
    return pd.DataFrame({"prospect_key": keys, "parcel_id": keys, "latitude": lat, "longitude": -122.3,
                         "sources": [["s"]] * len(keys)})


def test_sync_inserts_updates_only_changes_and_deletes_missing(warehouse: Warehouse, county: str) -> None:
    def sync(frame: pd.DataFrame):
        with warehouse.transaction() as conn:
            return sync_partition(conn, "prospects", frame, county=county,
                                  keys=["prospect_key"], preserve=["owner_name"])

    first = sync(prospects(["a", "b", "c"]))
    assert (first.inserted, first.updated, first.deleted) == (3, 0, 0)
    again = sync(prospects(["a", "b", "c"]))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE prospects SET owner_name = 'someone' WHERE county = %s AND prospect_key = 'a'",
                    (county,))
    changed = sync(pd.concat([prospects(["a"], lat=47.7), prospects(["b", "d"])]))
    assert (changed.inserted, changed.updated, changed.deleted, changed.unchanged) == (1, 1, 1, 1)
    rows = warehouse.frame("SELECT prospect_key, owner_name, latitude, created_at < updated_at AS touched "
                           "FROM prospects WHERE county = :c ORDER BY prospect_key", {"c": county})
    assert list(rows["prospect_key"]) == ["a", "b", "d"]
    assert rows.set_index("prospect_key").loc["a", "owner_name"] == "someone"  # preserved
    assert rows.set_index("prospect_key").loc["a", "latitude"] == 47.7
    assert bool(rows.set_index("prospect_key").loc["a", "touched"])  # trigger kept updated_at


def test_a_failed_blocking_audit_publishes_nothing_and_keeps_the_previous_rows(warehouse: Warehouse,
                                                                              county: str) -> None:
    """Write–audit–publish: the audit sees the staged rows; a failure leaves yesterday's rows."""
    seen: list[int] = []

    def audit(conn, stage: str) -> list[AuditResult]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*), count(*) FILTER (WHERE latitude > 48) FROM {stage}")
            staged, outside = cur.fetchone()
        seen.append(staged)
        return [AuditResult("inside_county", outside == 0, f"{outside} outside"),
                AuditResult("advisory", False, "never blocks", blocking=False)]

    def sync(frame: pd.DataFrame):
        with warehouse.transaction() as conn:
            return sync_partition(conn, "prospects", frame, county=county,
                                  keys=["prospect_key"], audit=audit)

    first = sync(prospects(["a", "b"]))
    assert first.published and first.inserted == 2 and [a.passed for a in first.audits] == [True, False]
    refused = sync(prospects(["a", "c", "d"], lat=49.0))
    assert not refused.published and refused.staged == 3 and seen == [2, 3]
    assert (refused.inserted, refused.updated, refused.deleted) == (0, 0, 0)
    rows = warehouse.frame("SELECT prospect_key, latitude FROM prospects WHERE county = :c ORDER BY 1",
                           {"c": county})
    assert rows["prospect_key"].tolist() == ["a", "b"] and (rows["latitude"] == 47.6).all()


def test_sync_refuses_duplicate_keys_and_unknown_columns(warehouse: Warehouse, county: str) -> None:
    with pytest.raises(ValueError, match="duplicate natural keys"), warehouse.transaction() as conn:
        sync_partition(conn, "prospects", prospects(["a", "a"]), county=county,
                       keys=["prospect_key"])
    with pytest.raises(ValueError, match="not in the table"), warehouse.transaction() as conn:
        sync_partition(conn, "prospects", prospects(["a"]).assign(colour="red"),
                       county=county, keys=["prospect_key"])


def test_a_stream_of_frames_syncs_like_one_frame(warehouse: Warehouse, county: str) -> None:
    """Issue 17: frames staged one at a time make the slice equal all of them, with one delete
    of the rows no longer produced; keys repeated across frames are refused like within one."""
    def sync(frames, **kw):
        with warehouse.transaction() as conn:
            return sync_partition(conn, "prospects", frames, county=county, keys=["prospect_key"], **kw)

    sync(prospects(["a", "b", "c", "z"]))
    stats = sync(iter([prospects(["a", "b"], lat=47.7), prospects([]), prospects(["c", "d"])]))
    assert (stats.inserted, stats.updated, stats.deleted, stats.unchanged, stats.staged) == (1, 2, 1, 1, 4)
    rows = warehouse.frame("SELECT prospect_key, latitude FROM prospects WHERE county = :c ORDER BY 1", {"c": county})
    assert rows.to_dict("list") == {"prospect_key": ["a", "b", "c", "d"], "latitude": [47.7, 47.7, 47.6, 47.6]}
    with pytest.raises(ValueError, match=r"duplicate natural keys.*'b'"):
        sync(iter([prospects(["a", "b"]), prospects(["b"])]))
    with pytest.raises(ValueError, match="columns"):
        sync(iter([prospects(["a"]), prospects(["b"]).drop(columns="sources")]))
    with pytest.raises(ValueError, match="no frame"):
        sync(iter([]))
    assert warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": county}) == 4
    emptied = sync(iter([]), columns=list(prospects([]).columns))  # nothing produced: the slice empties
    assert (emptied.deleted, emptied.staged) == (4, 0)


def test_a_first_load_goes_straight_into_the_table_with_the_same_outcome(warehouse: Warehouse,
                                                                        county: str) -> None:
    """Issue 17: an empty slice is loaded without a stage (no upsert copying the rows again): the
    same rows and figures; the audit still sees exactly the loaded rows, under the stage's name,
    and a failed blocking one leaves the slice empty; keys repeated across frames are refused."""
    seen: list[tuple[int, int]] = []

    def audit(conn, stage: str) -> list[AuditResult]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*), count(*) FILTER (WHERE latitude > 48) FROM {stage}")
            staged, outside = cur.fetchone()
        seen.append((staged, outside))
        return [AuditResult("inside_county", outside == 0, f"{outside} outside")]

    def sync(frames, **kw):
        with warehouse.transaction() as conn:
            return sync_partition(conn, "prospects", frames, county=county, keys=["prospect_key"], **kw)

    other = f"{county}_other"  # another county's rows: not this slice, not seen by its audit
    with warehouse.transaction() as conn:
        sync_partition(conn, "prospects", prospects(["a", "q"], lat=49.0), county=other, keys=["prospect_key"])
    refused = sync(iter([prospects(["a"]), prospects(["b"], lat=49.0)]), audit=audit)
    assert not refused.published and refused.staged == 2 and seen == [(2, 1)]
    assert warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": county}) == 0
    with pytest.raises(ValueError, match=r"duplicate natural keys.*\bb\b"):
        sync(iter([prospects(["a", "b"]), prospects(["b"])]))
    assert warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": county}) == 0
    first = sync(iter([prospects(["a", "b"]), prospects([]), prospects(["c"], lat=47.7)]), audit=audit)
    assert (first.inserted, first.updated, first.deleted, first.unchanged, first.staged, first.published) == \
        (3, 0, 0, 0, 3, True)
    assert seen[-1] == (3, 0)
    rows = warehouse.frame("SELECT prospect_key, latitude, sources FROM prospects WHERE county = :c "
                           "ORDER BY 1", {"c": county})
    assert rows.to_dict("list") == {"prospect_key": ["a", "b", "c"], "latitude": [47.6, 47.6, 47.7],
                                    "sources": [["s"]] * 3}
    again = sync(prospects(["a", "b", "c"]))  # not empty now: staged and upserted as before
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (0, 1, 0, 2)
    assert warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": other}) == 2
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname = '_stage'")  # no view left behind
        assert cur.fetchone()[0] == 0


def test_a_query_read_in_keyset_chunks_within_one_snapshot(warehouse: Warehouse, county: str) -> None:
    with warehouse.transaction() as conn:
        sync_partition(conn, "prospects", prospects([f"k{i:02d}" for i in range(25)]), county=county,
                       keys=["prospect_key"])
    query = "SELECT prospect_key, latitude FROM prospects WHERE county = :c"
    with warehouse.reading() as reader:
        chunks = reader.chunks(query, {"c": county}, key="prospect_key", rows=10)
        first = next(chunks)
        with warehouse.transaction() as conn:  # a change after the first page is not seen
            sync_partition(conn, "prospects", prospects(["k99"]), county=county, keys=["prospect_key"],
                           delete_missing=False)
        rest = list(chunks)
        whole = reader.frame(query + " ORDER BY prospect_key", {"c": county})
    assert [len(c) for c in [first, *rest]] == [10, 10, 5]
    assert list(pd.concat([first, *rest])["prospect_key"]) == [f"k{i:02d}" for i in range(25)]
    assert list(whole["prospect_key"]) == [f"k{i:02d}" for i in range(25)]
    with warehouse.reading() as reader:  # an exact multiple of the page: no empty page
        assert [len(c) for c in reader.chunks(query, {"c": county}, key="prospect_key", rows=13)] == [13, 13]


def test_rejects_are_replaced_per_partition_and_keep_hostile_payloads(warehouse: Warehouse,
                                                                      county: str) -> None:
    hostile = Reject("s", "line 3", {"price": float("nan"), "note": "<script>x</script>\x00"}, "bad price")
    for _ in range(2):
        with warehouse.transaction() as conn:
            replace_rejects(conn, county=county, asset="sales",
                            rejects=[hostile, Reject("s", "f", None, "unreadable")], run_id="r1")
    rows = warehouse.frame("SELECT raw_payload, reason, tenant_id FROM rejects WHERE county = :c ORDER BY id",
                           {"c": county})
    assert len(rows) == 2 and rows["tenant_id"].isna().all()  # a public stage's rejects belong to no tenant
    assert rows["raw_payload"].iloc[0] == {"price": None, "note": "<script>x</script>"}


def test_migrations_downgrade_to_base_and_back(database_url: str) -> None:
    name = f"reos_mig_{uuid.uuid4().hex[:8]}"
    base = database_url.rsplit("/", 1)[0] if "?" not in database_url else None
    admin = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{base}/{name}" if base else database_url.replace(database_url.split("/")[-1].split("?")[0], name)
    try:
        upgrade(url)
        wh = Warehouse(url)
        tables = set(wh.frame("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")["tablename"])
        assert {"prospects", "enrichment", "features", "scores", "packets", "emails", "ml_models",
                "rejects", "source_calls", "tenants", "users", "audit_log", "suppressions",
                "email_events", "sales", "prospect_sources"} <= tables
        downgrade(url, "base")
        left = set(wh.frame("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")["tablename"])
        assert left == {"alembic_version"}
        upgrade(url)
        wh.dispose()
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.mark.slow
def test_a_400k_partition_in_a_fresh_database_is_written_and_resynced_with_good_plans(tmp_path) -> None:
    """Issue 17: loading a big county into a fresh database, the "no longer produced" anti-join
    was planned on a few guessed rows and ran for 19 minutes. Here the table already holds (and
    has statistics for) a small county, as after a first small run; the big county's first load
    and its re-sync must each finish inside a generous statement timeout (a nested-loop plan at
    this size runs for tens of minutes; the right plans take seconds, more on a busy machine)."""
    import time

    from tests.databases import scratch_database
    from tests.scale_rows import changed_rows

    def lean(n: int) -> pd.DataFrame:  # keys, floats and jsonb: the write's cost without the frills
        frame = prospects([f"p{i}" for i in range(n)])
        frame["latitude"] = 47.5 + (frame.index % 1000) / 1e4
        return frame

    with scratch_database(tmp_path, prefix="reos_test_fresh") as url:
        wh = Warehouse(url)

        def sync(frame: pd.DataFrame, county: str):
            with wh.transaction() as conn:
                with conn.cursor() as cur:  # a bad plan at this size runs for many minutes: fail instead
                    cur.execute("SET LOCAL statement_timeout = '120s'")
                return sync_partition(conn, "prospects", frame, county=county,
                                      keys=["prospect_key"])

        sync(lean(5_000), "small_county")
        with wh.transaction() as conn, conn.cursor() as cur:
            cur.execute("ANALYZE prospects")  # what autovacuum does after the first small run
        big = lean(400_000)
        started = time.perf_counter()
        first = sync(big, "big_county")
        resynced = sync(changed_rows(big), "big_county")
        seconds = time.perf_counter() - started
        wh.dispose()
    assert (first.inserted, first.deleted) == (400_000, 0)
    assert (resynced.updated, resynced.deleted) == (40_000, 20_000)
    assert resynced.unchanged == 400_000 - 40_000 - 20_000
    assert seconds < 300, f"400k first load + re-sync took {seconds:.0f} s"


def test_a_connection_idle_past_the_ping_threshold_is_replaced_when_the_database_dropped_it(
        database_url: str) -> None:
    """The API's pool pings only connections idle for `ping_idle_s` (db/idle_ping.ping_when_idle):
    one the database closed meanwhile (a restart, an idle timeout) is replaced, not handed to a request."""
    warehouse = Warehouse(database_url, pool_size=1, max_overflow=0, ping_idle_s=0.0)
    try:
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            first = cur.fetchone()[0]
        admin = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (first,))
        admin.close()
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] != first  # a fresh connection, no error
    finally:
        warehouse.dispose()


def test_a_ping_opens_no_transaction(database_url: str) -> None:
    """A connection pinged on checkout (idle past `ping_idle_s`) is not left in a transaction: a
    snapshot's `SET TRANSACTION` must be its first statement (Warehouse.reading), and
    `begun_by_first` sends its own BEGIN (the pipeline's pool pings idle connections too)."""
    warehouse = Warehouse(database_url, pool_size=1, max_overflow=0, ping_idle_s=0.0)
    try:
        for _ in range(2):  # the second checkout is the pooled connection, pinged
            with warehouse.reading() as reader, reader.conn.cursor() as cur:
                cur.execute("SHOW transaction_isolation")
                assert cur.fetchone()[0] == "repeatable read"
        with warehouse.transaction(begun_by_first=True) as conn, conn.cursor() as cur:
            cur.execute("BEGIN; SELECT 1")
            assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    finally:
        warehouse.dispose()


def test_statements_that_commit_themselves_end_without_a_commit(warehouse: Warehouse) -> None:
    """`begun_by_first` with no statement beginning a transaction (each commits itself, as
    enrichment's document look-ups do) sends no COMMIT at the end: the server answered one with
    "there is no transaction in progress", a warning in its log at every enrichment run. One that
    did begin is committed."""
    table = f"wh_commit_{uuid.uuid4().hex[:8]}"
    try:
        with warehouse.transaction(begun_by_first=True) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (v int)")
            cur.execute(f"INSERT INTO {table} VALUES (1)")
            own = conn
        assert not [n for n in own.notices if "no transaction in progress" in n], own.notices
        with warehouse.transaction(begun_by_first=True) as conn, conn.cursor() as cur:
            cur.execute(f"BEGIN; INSERT INTO {table} VALUES (2)")
        assert warehouse.scalar(f"SELECT count(*) FROM {table}") == 2
        assert not [n for n in own.notices if "no transaction in progress" in n], own.notices
    finally:  # the worker's database is shared: test_column_comments reads every table's columns
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def test_a_rebuilt_index_keeps_its_expression_s_statistics_target(warehouse: Warehouse) -> None:
    """An index dropped for a first load and built again keeps the statistics target set on its
    expression column (migration 0059's trigram index at 10): pg_get_indexdef does not carry it,
    and at the default it would bring ANALYZE's 30,000-row sample back to the table."""
    table = f"wh_stat_{uuid.uuid4().hex[:8]}"
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, county text NOT NULL, k text NOT NULL, "
                    f"v text, UNIQUE (county, k))")
        cur.execute(f"CREATE INDEX {table}_lower ON {table} (lower(v))")
        cur.execute(f"ALTER INDEX {table}_lower ALTER COLUMN 1 SET STATISTICS 10")

    def index() -> tuple[int, int]:  # (its oid: rebuilt or not, its expression's target)
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT a.attrelid::int, a.attstattarget FROM pg_attribute a "
                        "WHERE a.attrelid = %s::regclass AND a.attnum = 1", (f"{table}_lower",))
            return cur.fetchone()

    before = index()
    try:
        with warehouse.transaction() as conn:
            stats = sync_partition(conn, table, iter([pd.DataFrame({"k": ["a", "b"], "v": ["X", "Y"]})]),
                                   county="c1", keys=["k"])
        assert stats.inserted == 2
        after = index()
        assert after[0] != before[0]  # dropped for the load and built again
        assert after[1] == 10
    finally:
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")


class Recording(psycopg2.extensions.cursor):
    """A cursor that keeps the text of every statement it sends (`sent`, all such cursors')."""

    sent: ClassVar[list[str]] = []

    def execute(self, query: Any, vars: Any = None) -> Any:
        Recording.sent.append(query if isinstance(query, str) else query.as_string(self))
        return super().execute(query, vars)


def test_a_first_load_into_an_empty_table_builds_its_indexes_after_the_rows(warehouse: Warehouse) -> None:
    """Issue 17: a first load into a table with no row at all drops its indexes, the primary key's
    too, and builds them again after the rows (sorted once, not maintained row by row): the same
    rows, the same indexes, UNIQUE constraint, primary key and NOT NULL columns after (a primary
    key a foreign key references is kept in place); a key loaded twice is refused and a failed
    blocking audit publishes nothing, the indexes as they were; a table another transaction
    is using, or one holding rows, is loaded with its indexes in place."""
    table = f"wh_bulk_{uuid.uuid4().hex[:8]}"
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, county text NOT NULL, k text NOT NULL, "
                    f"v double precision, UNIQUE (county, k))")
        cur.execute(f"CREATE INDEX {table}_v ON {table} (county, v) WHERE v > 0")

    def indexes(of: str = table) -> list[tuple]:  # and the constraints and columns: the table's definition
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT i.relname, pg_get_indexdef(x.indexrelid), c.contype FROM pg_index x "
                        "JOIN pg_class i ON i.oid = x.indexrelid LEFT JOIN pg_constraint c ON c.conindid = "
                        "x.indexrelid AND c.conrelid = x.indrelid WHERE x.indrelid = %s::regclass ORDER BY 1",
                        (of,))
            found = cur.fetchall()
            cur.execute("SELECT conname, contype, pg_get_constraintdef(oid), condeferrable FROM pg_constraint "
                        "WHERE conrelid = %s::regclass ORDER BY 1", (of,))
            found += cur.fetchall()
            cur.execute("SELECT attname, attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
                        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 ORDER BY a.attnum", (of,))
            return found + cur.fetchall()

    def frame(keys: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"k": keys, "v": [float(i) for i in range(len(keys))]})

    def sync(frames, county: str = "c1", audit=None):
        with warehouse.transaction() as conn:
            return sync_partition(conn, table, frames, county=county, keys=["k"], audit=audit)

    def dropped_during(frames, county: str = "c1", on: str = table,
                       index: str = f"{table}_v") -> bool:  # whether `index` was gone mid-load
        seen = []
        # Watched from another connection (the load's own is its COPY writer's until the load
        # ends): a dropped index is still in that connection's catalog snapshot, under the
        # load's ACCESS EXCLUSIVE lock until the load's transaction ends.
        watcher = psycopg2.connect(warehouse.url.replace("postgresql+psycopg2", "postgresql"))
        try:
            with warehouse.transaction() as conn:
                pid = conn.get_backend_pid()

                def watched():
                    for part in frames:
                        yield part
                        with watcher.cursor() as cur:
                            cur.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = %s::regclass "
                                        "AND mode = 'AccessExclusiveLock' AND granted",
                                        (pid, index))
                            seen.append(cur.fetchone()[0])
                        watcher.rollback()
                sync_partition(conn, on, watched(), county=county, keys=["k"])
        finally:
            watcher.close()
        return max(seen) > 0

    before = indexes()
    assert sorted(str(row[2]) for row in before[:3]) == ["None", "p", "u"]  # the key, the unique, the plain
    assert (f"{table}_pkey", "p", "PRIMARY KEY (id)", False) in before
    assert any(row[:2] == ("id", True) for row in before)  # NOT NULL
    with pytest.raises(ValueError, match=r"duplicate natural keys.*\bb\b"):
        sync(iter([frame(["a", "b"]), frame(["b"])]))
    assert indexes() == before and warehouse.scalar(f"SELECT count(*) FROM {table}") == 0
    refused = sync(frame(["a"]), audit=lambda conn, stage: [AuditResult("no", False, "refused")])
    assert not refused.published and indexes() == before
    assert warehouse.scalar(f"SELECT count(*) FROM {table}") == 0

    stats = sync(iter([frame(["a", "b"]), frame(["c"])]))
    assert (stats.inserted, stats.staged, stats.published) == (3, 3, True)
    assert indexes() == before
    assert warehouse.frame(f"SELECT county, k, v FROM {table} ORDER BY k").to_dict("list") == \
        {"county": ["c1"] * 3, "k": ["a", "b", "c"], "v": [0.0, 1.0, 0.0]}
    with pytest.raises(ValueError, match="duplicate natural keys"):  # the unique key is back in force
        sync(frame(["x", "x"]), county="c2")

    with warehouse.transaction() as conn, conn.cursor() as cur:  # another county, table not empty
        cur.execute(f"DELETE FROM {table}")  # empty again, but in use by another transaction:
    other = psycopg2.connect(warehouse.url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with other.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")  # holds ACCESS SHARE until it ends
        assert not dropped_during(iter([frame(["a"]), frame(["b"])]), county="c3")
        # Found in pg_locks first: no LOCK … NOWAIT is sent to fail (an ERROR in the server's log
        # at every enrichment first load, whose own reader holds the table).
        Recording.sent.clear()
        with warehouse.transaction() as conn:
            conn.cursor_factory = Recording
            try:
                sync_partition(conn, table, frame(["a"]), county="c3b", keys=["k"])
            finally:
                conn.cursor_factory = psycopg2.extensions.cursor  # the pool's next user's
        assert Recording.sent and not [s for s in Recording.sent if "LOCK TABLE" in s]
    finally:
        other.rollback()
        other.close()
    assert not dropped_during(iter([frame(["a"]), frame(["b"])]), county="c4")  # c3's rows are there
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table}")
    assert dropped_during(iter([frame(["a"]), frame(["b"])]), county="c5")  # empty and free: dropped
    assert indexes() == before
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table}")
    assert dropped_during(iter([frame(["a"]), frame(["b"])]), county="c6", index=f"{table}_pkey")  # the key's too
    assert indexes() == before
    assert warehouse.scalar(f"SELECT count(DISTINCT id) FROM {table} WHERE id IS NOT NULL") == 2

    # A primary key a foreign key references stays in place (the reference needs it throughout).
    referenced = f"{table}_r"
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {referenced} (id bigserial PRIMARY KEY, county text NOT NULL, k text NOT NULL, "
                    f"v double precision, UNIQUE (county, k))")
        cur.execute(f"CREATE TABLE {referenced}_ref (id bigint REFERENCES {referenced} (id))")
    held = indexes(referenced)
    assert not dropped_during(iter([frame(["a"]), frame(["b"])]), on=referenced, index=f"{referenced}_pkey")
    assert indexes(referenced) == held
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {referenced}")
    assert dropped_during(iter([frame(["a"]), frame(["b"])]), on=referenced,  # its other indexes are deferred
                          index=f"{referenced}_county_k_key")
    assert indexes(referenced) == held
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {referenced}_ref, {referenced}")
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")


def test_a_first_load_leaves_repeated_keys_to_the_tables_unique_key(warehouse: Warehouse, county: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: a first load's frames are not checked for repeated keys by the client when a
    NOT NULL unique key of the table covers exactly the slice's key (it refuses them itself, the
    same error); a re-sync through the stage, or a key no such index covers, is still checked."""
    from realestate_assets.db import warehouse as module

    with warehouse.transaction() as conn, conn.cursor() as cur:
        assert module._has_unique_key(cur, "prospects", ["county", "prospect_key"])
        assert module._has_unique_key(cur, "prospect_sources", ["source_id", "county", "source"])
        assert not module._has_unique_key(cur, "prospects", ["prospect_key"])
        assert not module._has_unique_key(cur, "prospects", ["county", "parcel_id"])
        cur.execute("CREATE TEMP TABLE _keys (county text NOT NULL, k text, p text NOT NULL, q text NOT NULL)")
        cur.execute("CREATE UNIQUE INDEX ON _keys (county, k)")  # k may be NULL: two NULLs pass it
        cur.execute("CREATE UNIQUE INDEX ON _keys (county, p) WHERE q <> ''")  # partial
        cur.execute("CREATE UNIQUE INDEX ON _keys (county, lower(q))")  # an expression
        assert not module._has_unique_key(cur, "_keys", ["county", "k"])
        assert not module._has_unique_key(cur, "_keys", ["county", "p"])
        assert not module._has_unique_key(cur, "_keys", ["county", "q"])
        cur.execute("ALTER TABLE _keys ADD UNIQUE (county, q) DEFERRABLE")  # refuses only at commit
        assert not module._has_unique_key(cur, "_keys", ["county", "q"])

    checked: list[int] = []
    real = module._no_duplicate_keys
    monkeypatch.setattr(module, "_no_duplicate_keys",
                        lambda table, frame, keys: (checked.append(len(frame)), real(table, frame, keys)))

    def sync(frames):
        with warehouse.transaction() as conn:
            return sync_partition(conn, "prospects", frames, county=county, keys=["prospect_key"])

    with pytest.raises(ValueError, match=r"duplicate natural keys.*\bb\b"):
        sync(iter([prospects(["a", "b", "b"]), prospects(["c"])]))
    with pytest.raises(ValueError, match=r"duplicate natural keys.*\bc\b"):
        sync(iter([prospects(["a", "c"]), prospects(["c"])]))
    assert checked == [] and warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": county}) == 0
    assert sync(iter([prospects(["a", "b"]), prospects(["c"])])).inserted == 3 and checked == []
    with pytest.raises(ValueError, match="duplicate natural keys"):  # through the stage: checked
        sync(prospects(["a", "a"]))
    assert checked == [2]
