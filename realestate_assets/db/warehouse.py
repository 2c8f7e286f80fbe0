"""Idempotent partition writes and reads against PostgreSQL. No Dagster imports.

`sync_partition` is how every asset table is written: the partition's rows are COPYed into a
temporary table, upserted on the natural key (touching only rows whose values changed, so
`updated_at` means something), and rows of the partition that are no longer produced are
deleted — all in the caller's transaction. Re-running a materialization therefore never
duplicates a row. A first load (the slice holds no row yet) skips the stage: the rows are COPYed
straight into the table, where the upsert would only have inserted them all again.

Write–audit–publish: a table whose check is blocking passes an `audit` that runs on the staged
rows before anything is published; if a blocking result fails, the stage is dropped and the
published rows stay exactly as they were (yesterday's rows remain, downstream reads them).
"""

from __future__ import annotations

import json
import logging
import math
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection as PgConnection
from psycopg2.extensions import encodings
from psycopg2.extras import execute_values
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from realestate_assets.db.copy_io import (
    FIXED_NUMERIC,
    CopyWriter,
    copy_readable,
    read_frame,
    result_columns,
    write_frame,
)
from realestate_assets.db.county_partitions import (
    attach_county_table,
    county_partition,
    create_county_table,
    index_county_table,
    note_write,
)
from realestate_assets.db.idle_ping import ping_when_idle
from realestate_assets.db.slice_versions import version_keys, writing_county
from realestate_assets.db.urls import sqlalchemy_url
from realestate_assets.discovery.records import Reject

log = logging.getLogger(__name__)


def json_safe(value: Any) -> Any:
    """JSON-ready copy: NaN/inf become null, dates become ISO strings, numpy scalars plain."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, str):
        return value.replace("\x00", "")  # PostgreSQL text and jsonb cannot hold NUL
    return value


def to_json(value: Any) -> str:
    return json.dumps(json_safe(value), ensure_ascii=False)


@dataclass(frozen=True)
class AuditResult:
    """One check evaluated on the staged rows; a failed `blocking` one stops the publish."""

    name: str
    passed: bool
    description: str
    blocking: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)


# Called with the connection and the name of the staged table (same columns as `frame`).
Audit = Callable[[PgConnection, str], Sequence[AuditResult]]


@dataclass(frozen=True)
class SyncStats:
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    published: bool = True
    staged: int = 0
    audits: tuple[AuditResult, ...] = ()
    # A published first load's: the transaction id every row of the slice carries now (its
    # `xmin`; 0 when no row was loaded), so the slice's state is known without a scan
    # (input_fingerprints.loaded_slice_state). None for any other write.
    loaded_xmin: int | None = None
    # The slice's version key (db/slice_versions.py), read in the write's transaction after its
    # statements: what a state read after the commit (or known from the load) is recorded with.
    slice_version: str | None = None

    @property
    def rows(self) -> int:
        return self.inserted + self.updated + self.unchanged


def dict_row(cur: Any) -> dict[str, Any] | None:
    """The cursor's next row as {column: value}; None when there is none."""
    row = cur.fetchone()
    return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))


