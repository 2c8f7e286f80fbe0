"""The COPY writer thread (db/copy_io.CopyWriter) that every chunked write goes through: chunks
arrive in the order handed over, at most `depth` are held, and its errors reach the caller."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import psycopg2.errors
import pytest

from realestate_assets.db.copy_io import CopyWriter
from realestate_assets.db.warehouse import Warehouse, sync_partition
from tests.scale_rows import prospect_rows


@pytest.fixture
def table(warehouse: Warehouse) -> str:
    """A committed table of the test's own: rows numbered (`id`) in the order they arrive."""
    name = f"cw_{uuid.uuid4().hex[:8]}"
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id bigserial PRIMARY KEY, chunk int NOT NULL, n int NOT NULL)")
    yield name
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {name}")


def chunk(i: int, rows: int = 50) -> str:
    return "".join(f"{i},{n}\n" for n in range(rows))


def arrived(warehouse: Warehouse, table: str) -> list[tuple[int, int]]:
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT chunk, n FROM {table} ORDER BY id")
        return cur.fetchall()


def test_chunks_arrive_in_the_order_handed_over(warehouse: Warehouse, table: str) -> None:
    statement = f"COPY {table} (chunk, n) FROM STDIN WITH (FORMAT csv)"
    with warehouse.transaction() as conn:
        with CopyWriter(conn, depth=2) as writer:
            for i in range(40):
                writer.copy(statement, chunk(i))
        assert writer.written == 40
    assert arrived(warehouse, table) == [(i, n) for i in range(40) for n in range(50)]


def backend_waits_for_a_lock(warehouse: Warehouse, pid: int) -> None:
    """Until the backend `pid` waits for a lock (a wait for a state, not for a time)."""
    while True:
        with warehouse.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
            if cur.fetchone()[0] == "Lock":
                return


def test_the_writer_holds_at_most_depth_chunks(warehouse: Warehouse, table: str) -> None:
    statement = f"COPY {table} (chunk, n) FROM STDIN WITH (FORMAT csv)"
    locker = psycopg2.connect(warehouse.url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with locker.cursor() as cur:  # the writer's first COPY waits behind this lock
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with warehouse.transaction() as conn:
            handed = threading.Event()
            with CopyWriter(conn, depth=1) as writer:
                writer.copy(statement, chunk(0))  # taken by the writer: it now waits for the lock
                backend_waits_for_a_lock(warehouse, conn.get_backend_pid())

                def second() -> None:
                    writer.copy(statement, chunk(1))
                    handed.set()

                helper = threading.Thread(target=second)
                helper.start()
                # The writer holds its one chunk (depth 1): the next cannot be handed over while
                # the first is unsent. (A slow machine can only make this pass, never fail.)
                assert not handed.wait(0.5)
                assert writer.written == 0
                locker.commit()  # the first COPY goes through, then the second is taken
                helper.join()
                assert handed.is_set()
            assert writer.written == 2
        assert arrived(warehouse, table) == [(i, n) for i in range(2) for n in range(50)]
    finally:
        locker.close()


def test_a_write_error_reaches_the_caller_and_nothing_after_it_is_sent(warehouse: Warehouse, table: str) -> None:
    statement = f"COPY {table} (chunk, n) FROM STDIN WITH (FORMAT csv)"
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation), warehouse.transaction() as conn, \
            CopyWriter(conn, depth=2) as writer:
        writer.copy(statement, chunk(0))
        writer.copy(statement, "1,not a number\n")
        try:  # raised here, or by the close at the block's end: never lost
            for i in range(2, 50):
                writer.copy(statement, chunk(i))
        finally:
            assert writer.written <= 1
    assert arrived(warehouse, table) == []  # the transaction rolled back


def test_the_callers_error_wins_and_the_writer_stops(warehouse: Warehouse, table: str) -> None:
    statement = f"COPY {table} (chunk, n) FROM STDIN WITH (FORMAT csv)"
    with pytest.raises(RuntimeError, match="the producer failed"), warehouse.transaction() as conn, \
            CopyWriter(conn, depth=2) as writer:
        writer.copy(statement, chunk(0))
        raise RuntimeError("the producer failed")
    assert not writer._thread.is_alive()
    assert arrived(warehouse, table) == []


def test_streamed_frames_are_all_written_and_a_repeated_key_is_refused(warehouse: Warehouse) -> None:
    """sync_partition's frames go through one writer: a generator's frames all arrive (a first
    load, then the stage and upsert), and a key repeated in a later frame of a first load — the
    table's unique key fails in the writer thread — is refused as before, the slice left empty."""
    county = f"cw_{uuid.uuid4().hex[:6]}"
    rows = prospect_rows(3_000)
    parts = [rows.iloc[i:i + 500] for i in range(0, len(rows), 500)]
    for _ in range(2):  # a first load straight into the table, then a re-sync through the stage
        with warehouse.transaction() as conn:
            stats = sync_partition(conn, "prospects", iter(parts), county=county, keys=["prospect_key"])
        assert stats.staged == len(rows)
    assert warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": county}) == len(rows)

    other = f"cw_{uuid.uuid4().hex[:6]}"
    repeated = [*parts, parts[0].iloc[:1]]
    with pytest.raises(ValueError, match="duplicate natural keys"), warehouse.transaction() as conn:
        sync_partition(conn, "prospects", iter(repeated), county=other, keys=["prospect_key"])
    assert warehouse.scalar("SELECT count(*) FROM prospects WHERE county = :c", {"c": other}) == 0