def dict_rows(cur: Any) -> list[dict[str, Any]]:
    """The cursor's remaining rows as {column: value} dicts."""
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class Warehouse:
    """A PostgreSQL warehouse reached through one SQLAlchemy engine (psycopg2 driver)."""

    def __init__(self, url: str, pool_size: int = 2, max_overflow: int = 2, ping_idle_s: float | None = None) -> None:
        """`ping_idle_s`: ping a pooled connection before use only when it has been idle this long
        (db/idle_ping.py; the API's pool and the pipeline's, whose step opens 6–11 transactions,
        use PING_IDLE_S); None: before every use, SQLAlchemy's pre-ping."""
        self.url = sqlalchemy_url(url)
        self.pool_size, self.max_overflow, self.ping_idle_s = pool_size, max_overflow, ping_idle_s

    @cached_property
    def engine(self) -> Engine:
        if self.ping_idle_s is None:
            return create_engine(self.url, pool_pre_ping=True, pool_size=self.pool_size,
                                 max_overflow=self.max_overflow)
        engine = create_engine(self.url, pool_size=self.pool_size, max_overflow=self.max_overflow)
        ping_when_idle(engine, self.ping_idle_s)
        return engine

    @contextmanager
    def transaction(self, begun_by_first: bool = False) -> Iterator[PgConnection]:
        """A raw psycopg2 connection in one transaction: committed on success, else rolled back.

        `begun_by_first`: psycopg2 sends its own BEGIN, a round trip, before a transaction's first
        statement; here the connection is in autocommit mode instead and the first statement
        opens the transaction itself (`BEGIN; …` in its text: tenancy.act_as_api does, for the
        API's list and detail), and the end is an explicit COMMIT or ROLLBACK — none when no
        statement began one (each then committed itself: enrichment's `adding`), which the server
        would answer with a warning in its log. Such a transaction cannot use named (server-side)
        cursors."""
        raw = self.engine.raw_connection()
        conn: PgConnection = raw.driver_connection  # type: ignore[assignment]
        # Not within a transaction already (a connection is pinged in autocommit): the usual way then.
        explicit = begun_by_first and conn.status == psycopg2.extensions.STATUS_READY
        try:
            if explicit:
                conn.autocommit = True
            yield conn
            if explicit:
                if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    with conn.cursor() as cur:
                        cur.execute("COMMIT")
            else:
                conn.commit()
            refresh_table_statistics(conn, _written_county_tables.pop(conn, {}))
        except BaseException:
            _written_county_tables.pop(conn, None)
            if explicit:
                _end_explicit(raw, conn)
            else:
                raw.rollback()
            raise
        finally:
            if explicit and not conn.closed:
                conn.autocommit = False
            raw.close()

    def frame(self, query: str, params: dict[str, Any] | None = None, text_as_arrow: bool = False) -> pd.DataFrame:
        """The rows of `query` (`:name` parameters) as a frame: the one way assets read a county.

        Streamed through COPY into pandas in chunks with the result columns' types
        (db/copy_io.py); a result with a type COPY reading does not handle (arrays, uuid) is
        read through the cursor as before, with the same frame types (and text as objects,
        whatever `text_as_arrow`, `read_frame`'s option, says)."""
        with self.transaction() as conn:
            bound = self.bind(conn, query, params)
            columns = result_columns(conn, bound)
            if copy_readable(columns):
                return read_frame(conn, bound, columns, text_as_arrow=text_as_arrow)
        return self.frame_rows(query, params)

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """Reads on one connection, in one snapshot (REPEATABLE READ, read only): a county read
        chunk by chunk (`Reader.chunks`) with its companion rows per chunk sees one state of the
        database however long the work between the chunks takes."""
        with self.transaction() as conn:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Reader(self, conn)

    def frame_rows(self, query: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`frame` through a DB-API cursor (one Python tuple per row): small or unusual results.
        `read_sql_query`, not `read_sql`: given SQLAlchemy, `read_sql` first asks the catalog
        whether the query's text is a table's name (a round trip per read)."""
        with self.engine.connect() as conn:
            return pd.read_sql_query(text(query), conn, params=params or {})

    def bind(self, conn: PgConnection, query: str, params: dict[str, Any] | None) -> str:
        """`query` with its `:name` parameters bound as literals, by psycopg2 itself (which binds
        on the client side anyway), so it can run inside `COPY (...) TO STDOUT`."""
        compiled = text(query).compile(dialect=self.engine.dialect)
        values = compiled.construct_params(params or {})
        with conn.cursor() as cur:
            return cur.mogrify(compiled.string, values).decode(encodings[conn.encoding])

    def scalar(self, query: str, params: dict[str, Any] | None = None) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(query), params or {}).scalar()

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def _end_explicit(raw: Any, conn: PgConnection) -> None:
    """Roll back a transaction begun by its first statement (Warehouse.transaction): psycopg2's
    own rollback does nothing in autocommit mode. A connection that cannot is not pooled again."""
    try:
        if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            with conn.cursor() as cur:
                cur.execute("ROLLBACK")
    except psycopg2.Error:
        raw.invalidate()


class Reader:
    """`Warehouse.frame` on one open connection (`Warehouse.reading`), and a query's rows in chunks."""

    def __init__(self, warehouse: Warehouse, conn: PgConnection) -> None:
        self.warehouse, self.conn = warehouse, conn

    def frame(self, query: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The rows of `query` as `Warehouse.frame` gives them (COPY-readable result types only)."""
        bound = self.warehouse.bind(self.conn, query, params)
        return read_frame(self.conn, bound)

    def chunks(self, query: str, params: dict[str, Any] | None = None, *, key: str,
               rows: int) -> Iterator[pd.DataFrame]:
        """The rows of `query` in frames of at most `rows`, ordered by its unique column `key`
        (keyset pages: each page is `key > the last one`, so an index on the key serves every
        page at the same cost and memory holds one page, whatever the county's size). Each page
        has `Warehouse.frame`'s types (an integer column is float64 in a page where it is NULL)."""
        page = sql.SQL("SELECT * FROM ({}) AS _page {} ORDER BY {} LIMIT {}")
        first = page.format(sql.SQL(query), sql.SQL(""), sql.Identifier(key), sql.Literal(rows)).as_string(self.conn)
        after = page.format(sql.SQL(query), sql.SQL("WHERE {} > :_after").format(sql.Identifier(key)),
                            sql.Identifier(key), sql.Literal(rows)).as_string(self.conn)
        columns = result_columns(self.conn, self.warehouse.bind(self.conn, first, params))
        last: Any = None
        while True:
            bound = self.warehouse.bind(self.conn, first if last is None else after,
                                        {**(params or {}), "_after": last})
            frame = read_frame(self.conn, bound, columns)
            if len(frame):
                yield frame
            if len(frame) < rows:
                return
            last = frame[key].iloc[-1]
            last = last.item() if isinstance(last, np.generic) else last  # psycopg2 binds plain values


def _column_types(conn: PgConnection, table: str) -> dict[str, str]:
    """Column → data_type; a numeric with a declared scale is `copy_io.FIXED_NUMERIC` (the
    writers may then send a float's shortest text: the stored value is the same)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, CASE WHEN data_type = 'numeric' AND numeric_scale IS NOT NULL THEN %s "
            "ELSE data_type END FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s", (FIXED_NUMERIC, table))
        return dict(cur.fetchall())


def sync_partition(
    conn: PgConnection,
    table: str,
    frame: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    tenant_id: str | None = None,
    county: str,
    keys: Sequence[str],
    delete_missing: bool = True,
    preserve: Iterable[str] = (),
    audit: Audit | None = None,
    columns: Sequence[str] | None = None,
    json_text: Collection[str] = (),
) -> SyncStats:
    """Make the county's slice of `table` equal `frame`, keyed on `keys`: the (tenant, county)
    slice of a tenant-owned table, or with `tenant_id=None` the county's one set of rows in a
    public table (which has no tenant_id, DESIGN §9).

    `frame` may be an iterable of frames with the same columns (`columns` names them when it
    may yield none): each is staged as it comes and can be dropped before the next, so a
    county's rows never need to be in memory at once; the slice is then made equal to all of
    them together, exactly as for one frame.

    `preserve` names columns that an upsert must not overwrite (e.g. `first_seen_at`); they are
    written only on insert. `audit` runs on the staged rows first; when one of its blocking
    results fails nothing is published (`published=False`) and the slice keeps its previous rows.
    For a first load (an empty slice) the rows are COPYed into the table itself under a savepoint,
    the audit reads them through a temporary view named like the stage, and a failed blocking
    result rolls back to the savepoint: the same outcome, the rows written once instead of twice.
    A table partitioned by county (`db/county_partitions.py`) is written in the county's partition;
    a first load makes the partition as a table of its own, writes its rows frozen (`write_frame`'s
    `freeze`) and attaches it once they are in.

    `json_text` names jsonb columns whose values are JSON text already (built by column, e.g.
    enrichment's provenance): written as they are instead of serialized value by value. The
    producer answers for it being what `to_json` would write (no NUL, no NaN).
    """
    frames = iter([frame] if isinstance(frame, pd.DataFrame) else frame)
    first = next(frames, None)
    if first is None:
        if columns is None:
            raise ValueError(f"{table}: no frame given and no columns named")
        first = pd.DataFrame(columns=list(columns))
    columns = list(first.columns)
    types = _column_types(conn, table)
    unknown = [c for c in columns if c not in types]
    if unknown:
        raise ValueError(f"{table}: columns {unknown} are not in the table")
    ident = sql.Identifier
    cols = sql.SQL(", ").join(map(ident, columns))
    updatable = [c for c in columns if c not in keys and c not in set(preserve)]
    scope = ["county"] if tenant_id is None else ["tenant_id", "county"]
    scope_values = (county,) if tenant_id is None else (tenant_id, county)
    where = sql.SQL(" AND ").join(sql.SQL("t.{} = %s").format(ident(c)) for c in scope)
    with conn.cursor() as cur:
        # The slices' versions say these statements wrote this county's rows alone (migration 0066).
        writing_county(cur, county)
        # Large values (enrichment's provenance, ~2.6 KB of JSON a row) are compressed with lz4
        # where the server has it: the same bytes back and about the same size as pglz, in 40%
        # less time per write, paid twice here (stage and table). For this transaction only.
        cur.execute("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
                    "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        # A first load (the slice holds no row): the rows go straight into the table, not
        # through a stage and an upsert that copies them again (issue 17: at a million
        # enrichment rows, ~3 GB of jsonb text parsed once instead of written twice).
        cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {} t WHERE {})").format(ident(table), where),
                    scope_values)
        direct = bool(cur.fetchone()[0])
        # A first load's repeated keys are refused by the table's own unique key on the slice's
        # key (at the COPY, or at the rebuild of its deferred index: `_refuse_direct_load`,
        # `_rebuild_indexes`, the same error): the frames' check is not made again then
        # (≈0.15–0.25 CPU s a million keys, on the step's critical path: issue 17).
        keyed_by_table = direct and _has_unique_key(cur, table, [*scope, *keys])
        if not keyed_by_table:
            _no_duplicate_keys(table, first, keys)
        # A table partitioned by county (migration 0069, db/county_partitions.py): the rows are
        # written in the county's partition, where an upsert can tell its inserts (`xmax` is not
        # returned through a partitioned table); a first load makes the partition apart.
        partition = county_partition(cur, table, county) if tenant_id is None else None
        target = (partition.name or table) if partition is not None else table
        deferred: list[_DeferredIndex] = []
        county_table: str | None = None  # the county's new partition: loaded, keyed, then attached
        if direct:
            cur.execute("SAVEPOINT _direct_load")  # an audit that fails takes the rows back out
            if partition is None:
                deferred = _defer_indexes(cur, table)
            elif partition.name is None:  # (a partition emptied by a delete takes the rows as they come)
                county_table = target = create_county_table(cur, table, county)
        else:
            cur.execute(sql.SQL("CREATE TEMP TABLE _stage ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA")
                        .format(cols, ident(table)))
    staged = parts = 0
    part: pd.DataFrame | None = first
    del first
    # One writer for the whole slice: each frame is COPYed by its thread while the caller's
    # generator makes the next (db/copy_io.CopyWriter); its errors are raised here.
    try:
        with CopyWriter(conn) as writer:
            while part is not None:
                if parts:  # the first frame was checked before the stage was made
                    if list(part.columns) != columns:
                        raise ValueError(f"{table}: a frame has columns {list(part.columns)}, the first had {columns}")
                    if not keyed_by_table:
                        _no_duplicate_keys(table, part, keys)
                write_frame(conn, target if direct else "_stage", part, types, json_text=json_text, writer=writer,
                            constants=dict(zip(scope, scope_values, strict=True)) if direct else None,
                            freeze=county_table is not None)  # made after `_direct_load`: this subtransaction's
                staged, parts = staged + len(part), parts + 1
                part = None  # not held while the caller's generator makes the next one
                part = next(frames, None)
    except psycopg2.errors.UniqueViolation as exc:
        if not direct:
            raise
        _refuse_direct_load(conn, table, exc)
    if direct:
        if county_table is not None:
            try:
                with conn.cursor() as cur:
                    index_county_table(cur, table, county_table, county)
            except psycopg2.errors.UniqueViolation as exc:
                _refuse_direct_load(conn, table, exc)
        else:
            _rebuild_indexes(conn, table, deferred)
        # A county's new partition is analyzed after the commit, with the table as a whole
        # (`refresh_table_statistics`), not in the load's transaction too.
        stats = _publish_direct_load(conn, target, columns, scope, scope_values, tenant_id, county, staged, audit,
                                     analyze=county_table is None)
        if stats.published and target != table:
            with conn.cursor() as cur:
                if county_table is not None:  # last: its lock on `table` is held to the commit
                    attach_county_table(cur, table, county_table, county)
                _note_partition_write(conn, cur, table, county, rows_written=staged > 0,
                                      loaded=county_table if staged >= STATISTICS_MIN_ROWS else None)
        return _labelled(conn, table, county, tenant_id, stats)
    with conn.cursor() as cur:
        # The "no longer produced" anti-join probes the stage by key: indexed, it cannot turn
        # into a scan of the stage per partition row whatever the planner guesses. Unique: keys
        # repeated across streamed frames are refused like those within one. And statistics for
        # the planner: the stage would otherwise be guessed at a few rows.
        key_cols = sql.SQL(", ").join(map(ident, keys))
        cur.execute("SAVEPOINT _stage_keys")
        try:
            cur.execute(sql.SQL("CREATE UNIQUE INDEX ON _stage ({})").format(key_cols))
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT _stage_keys")
            cur.execute(sql.SQL("SELECT {} FROM _stage GROUP BY {} HAVING count(*) > 1 LIMIT 5")
                        .format(key_cols, key_cols))
            dupes = [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]
            raise ValueError(f"{table}: duplicate natural keys in the frame, e.g. {dupes}") from None
        cur.execute("RELEASE SAVEPOINT _stage_keys")
        cur.execute("ANALYZE _stage")
    audits = tuple(audit(conn, "_stage")) if audit is not None else ()
    if not all(a.passed for a in audits if a.blocking):
        with conn.cursor() as cur:
            cur.execute("DROP TABLE _stage")
        return _labelled(conn, table, county, tenant_id, SyncStats(
            inserted=0, updated=0, deleted=0, unchanged=0, published=False, staged=staged, audits=audits))
    key_list = sql.SQL(", ").join(map(ident, [*scope, *keys]))
    if updatable:
        set_clause = sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(ident(c), ident(c)) for c in updatable)
        changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(sql.SQL("{}.{}").format(ident(target), ident(c)) for c in updatable),
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(ident(c)) for c in updatable))
        conflict = sql.SQL("DO UPDATE SET {} WHERE {}").format(set_clause, changed)
    else:
        conflict = sql.SQL("DO NOTHING")
    upsert = sql.SQL(
        "INSERT INTO {table} ({scope}, {cols}) SELECT {values}, {cols} FROM _stage "
        "ON CONFLICT ({keys}) {conflict} RETURNING (xmax = 0) AS inserted"
    ).format(table=ident(target), scope=sql.SQL(", ").join(map(ident, scope)),
             values=sql.SQL(", ").join(sql.Placeholder() * len(scope)), cols=cols, keys=key_list, conflict=conflict)
    with conn.cursor() as cur:
        # Counted by the server: a million upserted rows need not come back one flag a row.
        cur.execute(sql.SQL("WITH _written AS ({}) SELECT count(*) FILTER (WHERE inserted), count(*) "
                            "FROM _written").format(upsert), scope_values)
        inserted, written = cur.fetchone()
        updated = written - inserted
        deleted = 0
        refresh_statistics(cur, target, tenant_id, county, staged)  # for the delete and the readers
        if delete_missing:
            match = sql.SQL(" AND ").join(
                sql.SQL("s.{} = t.{}").format(ident(k), ident(k)) for k in keys)
            cur.execute(sql.SQL(
                "DELETE FROM {} t WHERE {} "
                "AND NOT EXISTS (SELECT 1 FROM _stage s WHERE {})").format(ident(target), where, match),
                scope_values)
            deleted = cur.rowcount
        if target != table:
            _note_partition_write(conn, cur, table, county, rows_written=inserted + updated + deleted > 0)
        cur.execute("DROP TABLE _stage")
    return _labelled(conn, table, county, tenant_id, SyncStats(
        inserted=inserted, updated=updated, deleted=deleted, unchanged=staged - inserted - updated, staged=staged,
        audits=audits))


def _labelled(conn: PgConnection, table: str, county: str, tenant_id: str | None, stats: SyncStats) -> SyncStats:
    """`stats` with the slice's version key, read in the write's transaction (a public slice's; a
    tenant's has none), and the transaction's later statements no longer said to write `county`."""
    with conn.cursor() as cur:
        key = version_keys(cur, [table], county)[table] if tenant_id is None else None
        writing_county(cur, None)
    return replace(stats, slice_version=key)


@dataclass(frozen=True)
class _DeferredIndex:
    name: str
    definition: str  # pg_get_indexdef: the CREATE [UNIQUE] INDEX statement, name included
    constraint: str  # the constraint of the same name it backs: "UNIQUE", "PRIMARY KEY" or "" (none)
    # (column number, statistics target) of its columns set apart from the default (an expression's,
    # migration 0059's trigram index): pg_get_indexdef does not carry them, and a rebuilt index
    # at the default target would bring ANALYZE's 30,000-row sample back to its table.
    statistics: tuple[tuple[int, int], ...] = ()


# pg_constraint.contype → the constraint `_rebuild_indexes` puts back on a rebuilt index.
_INDEX_CONSTRAINTS = {"u": "UNIQUE", "p": "PRIMARY KEY"}


def _defer_indexes(cur: Any, table: str) -> list[_DeferredIndex]:
    """A first load into a table that holds no row at all (a new deployment, a fresh database):
    drop its indexes, to be built again after the load (`_rebuild_indexes`), sorted
    once instead of maintained row by row. Measured at 1M sales (issue 17, load 12): a COPY
    into `sales` with its 4 indexes took 21.0 CPU s of the server and 78.5 s; without them
    3.2 CPU s and 6.3 s, the 3 secondary indexes built after in 4.3 CPU s and 13.7 s. The primary
    key too (a sequence's ids, maintained row by row at the right edge of its tree: at 1M feature
    rows the COPY's server CPU 3.6–4.3 s with it, 2.8–3.4 s without and 0.3 s to build it after);
    its column stays NOT NULL meanwhile, and it comes back as the same named constraint.

    Only when the table can be locked at once (ACCESS EXCLUSIVE, NOWAIT: no other transaction
    reads or writes it) and is empty under the lock; else nothing is dropped and the load goes
    row by row as before. Readers of the table wait until this transaction ends. Kept: indexes
    that back anything but a plain (not deferrable) UNIQUE constraint or primary key, those a
    foreign key references, the replica-identity or cluster index. A rollback puts every index
    back. Another transaction's lock is looked for first (pg_locks): the usual case, enrichment's
    own reader of the previous rows holding the table, then sends no LOCK that fails — an ERROR in
    the server's log at every such load. The LOCK still decides (one taken in between fails it)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = %s::regclass AND pid <> pg_backend_pid())",
                (table,))
    if cur.fetchone()[0]:
        return []
    cur.execute("SAVEPOINT _defer_indexes")
    try:
        cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE NOWAIT").format(sql.Identifier(table)))
        cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))
        empty = bool(cur.fetchone()[0])
    except psycopg2.errors.LockNotAvailable:
        empty = False
    if not empty:  # the lock (if taken) is released with the savepoint
        cur.execute("ROLLBACK TO SAVEPOINT _defer_indexes")
        cur.execute("RELEASE SAVEPOINT _defer_indexes")
        return []
    cur.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid), c.contype, "
        "ARRAY(SELECT ARRAY[a.attnum::int, a.attstattarget::int] FROM pg_attribute a WHERE a.attrelid = x.indexrelid "
        "      AND a.attstattarget IS NOT NULL AND a.attstattarget <> -1 ORDER BY a.attnum) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid "
        "WHERE x.indrelid = %s::regclass AND x.indisvalid "
        "AND NOT x.indisreplident AND NOT x.indisclustered "
        "AND (c.oid IS NULL OR (c.contype IN ('u', 'p') AND NOT c.condeferrable AND c.conname = i.relname)) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = x.indexrelid) "
        "ORDER BY i.relname", (table,))
    deferred = [_DeferredIndex(name, definition, _INDEX_CONSTRAINTS.get(contype, ""),
                               tuple((column, target) for column, target in statistics))
                for name, definition, contype, statistics in cur.fetchall()]
    for index in deferred:
        drop = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}" if index.constraint else "DROP INDEX {1}")
        cur.execute(drop.format(sql.Identifier(table), sql.Identifier(index.name)))
    cur.execute("RELEASE SAVEPOINT _defer_indexes")
    return deferred


def _rebuild_indexes(conn: PgConnection, table: str, deferred: Sequence[_DeferredIndex]) -> None:
    """The indexes `_defer_indexes` dropped, built again as they were (same names and
    definitions, the UNIQUE constraints and the primary key on them). A key loaded twice fails
    the unique build: refused like a duplicate key in the load, the slice left empty."""
    with conn.cursor() as cur:
        for index in deferred:
            try:
                cur.execute(index.definition)
            except psycopg2.errors.UniqueViolation as exc:
                _refuse_direct_load(conn, table, exc)
            if index.constraint:
                cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} USING INDEX {}").format(
                    sql.Identifier(table), sql.Identifier(index.name), sql.SQL(index.constraint),
                    sql.Identifier(index.name)))
            for column, target in index.statistics:
                cur.execute(sql.SQL("ALTER INDEX {} ALTER COLUMN {} SET STATISTICS {}").format(
                    sql.Identifier(index.name), sql.Literal(column), sql.Literal(target)))


def _refuse_direct_load(conn: PgConnection, table: str, exc: psycopg2.errors.UniqueViolation) -> None:
    """A first load COPYed straight into `table` (the partition's scope columns added) met a key
    already written (by an earlier frame: the table's unique key saw it): the load is taken back
    and refused like duplicate keys in the stage."""
    with conn.cursor() as cur:
        cur.execute("ROLLBACK TO SAVEPOINT _direct_load")
    detail = exc.diag.message_detail or str(exc)
    raise ValueError(f"{table}: duplicate natural keys in the frame, e.g. {detail}") from None


def _publish_direct_load(conn: PgConnection, table: str, columns: Sequence[str], scope: Sequence[str],
                         scope_values: Sequence[str], tenant_id: str | None, county: str, staged: int,
                         audit: Audit | None, analyze: bool = True) -> SyncStats:
    """After a first load straight into the table: the audit reads the loaded rows through a
    temporary view named like the stage (same columns, only this slice), and a failed blocking
    result rolls the load back, leaving the slice as it was: empty. `analyze`: the table's
    statistics are refreshed now (else after the commit: a county's new partition)."""
    ident = sql.Identifier
    with conn.cursor() as cur:
        if analyze:  # for the audits (aggregates, planned alike without) and the readers
            refresh_statistics(cur, table, tenant_id, county, staged)
        if audit is not None:
            cur.execute(sql.SQL("CREATE TEMP VIEW _stage AS SELECT {} FROM {} WHERE {}").format(
                sql.SQL(", ").join(map(ident, columns)), ident(table),
                sql.SQL(" AND ").join(sql.SQL("{} = {}").format(ident(c), sql.Literal(v))
                                      for c, v in zip(scope, scope_values, strict=True))))
    audits = tuple(audit(conn, "_stage")) if audit is not None else ()
    with conn.cursor() as cur:
        if not all(a.passed for a in audits if a.blocking):
            cur.execute("ROLLBACK TO SAVEPOINT _direct_load")
            return SyncStats(inserted=0, updated=0, deleted=0, unchanged=0, published=False, staged=staged,
                             audits=audits)
        if audit is not None:
            cur.execute("DROP VIEW _stage")
        # Every row just loaded was written by this savepoint's subtransaction: one row tells
        # the `xmin` of all (the slice was empty), where a scan after the commit read a million
        # (issue 17).
        cur.execute(sql.SQL("SELECT xmin::text::bigint FROM {} WHERE {} LIMIT 1").format(
            ident(table), sql.SQL(" AND ").join(sql.SQL("{} = %s").format(ident(c)) for c in scope)), scope_values)
        loaded = cur.fetchone()
        cur.execute("RELEASE SAVEPOINT _direct_load")
    return SyncStats(inserted=staged, updated=0, deleted=0, unchanged=0, staged=staged, audits=audits,
                     loaded_xmin=int(loaded[0]) if loaded is not None else 0)


def _has_unique_key(cur: Any, table: str, columns: Sequence[str]) -> bool:
    """Whether `table` has a valid unique index (or constraint) on exactly `columns`, no
    expression, no predicate, checked at once (not a deferrable constraint, which would refuse
    at commit, past `_refuse_direct_load`), and every one of them NOT NULL: it refuses any two
    rows with the same values there, as `_no_duplicate_keys` does (a NULL key cannot be written
    at all)."""
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = %s::regclass AND x.indisunique "
        "AND x.indisvalid AND x.indimmediate AND x.indexprs IS NULL AND x.indpred IS NULL "
        "AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
        "     WHERE a.attrelid = x.indrelid AND a.attnum = ANY ((x.indkey::int2[])[0:x.indnkeyatts - 1]) "
        "     AND a.attnotnull) = %s::text[])",
        (table, sorted(set(columns))))
    return bool(cur.fetchone()[0])


def _no_duplicate_keys(table: str, frame: pd.DataFrame, keys: Sequence[str]) -> None:
    if frame.duplicated(list(keys)).any():
        dupes = frame.loc[frame.duplicated(list(keys), keep=False), list(keys)].head(5)
        raise ValueError(f"{table}: duplicate natural keys in the frame, e.g. {dupes.to_dict('records')}")


def refresh_statistics(cur: Any, table: str, tenant_id: str | None, county: str, rows: int) -> bool:
    """ANALYZE `table` when the planner's estimate of the slice is far below the `rows` it holds
    now: a partition bulk-loaded into a fresh table (never analyzed, or analyzed when it held
    another county) is otherwise planned as a handful of rows — nested loops over 400k rows, a
    "delete rows no longer produced" still running after 19 minutes (issue 17). ANALYZE sees this
    transaction's own rows and samples a bounded number of pages (well under a second at 1M).
    Small slices matter too: a 5k-row `features` guessed at one row made `scores`' read a nested
    loop re-running the last-sale subquery per row (40 s instead of well under one)."""
    if rows < STATISTICS_MIN_ROWS:
        return False
    if tenant_id is None:  # a public table: the county's one set of rows
        cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE county = %s")
                    .format(sql.Identifier(table)), (county,))
    else:
        cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE tenant_id = %s AND county = %s")
                    .format(sql.Identifier(table)), (tenant_id, county))
    plan = cur.fetchone()[0]
    estimate = float((plan[0] if isinstance(plan, list) else json.loads(plan)[0])["Plan"]["Plan Rows"])
    if not statistics_stale(estimate, rows):
        return False
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    return True


# Below this many rows the planner's defaults cost little: no ANALYZE is paid for.
STATISTICS_MIN_ROWS = 1_000


def statistics_stale(estimate: float, rows: float) -> bool:
    """Whether statistics that estimate `estimate` rows (negative: never analyzed) where `rows` are
    held are worth an ANALYZE: the estimate under half of them, from STATISTICS_MIN_ROWS rows."""
    return rows >= STATISTICS_MIN_ROWS and estimate < rows / 2


# Tables partitioned by county that a connection's open transaction wrote (`sync_partition`), each
# with the new partitions it loaded and did not analyze: their statistics are made once it
# commits (`Warehouse.transaction`, `refresh_table_statistics`).
_written_county_tables: weakref.WeakKeyDictionary[PgConnection, dict[str, set[str]]] = weakref.WeakKeyDictionary()


def _note_partition_write(conn: PgConnection, cur: Any, table: str, county: str, rows_written: bool,
                          loaded: str | None = None) -> None:
    """A write of `county`'s partition of `table`: what the table's statement triggers would have
    done (`county_partitions.note_write`), and the table noted for the refresh of its statistics
    as a whole once the transaction commits (`refresh_table_statistics`), with the partition
    `loaded` when it is new and not analyzed yet."""
    note_write(cur, table, county, rows_written=rows_written)
    loaded_here = _written_county_tables.setdefault(conn, {}).setdefault(table, set())
    if loaded is not None:
        loaded_here.add(loaded)


# How long the refresh after a commit waits for a lock another county's write holds (an attach,
# the ANALYZE of its partition) before it leaves the refresh to the next write.
STATISTICS_LOCK_TIMEOUT = "1s"


def refresh_table_statistics(conn: PgConnection, tables: Mapping[str, Collection[str]]) -> list[str]:
    """ANALYZE each of `tables` (partitioned by county) whose whole-table statistics are stale, and
    each table's new partitions given with it that this did not analyze; each in a transaction of
    its own; the tables and partitions analyzed. Run after the write's commit.

    Why: the planner estimates a join through a partitioned table, and a query over several
    counties, from the statistics of the table as a whole. Each county's partition gets its own
    (below), and autovacuum never analyzes a partitioned table, so these were made only once, by
    migration 0069 (none on a database empty then), and never kept up: at a
    million parcels `scores`' input join was estimated at 5 billion rows, its last-sale DISTINCT ON
    at 200, and the API's list pages took 0.7 s instead of 2–10 ms.

    Stale: never analyzed, or estimating under half of the rows its partitions hold
    (`statistics_stale`, the rule a slice's own statistics follow). ANALYZE of a partitioned table
    samples every partition and analyzes each again (PostgreSQL before 18 has no `ANALYZE ONLY`):
    bounded samples, ≈0.1–0.6 s a table at 1M. So a county's first load does not analyze its new
    partition in its own transaction (`sync_partition`): the table's ANALYZE here analyzes it,
    and when the table's statistics are not stale, or its ANALYZE waited too long for a lock, the
    partition is analyzed alone (left to autovacuum when that waits too long). Until then, for
    the moment after the commit, it is planned from the row count its index builds recorded.

    A lock held by another county's write (its attach, its partition's ANALYZE) is waited for up
    to STATISTICS_LOCK_TIMEOUT; then the refresh is left to the next write, logged, and the
    committed write stands."""
    analyzed: list[str] = []
    if not tables:  # (every transaction ends here: the API's too)
        return analyzed
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        for table, loaded in sorted(tables.items()):
            if _lock_limited(conn, lambda cur, t=table: _analyze_if_stale(cur, t),
                             f"{table}: whole-table statistics left to the next write"):
                analyzed.append(table)  # its ANALYZE analyzed every partition, the new ones too
                continue
            for partition in sorted(loaded):
                if _lock_limited(conn, lambda cur, p=partition: _analyze(cur, p),
                                 f"{partition}: statistics left to autovacuum"):
                    analyzed.append(partition)
    finally:
        conn.autocommit = autocommit
    return analyzed


def _lock_limited(conn: PgConnection, work: Callable[[Any], bool], left: str) -> bool:
    """`work` in a transaction of its own that waits for a lock at most STATISTICS_LOCK_TIMEOUT:
    what it returned, or False (and `left` logged) when it waited too long."""
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (STATISTICS_LOCK_TIMEOUT,))
            done = work(cur)
        conn.commit()
        return done
    except (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected) as exc:
        conn.rollback()
        log.info("%s (%s)", left, str(exc).strip())
        return False


def _analyze(cur: Any, relation: str) -> bool:
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(relation)))
    return True


def _analyze_if_stale(cur: Any, table: str) -> bool:
    """ANALYZE the partitioned `table` if its whole-table statistics are stale; whether it did."""
    # The table's estimate only where its statistics are there: an ANALYZE stopped by the lock
    # timeout has set `reltuples` already (in place, not rolled back).
    cur.execute("SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_stats s WHERE s.inherited "
                "  AND s.schemaname = p.relnamespace::regnamespace::text AND s.tablename = p.relname) "
                "THEN p.reltuples ELSE -1 END, "
                "(SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) "
                " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = p.oid) "
                "FROM pg_class p WHERE p.oid = %s::regclass", (table,))
    estimate, rows = cur.fetchone()
    return statistics_stale(estimate, rows) and _analyze(cur, table)


def replace_rejects(
    conn: PgConnection, *, tenant_id: str | None = None, county: str, asset: str, rejects: Sequence[Reject],
    run_id: str | None,
) -> int:
    """The partition's rejects for `asset` become exactly `rejects` (re-runs never pile up).
    `tenant_id` None: a public stage's rejects (the county's, whoever ran it)."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM rejects WHERE tenant_id IS NOT DISTINCT FROM %s AND county = %s AND asset = %s",
                    (tenant_id, county, asset))
        execute_values(cur, (
            "INSERT INTO rejects (tenant_id, county, asset, source, source_ref, raw_payload, reason, "
            "run_id) VALUES %s"),
            [(tenant_id, county, asset, r.source, r.ref, None if r.raw is None else to_json(r.raw),
              r.reason, run_id) for r in rejects], page_size=1000)
    return len(rejects)
