"""Frames in and out of PostgreSQL through COPY, in chunks. No Dagster imports.

Reading a county through a DB-API cursor builds one Python tuple per row and one object per
cell before pandas sees anything (at 400k rows that is most of the time and the memory). Here
the query's rows stream as CSV (`COPY (query) TO STDOUT`) through a pipe into Arrow's CSV reader,
chunk by chunk, and each column gets the type of the query's result column. Writing streams the
frame out in chunks too (one `COPY ... FROM STDIN` per chunk), so the extra memory of a write is
one chunk's CSV text, not a copy of the frame plus the whole county as one string. The COPYs run
in a writer thread (`CopyWriter`) while the caller makes the next chunk: the server parses one
chunk while the client computes the next, instead of each waiting for the other. A chunk whose
target columns all have plain types (floats, integers, booleans, dates, timestamptz, text, jsonb,
numeric) goes in PostgreSQL's binary format (`_BinaryRows`): the server skips parsing each
value's text (jsonb's is still parsed, but not as a CSV field).

Types match what `pd.read_sql` over psycopg2 gave, so callers see the same frames: integers are
int64 (float64 when a value is NULL), numeric and floats float64, text/date/jsonb/bool-with-NULL
are objects holding None for NULL (dates as `datetime.date`, jsonb parsed), timestamps are
tz-aware UTC datetime64. Two deliberate differences: a column that is NULL in every row keeps its
type (float64 NaN, NaT) instead of becoming objects, and an empty result has the typed columns.
A result with a type not listed here (arrays, uuid, ...) is read the old way by the caller.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg2.extensions import connection as PgConnection

READ_CHUNK_ROWS = 100_000
TEXT_DTYPE = pd.ArrowDtype(pa.large_string())  # text held by Arrow in a frame (`read_frame`'s text_as_arrow)
DATE_DTYPE = pd.ArrowDtype(pa.date32())  # dates held by Arrow in a frame (`read_frames`' arrow)
READ_ONCE_TEXT_BYTES = 64 << 20  # a result's Arrow text `read_frame` holds to convert it at once
READ_BLOCK_BYTES = 1 << 20  # Arrow parses the CSV a block at a time; chunks are regrouped by rows
WRITE_CHUNK_ROWS = 50_000

INT_OIDS = {20, 21, 23}  # int8, int2, int4
FLOAT_OIDS = {700, 701, 1700}  # float4, float8, numeric (read_sql coerced numeric to float too)
TEXT_OIDS = {25, 1043, 1042, 19}  # text, varchar, bpchar, name
BOOL_OID, DATE_OID, TIMESTAMP_OIDS, JSON_OIDS = 16, 1082, {1114, 1184}, {114, 3802}
# What Arrow's CSV reader parses each type to; the others are read as text.
ARROW_TYPES = {**dict.fromkeys(INT_OIDS, pa.int64()), **dict.fromkeys(FLOAT_OIDS, pa.float64()),
               BOOL_OID: pa.bool_(), DATE_OID: pa.date32()}
READABLE_OIDS = INT_OIDS | FLOAT_OIDS | TEXT_OIDS | {BOOL_OID, DATE_OID} | TIMESTAMP_OIDS | JSON_OIDS
INTEGER_TYPES = {"integer", "bigint", "smallint"}
# A numeric with a declared scale (`numeric(14,2)`): the value, not its text's digits, is stored.
# An unconstrained numeric keeps the scale it is written with ("6.0" stays 6.0, "6" stays 6).
FIXED_NUMERIC = "numeric (fixed scale)"
NUMBER_TYPES = {"double precision", "real", FIXED_NUMERIC}  # floats written shortest, the same value
STRING_TYPES = {"text", "character varying", "character", "jsonb"}
TIMESTAMP_TYPES = {"timestamp with time zone", "timestamp without time zone"}
# Target types a chunk is COPYed in binary for (issue 17: the server receives each value's bytes
# instead of parsing its text — at 1M `features` rows 4.4 → 2.4 server CPU s): the big-endian
# layout of each fixed-width type, text, jsonb (`jsonb_recv`: a version byte, then the text
# `jsonb_in` takes) and numeric (`numeric_recv`: base-10000 digits, `_numeric_fields`). Any other
# type (real, varchar, a timestamp without zone) keeps the whole chunk on the CSV path.
BINARY_FIXED = {"double precision": ">f8", "bigint": ">i8", "integer": ">i4", "boolean": "u1",
                "date": ">i4", "timestamp with time zone": ">i8"}
BINARY_TYPES = {*BINARY_FIXED, "text", "jsonb", "numeric", FIXED_NUMERIC}
JSONB_VERSION = b"\x01"  # the only version `jsonb_recv` takes
NUMERIC_DIGITS = 6  # base-10000 digits a field holds: a 17-digit float's digits ×10³, or any int64
NUMERIC_NEG = 0x4000  # numeric's sign word for a negative value (0 for a positive one)
# A float whose value times 10⁴ is a whole number below 2⁵³ is that number of 10⁻⁴s exactly when
# its doubles are finer than 10⁻⁴ (below 2³⁹): no other 4-decimal number rounds to it, so the
# shortest text the CSV path writes has that value (`_float_decimals`).
EXACT_DECIMALS, EXACT_BELOW = 4, 2.0 ** 39
PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's epoch for dates and timestamps, in days since 1970
COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
COPY_BINARY_TRAILER = b"\xff\xff"  # a field count of -1


def result_columns(conn: PgConnection, query: str) -> list[tuple[str, int]]:
    """(name, type OID) of each column the query returns, without running it for its rows."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM ({query}) AS _q LIMIT 0")
        return [(c.name, c.type_code) for c in cur.description]


def copy_readable(columns: Sequence[tuple[str, int]]) -> bool:
    return all(oid in READABLE_OIDS for _, oid in columns)


def read_frame(conn: PgConnection, query: str, columns: Sequence[tuple[str, int]] | None = None,
               chunk_rows: int = READ_CHUNK_ROWS, text_as_arrow: bool = False) -> pd.DataFrame:
    """The rows of `query` (bound SQL text) as a typed frame, streamed through COPY in chunks.
    `text_as_arrow`: the text columns as Arrow's text (`TEXT_DTYPE`, NULL missing), not objects,
    for a caller that hands them on to Arrow (`prospects`' sales: to its write, issue 17)."""
    columns = list(columns) if columns is not None else result_columns(conn, query)
    oids = [oid for _, oid in columns]
    if text_as_arrow:  # no object made: the chunks are held and joined without a copy
        tables = list(_arrow_chunks(conn, query, columns, chunk_rows))
        if not tables:
            return read_frame(conn, query, columns, chunk_rows)  # an empty result: typed as before
        # One chunk a column: a take from a chunked array (the match's rows) resolves each index
        # to its chunk, several times slower than from one array.
        return _finish(_typed_frame(pa.concat_tables(tables).combine_chunks(), oids, 0, text_as_arrow=True), columns)
    # The chunks' Arrow tables are joined (no copy) and converted once: converting each chunk
    # and then concatenating the frames copied every column again (issue 17: at 1M, `features`'
    # locations and sales reads 0.8–1.0 → 0.5–0.7 CPU s each). Arrow's text is held until then,
    # beside the objects made from it; past `READ_ONCE_TEXT_BYTES` of it (a text-heavy result:
    # 1M sales' addresses and refs, +165 MB) the chunks are converted as they come, as before.
    tables: list[pa.Table] = []
    frames: list[pd.DataFrame] = []
    text_bytes = 0
    for table in _arrow_chunks(conn, query, columns, chunk_rows):
        tables.append(table)
        text_bytes += sum(table.column(i).nbytes for i, oid in enumerate(oids) if oid not in ARROW_TYPES)
        if text_bytes > READ_ONCE_TEXT_BYTES:
            frames.extend(_typed_frame(held, oids, 0) for held in tables)
            tables = []
    if tables:
        frames.append(_typed_frame(tables[0] if len(tables) == 1 else pa.concat_tables(tables), oids, 0))
        del tables
    if not frames:
        frame = pd.DataFrame({i: pd.Series(dtype=_empty_dtype(oid)) for i, (_, oid) in enumerate(columns)})
    else:
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True, copy=False)
        del frames
    return _finish(frame, columns)


def read_frames(conn: PgConnection, query: str, columns: Sequence[tuple[str, int]] | None = None,
                chunk_rows: int = READ_CHUNK_ROWS, arrow: bool = False) -> Iterator[pd.DataFrame]:
    """`read_frame` a chunk of `chunk_rows` at a time, for work done per row (issue 17). Each
    chunk is typed as `read_frame` types a whole result, so an integer column is float64 in
    the chunks holding a NULL, int64 in the others. Nothing yielded for an empty result. The
    connection is busy with the COPY until the last chunk has been taken. `arrow`: text and
    dates held by Arrow (`TEXT_DTYPE`, `DATE_DTYPE`; NULL missing), not as Python objects, for
    a caller that computes on them as arrays and hands them on to a write (`features`)."""
    columns = list(columns) if columns is not None else result_columns(conn, query)
    for chunk in _typed_chunks(conn, query, columns, chunk_rows, arrow):
        yield _finish(chunk, columns)


def prefetched(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """`items` made by a thread of their own, up to `depth` ahead of the caller: a chunked read
    (the COPY's CSV parsed by Arrow, its columns converted) goes on while the caller works on
    the previous chunk, instead of the caller waiting for each (issue 17: `scores` reads a
    million rows while LightGBM, which releases the GIL, predicts them). The same items in the
    same order; the producer's error is raised at the item it would have been; a caller that
    stops early (`close`, an error of its own) stops the producer and closes `items` in its
    thread. `items` then belongs to that thread: its connection must not be used meanwhile."""
    done = object()
    ready: deque[Any] = deque()
    changed = threading.Condition()
    stop = False
    error: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                with changed:
                    while len(ready) >= depth and not stop:
                        changed.wait()
                    if stop:
                        break
                    ready.append(item)
                    changed.notify_all()
                del item  # not held while the next is made
        except BaseException as exc:  # raised in the caller's thread, in order
            error.append(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator stopped early ends its COPY here, in its own thread
            with changed:
                ready.append(done)
                changed.notify_all()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            with changed:
                while not ready:
                    changed.wait()
                item = ready.popleft()
                changed.notify_all()
            if item is done:
                if error:
                    raise error[0]
                return
            yield item
            del item
    finally:
        with changed:
            stop = True
            ready.clear()
            changed.notify_all()
        thread.join()


def _typed_chunks(conn: PgConnection, query: str, columns: Sequence[tuple[str, int]],
                  chunk_rows: int, arrow: bool = False) -> Iterator[pd.DataFrame]:
    oids = [oid for _, oid in columns]
    start = 0
    for table in _arrow_chunks(conn, query, columns, chunk_rows):
        frame = _typed_frame(table, oids, start, text_as_arrow=arrow, dates_as_arrow=arrow)
        start += len(frame)
        yield frame


def _arrow_chunks(conn: PgConnection, query: str, columns: Sequence[tuple[str, int]],
                  chunk_rows: int) -> Iterator[pa.Table]:
    """The query's rows as Arrow tables of `chunk_rows` rows (the last one shorter), each column
    parsed to its `ARROW_TYPES` type or kept as text. Nothing for an empty result."""
    if not copy_readable(columns):
        raise ValueError(f"COPY read does not handle the result types {columns}")
    oids = [oid for _, oid in columns]
    names = [str(i) for i in range(len(oids))]
    # Arrow's CSV reader parses numbers, booleans and dates in C++ straight into their types
    # (pandas' C parser kept ints, floats and strings only, the rest converted in Python; issue
    # 17: a quarter of `scores` at 1M was this read). PostgreSQL's CSV writes NULL as an empty
    # field and an empty text as "": only an unquoted empty field is NULL. Timestamps and jsonb
    # are read as text and converted per chunk (`_convert`).
    convert = pa_csv.ConvertOptions(
        column_types={name: ARROW_TYPES.get(oid, pa.string()) for name, oid in zip(names, oids, strict=True)},
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
        true_values=["t"], false_values=["f"])
    with _copy_out(conn, query) as stream:
        if not stream.peek(1):  # no row: Arrow refuses an empty file
            return
        batches = pa_csv.open_csv(
            stream, read_options=pa_csv.ReadOptions(column_names=names, block_size=READ_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True), convert_options=convert)
        yield from _tables_of(batches, chunk_rows)


def _typed_frame(table: pa.Table, oids: Sequence[int], start: int, text_as_arrow: bool = False,
                 dates_as_arrow: bool = False) -> pd.DataFrame:
    """One chunk's (or a whole result's) table as a frame: integers int64 (float64 where a NULL
    is), floats float64; text, dates and booleans with a NULL as objects holding None (dates as
    `datetime.date`); timestamps and jsonb converted from their text. The rows numbered from
    `start`, as pandas' chunked reader numbered them. `text_as_arrow`: text as `TEXT_DTYPE`;
    `dates_as_arrow`: dates as `DATE_DTYPE` (Arrow's days, no object a value)."""
    if text_as_arrow:
        table = pa.table([column.cast(pa.large_string()) if oid in TEXT_OIDS else column
                          for column, oid in zip(table.columns, oids, strict=True)], names=table.column_names)
    held = {pa.large_string(): TEXT_DTYPE, **({pa.date32(): DATE_DTYPE} if dates_as_arrow else {})}
    frame = table.to_pandas(date_as_object=True, types_mapper=held.get)
    frame.columns = range(len(oids))
    frame.index = pd.RangeIndex(start, start + len(frame))
    for i, oid in enumerate(oids):
        if oid in TIMESTAMP_OIDS or oid in JSON_OIDS:
            frame[i] = _convert(frame[i], oid)
    return frame


def _tables_of(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Arrow's batches (a block of bytes each) regrouped into tables of `rows` rows, the last one
    shorter: chunks of the size the caller asked for."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def _finish(frame: pd.DataFrame, columns: Sequence[tuple[str, int]]) -> pd.DataFrame:
    """Integers int64 unless a value is NULL (then float64), as read_sql gave; the column names."""
    if len(frame):
        for i, (_, oid) in enumerate(columns):
            if oid in INT_OIDS:
                values = frame[i]
                frame[i] = values.astype("float64") if values.isna().any() else values.astype("int64")
    frame.columns = [name for name, _ in columns]
    return frame


def _empty_dtype(oid: int) -> Any:
    if oid in INT_OIDS:
        return "int64"
    if oid in FLOAT_OIDS:
        return "float64"
    if oid in TIMESTAMP_OIDS:
        return "datetime64[ns, UTC]"
    return object


def _convert(values: pd.Series, oid: int) -> pd.Series:
    """One chunk's timestamp or jsonb column from its text (None for NULL) to the frame's type."""
    if oid in TIMESTAMP_OIDS:
        return pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.Series([None if text is None else json.loads(text) for text in values],
                     index=values.index, dtype=object)


class _copy_out:
    """`COPY (query) TO STDOUT` running in a thread, readable as a binary stream (a pipe)."""

    def __init__(self, conn: PgConnection, query: str) -> None:
        self.statement = f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"
        self.conn = conn
        self.error: BaseException | None = None

    def __enter__(self) -> io.BufferedReader:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb", buffering=1 << 20)

        def produce() -> None:
            try:
                with os.fdopen(write_fd, "wb", buffering=1 << 20) as sink, self.conn.cursor() as cur:
                    cur.copy_expert(self.statement, sink, size=1 << 20)
            except BaseException as exc:  # re-raised in the reading thread
                self.error = exc

        self.thread = threading.Thread(target=produce, name="copy-out", daemon=True)
        self.thread.start()
        return self.reader

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.reader.close()  # a reader that stopped early: the writer gets a broken pipe, not a hang
        self.thread.join()
        if exc_type is None and self.error is not None:
            raise self.error


class CopyWriter:
    """The one place chunked writes COPY from: `copy` hands a chunk over and returns at once,
    and a thread sends it (`COPY ... FROM STDIN`) on `conn` while the caller makes the next.

    On 2 cores a step that made a chunk and then waited while the server parsed its COPY took
    the client's CPU plus the server's in wall time (issue 17); psycopg2 releases the GIL while
    it sends and while it waits for the COPY's result, so the two now run at once.

    Bounded: at most `depth` chunks are handed over and not yet written (the one being sent
    included); `copy` waits for room. With the default 1 the writer holds one chunk and the
    caller makes one. In order: chunks are sent one after the other, as handed over. Errors are
    never lost: the writer's first error (a unique violation, a lost connection, a bad value)
    stops it, drops what is still queued, and is raised in the caller by its next `copy` or by
    `close` (the context's exit). An error of the caller's own ends the writer the same way
    (what is queued dropped, the COPY being sent finished) and is the one raised. The caller
    must not use `conn` itself until `close` has returned: one connection, one statement at a
    time (reading in between goes through another connection: `snapshot`, `Warehouse.reading`).
    """

    def __init__(self, conn: PgConnection, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.conn, self.depth = conn, depth
        self._pending: deque[tuple[str, pa.Table | _BinaryRows | str]] = deque()
        self._changed = threading.Condition()
        self._closing = False
        self.error: BaseException | None = None
        self.written = 0  # chunks sent (for tests and metadata)
        self._thread = threading.Thread(target=self._run, name="copy-writer", daemon=True)
        self._thread.start()

    def copy(self, statement: str, data: pa.Table | _BinaryRows | str) -> None:
        """Hand one chunk over (`statement` a `COPY ... FROM STDIN`, `data` an Arrow table
        rendered as CSV while it is sent, binary rows encoded while they are sent, or CSV text);
        waits while the writer holds `depth`."""
        with self._changed:
            while len(self._pending) >= self.depth and self.error is None:
                self._changed.wait()
            if self.error is not None:
                raise self.error
            if self._closing:
                raise RuntimeError("CopyWriter: closed")
            self._pending.append((statement, data))
            self._changed.notify_all()

    def close(self) -> None:
        """Wait until every chunk handed over is written; raise the writer's error if it had one."""
        self._stop(drop=False)
        if self.error is not None:
            raise self.error

    def _stop(self, drop: bool) -> None:
        with self._changed:
            self._closing = True
            if drop:
                self._pending.clear()  # the caller failed: what is queued is not sent
            self._changed.notify_all()
        self._thread.join()

    def __enter__(self) -> CopyWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self._stop(drop=True)  # the caller's error is the one that propagates

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closing:
                    self._changed.wait()
                if not self._pending:
                    return
                statement, data = self._pending[0]  # kept in `_pending` (counted) until written
            try:
                with self.conn.cursor() as cur:
                    source = _ArrowCsv(data) if isinstance(data, pa.Table) else \
                        data if isinstance(data, _BinaryRows) else io.StringIO(data)
                    cur.copy_expert(statement, source, size=1 << 20)
            except BaseException as exc:
                with self._changed:
                    self.error = exc
                    self._pending.clear()
                    self._changed.notify_all()
                return
            del statement, data, source  # not held while waiting for the next chunk
            with self._changed:
                self._pending.popleft()
                self.written += 1
                self._changed.notify_all()


def write_frame(conn: PgConnection, target: str, frame: pd.DataFrame, types: dict[str, str],
                chunk_rows: int = WRITE_CHUNK_ROWS, *, json_text: Collection[str] = (),
                arrow: bool = True, binary: bool = True, constants: Mapping[str, str] | None = None,
                writer: CopyWriter | None = None, freeze: bool = False) -> None:
    """COPY `frame` into `target` (its columns, in order) one chunk at a time. `types` maps each
    column to the table's data_type: jsonb values are serialized (`json_text`: jsonb columns that
    hold JSON text already, written as they are), float columns bound for an integer column are
    rounded, and NUL characters (which text cannot hold) are dropped. `constants`: text columns
    of `target` not in the frame, one value for every row, written before the frame's (e.g. the
    partition's county when the rows go straight into the table, not through a stage).

    A chunk whose columns all have a plain type for their target (`_arrow_column`) is written
    to CSV by Arrow's C++ writer; any other by pandas' (`arrow=False`: always pandas', for
    tests). Both give the server the same values: NULL for None/NaN and for empty text (pandas'
    CSV cannot tell them apart, and that is what the table has always received). A chunk Arrow
    writes whose target columns (constants included) all have a type in `BINARY_TYPES` is sent
    in PostgreSQL's binary format instead (`_BinaryRows`; `binary=False`: never, for tests),
    the same values again.

    `freeze`: the rows are written frozen and their pages marked all-visible (COPY's `FREEZE`).
    PostgreSQL takes it only for a table made (or truncated) in the current subtransaction: a
    county's new partition before it is attached (`warehouse.sync_partition`). Its readers then
    have index-only scans at once, the first read sets no hint bits, and no vacuum rewrites the
    pages to freeze them later. `xmin` keeps the writing transaction's id (the slice versions and
    fingerprints read it). The one cost is MVCC's: a snapshot older than the commit sees the rows
    if it reads the partition after the attach commits.

    The chunks go through `writer` (a `CopyWriter` on `conn` that the caller keeps across
    frames, so the next frame is made while this one is sent; the rows may then still be on
    their way when this returns) or, without one, through a writer of this call's own, closed
    before it returns."""
    if writer is None:
        with CopyWriter(conn) as own:
            write_frame(conn, target, frame, types, chunk_rows, json_text=json_text, arrow=arrow,
                        binary=binary, constants=constants, writer=own, freeze=freeze)
        return
    constants = dict(constants or {})
    names = ", ".join(map(_identifier, [*constants, *frame.columns]))
    into, options = f"COPY {_identifier(target)} ({names}) FROM STDIN", "FREEZE, " if freeze else ""
    by_pandas = f"{into} WITH ({options}FORMAT csv)"
    by_arrow = f"{into} WITH ({options}FORMAT csv, ENCODING 'UTF8')"
    by_binary = f"{into} WITH ({options}FORMAT binary)"
    # Binary text is taken in the session's client encoding (no ENCODING option): UTF-8 only.
    binary = binary and conn.encoding in ("UTF8", "UNICODE")
    kinds = [types[column] for column in [*constants, *frame.columns]]
    for data in _csv_chunks(frame, types, chunk_rows, frozenset(json_text), arrow, constants):
        if binary and isinstance(data, pa.Table):
            rows = _BinaryRows.of(data, kinds)
            if rows is not None:
                writer.copy(by_binary, rows)
                continue
        writer.copy(by_arrow if isinstance(data, pa.Table) else by_pandas, data)


def _identifier(name: str) -> str:
    """A quoted identifier, as `sql.Identifier` quotes it, without the connection: libpq's quoting
    would touch `conn` while the writer thread is sending a COPY on it (one thread at a time)."""
    if "\x00" in name:
        raise ValueError(f"an identifier cannot hold NUL: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _csv_chunks(frame: pd.DataFrame, types: dict[str, str], chunk_rows: int, json_text: frozenset[str],
                arrow: bool, constants: Mapping[str, str]) -> Iterator[str | pa.Table]:
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start:start + chunk_rows]
        kinds = [types[column] for column in frame.columns]
        columns = [_column_for_copy(part.iloc[:, i], kind, text=column in json_text)
                   for i, (column, kind) in enumerate(zip(frame.columns, kinds, strict=True))]
        arrays = [_arrow_column(values, kind) for values, kind in zip(columns, kinds, strict=True)] if arrow else []
        if arrow and all(a is not None for a in arrays):
            fixed = [pa.repeat(pa.scalar(value, pa.large_string()), len(part)) for value in constants.values()]
            yield pa.Table.from_arrays([*fixed, *arrays], names=[str(i) for i in range(len(fixed) + len(arrays))])
            continue
        fixed_columns = [pd.Series(value, index=part.index, dtype=object) for value in constants.values()]
        out = pd.DataFrame(dict(enumerate([*fixed_columns, *columns])))
        # PostgreSQL text cannot hold NUL; a raw NUL in the CSV can only come from a text value
        # (JSON escapes it), so one pass over the chunk's text drops them all.
        yield out.to_csv(index=False, header=False, na_rep="").replace("\x00", "")


class _ArrowCsv:
    """A table's CSV for COPY, rendered by Arrow a slice of rows at a time as the COPY reads it:
    one chunk's text is never held whole (a growing output buffer held twice its size)."""

    SLICE_ROWS = 2_000
    OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")

    def __init__(self, table: pa.Table) -> None:
        self.table, self.start, self.pending = table, 0, memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while not len(self.pending) and self.start < self.table.num_rows:
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(self.table.slice(self.start, self.SLICE_ROWS), sink, self.OPTIONS)
            self.pending, self.start = memoryview(sink.getvalue()), self.start + self.SLICE_ROWS
        size = len(self.pending) if size is None or size < 0 else size
        out, self.pending = self.pending[:size].tobytes(), self.pending[size:]
        return out


class _BinaryRows:
    """A chunk for `COPY ... FROM STDIN WITH (FORMAT binary)`, encoded by column a slice of rows at
    a time as the COPY reads it: each column's fields (a 4-byte length, -1 for NULL, then the
    value's bytes) as an Arrow binary array — fixed-width values as NumPy big-endian records, a
    NULL's value bytes dropped — then the rows joined element-wise, so no Python runs per row or
    value. A slice at a time, as `_ArrowCsv` renders: the chunk's encoding is never held whole
    (it was, with its fields and a joined copy: ≈3 encoded chunks, +55 MB of `sales`' peak at 1M).

    `of` takes the Arrow table the CSV path would write (`_arrow_column`'s values: NULL already
    for NaN and empty text, no NUL) and gives None where a value could not be sent exactly (a
    target type not in `BINARY_TYPES`, an integer out of an int4's range, a timestamp finer
    than a microsecond or without a zone, a float for a numeric without a declared scale): that
    chunk then goes as CSV."""

    SLICE_ROWS = 5_000

    def __init__(self, columns: list[tuple[pa.Array, str]], rows: int) -> None:
        self.columns, self.rows, self.start = columns, rows, 0
        self.pending, self.ended = memoryview(COPY_BINARY_HEADER), False

    @classmethod
    def of(cls, table: pa.Table, kinds: Sequence[str]) -> _BinaryRows | None:
        columns = []
        for values, kind in zip(table.columns, kinds, strict=True):
            array = _binary_values(values.combine_chunks(), kind)
            if array is None:
                return None
            columns.append((array, kind))
        return cls(columns, table.num_rows)

    def read(self, size: int = -1) -> bytes:
        while not len(self.pending) and not self.ended:
            if self.start < self.rows:
                self.pending = self._encode(self.start, min(self.SLICE_ROWS, self.rows - self.start))
                self.start += self.SLICE_ROWS
            else:
                self.pending, self.ended, self.columns = memoryview(COPY_BINARY_TRAILER), True, []
        size = len(self.pending) if size is None or size < 0 else size
        out, self.pending = self.pending[:size].tobytes(), self.pending[size:]
        return out

    def _encode(self, start: int, rows: int) -> memoryview:
        # Each run of fixed-width fields (the row's field count, floats, dates, a text's length,
        # all-NULL columns, …) is one record a row, so the element-wise join takes the runs and
        # the texts, not an array per field: the join was half of `features`' encoding at 1M
        # (issue 17). A fixed-width field with a NULL in the slice is an array of its own:
        # cutting a NULL's bytes out of a run's records took a mask of every byte of the run
        # (most of `enrichment`'s encoding at 1M), one field's is narrow.
        count: _Fixed = (np.full(rows, len(self.columns), dtype=">i2"), None, ">i2")  # each row's field count
        fields: list[pa.LargeBinaryArray] = []
        run: list[_Fixed] = [count]
        for array, kind in self.columns:
            for field in _binary_fields(array.slice(start, rows), kind):
                if isinstance(field, tuple) and field[1] is None:
                    run.append(field)
                    continue
                if run:
                    fields.append(_fixed_run(run))
                    run = []
                if isinstance(field, tuple):  # a NULL's field is its 4-byte length
                    records, null, _ = field
                    field = _fixed_fields(records, np.where(null, 4, records.dtype.itemsize))
                fields.append(field)
        if run:
            fields.append(_fixed_run(run))
        joined = fields[0] if len(fields) == 1 else \
            pc.binary_join_element_wise(*fields, pa.scalar(b"", pa.large_binary()))
        data, at = joined.buffers()[2], value_offsets(joined)
        return memoryview(data)[int(at[0]):int(at[-1])] if data is not None else memoryview(b"")


def _binary_values(values: pa.Array, kind: str) -> pa.Array | None:
    """The values to encode for a `kind` target column, with the Arrow type `_binary_fields`
    takes for it, or None when the binary field would not hold exactly what the CSV text gives."""
    if kind not in BINARY_TYPES:
        return None
    if values.null_count == len(values):  # NULL in every row (`pa.nulls`): a NULL of any type
        return pa.nulls(len(values))
    try:
        if kind in ("text", "jsonb"):  # jsonb: the JSON text the CSV path writes (`_column_for_copy`)
            return values if pa.types.is_large_string(values.type) else None
        if kind in ("numeric", FIXED_NUMERIC) and pa.types.is_integer(values.type):
            return values.cast(pa.int64())  # the CSV's digits: scale 0 either way
        if kind == FIXED_NUMERIC and values.type == pa.float64():
            # The CSV path writes a float's shortest text (Arrow's cast) and the column rounds it to
            # its scale; `numeric_recv` rounds what it receives to the column's typmod the same way
            # (apply_typmod), so the shortest text's exact value is sent. Not for an unconstrained
            # numeric: it would keep that value's scale, and its floats go by pandas ("6.0", not "6").
            finite = pc.is_finite(values)
            return values if pc.all(pc.or_kleene(finite, pc.is_null(values))).as_py() is not False else None
        if kind == "double precision":  # integers parsed by float8in: the nearest double, as this cast
            return values.cast(pa.float64()) if pa.types.is_floating(values.type) or pa.types.is_integer(values.type) \
                else None
        if kind in ("bigint", "integer"):  # an int4 out of range fails the cast: CSV, refused as before
            return values.cast(pa.int64() if kind == "bigint" else pa.int32()) if pa.types.is_integer(values.type) \
                else None
        if kind == "boolean":
            return values if pa.types.is_boolean(values.type) else None
        if kind == "date":
            return values if pa.types.is_date32(values.type) else None
        if kind == "timestamp with time zone" and pa.types.is_timestamp(values.type) and values.type.tz is not None:
            return values.cast(pa.timestamp("us", tz="UTC"))  # a finer value fails the cast (safe): CSV
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _binary_fields(values: pa.Array, kind: str) -> list[_Fixed | pa.LargeBinaryArray]:
    """Each row's field of one column: its length (-1 for NULL) and its value's bytes, as
    fixed-width records (`_Fixed`, joined with the fixed-width fields next to them by
    `_fixed_run`) or, for text and jsonb, the length's records and the text: a chunk's text is
    copied once into its rows, not first into its fields (tens of MB of provenance)."""
    fixed = _fixed_value(values, kind)
    if fixed is not None:
        return [fixed]
    null = _null_rows(values)
    if kind in ("text", "jsonb"):
        text, lengths = _text_bytes(values, null)
        present = lengths if null is None else lengths[~null]
        if len(present) and present[0] > 0 and (present == present[0]).all():
            return [_same_width_text(text, int(present[0]), null, 4 + (kind == "jsonb"))]
        if kind == "text":
            return [((lengths if null is None else np.where(null, -1, lengths)).astype(">i4"), None, ">i4"), text]
        # the field's length, then jsonb's version byte (dropped for NULL): the text is not
        # copied to prepend it
        prefix = np.empty(len(values), dtype=[("length", ">i4"), ("version", "u1")])
        prefix["length"] = lengths + len(JSONB_VERSION) if null is None \
            else np.where(null, -1, lengths + len(JSONB_VERSION))
        prefix["version"] = JSONB_VERSION[0]
        return [(prefix.view("V5"), null, "V5"), text]
    return [_numeric_fields(values, np.zeros(len(values), dtype=bool) if null is None else null)]


def _null_rows(values: pa.Array) -> np.ndarray | None:
    """The rows holding NULL, or None when none does: most columns of a slice have none, and
    skipping the mask's conversion and each `np.where` on it is most of a small slice's work."""
    return values.is_null().to_numpy(zero_copy_only=False) if values.null_count else None


def _text_bytes(values: pa.Array, null: np.ndarray | None) -> tuple[pa.LargeBinaryArray, np.ndarray]:
    """A large_string array's values as binary without NULLs (a NULL joins as no bytes) and each
    row's byte length: the array's own buffers without its validity when every NULL holds no
    bytes (as Arrow builds them), else filled (a copy of the text)."""
    _, offsets, data = values.buffers()
    lengths = np.diff(value_offsets(values))
    if null is not None and lengths[null].any():
        text = values.cast(pa.large_binary()).fill_null(b"")
        return text, pc.binary_length(text).to_numpy()
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(values), [None, offsets, data],
                                            offset=values.offset), lengths


# Fixed-width fields of a column: (records, the NULL rows or None, the records' dtype), each
# record a 4-byte length then the value's bytes (dropped for a NULL row when joined).
_Fixed = tuple[np.ndarray, np.ndarray | None, str]


def _same_width_text(text: pa.LargeBinaryArray, width: int, null: np.ndarray | None, head: int) -> _Fixed:
    """A slice's text whose values all have one byte length (ids, codes, the county's constant
    columns) as fixed-width records, `head` bytes (the length, jsonb's version byte) then the
    value's: joined in the fixed-width run around it, not as two more arrays of the row join
    (`sales`' join at 1M: 16 arrays a row, 7 so)."""
    data, at = text.buffers()[2], value_offsets(text)
    values = np.frombuffer(data, dtype=np.uint8, count=int(at[-1] - at[0]), offset=int(at[0])).reshape(-1, width)
    records = np.empty((len(text), head + width), dtype=np.uint8)  # a NULL's value bytes are dropped
    records[:, :4] = np.array([head - 4 + width], dtype=">i4").view(np.uint8)
    if head > 4:
        records[:, 4:head] = np.frombuffer(JSONB_VERSION, dtype=np.uint8)
    if null is None:
        records[:, head:] = values
    else:
        records[null, :4] = np.array([-1], dtype=">i4").view(np.uint8)
        records[~null, head:] = values
    return records.view(f"V{head + width}")[:, 0], null, f"V{head + width}"


def _fixed_value(values: pa.Array, kind: str) -> _Fixed | None:
    """A fixed-width column's fields (`_Fixed`); an all-NULL column (`pa.nulls`, any kind) is its
    lengths alone. None for a variable-width kind."""
    if pa.types.is_null(values.type):
        return np.full(len(values), -1, dtype=">i4"), None, ">i4"
    if kind not in BINARY_FIXED:
        return None
    null = _null_rows(values)
    if kind in ("boolean", "date", "timestamp with time zone"):
        values = values.cast({"boolean": pa.uint8(), "date": pa.int32()}.get(kind, pa.int64()))
    raw = (values if null is None else values.fill_null(0)).to_numpy()  # a NULL's bytes are dropped
    if kind == "date":
        raw = raw - np.int32(PG_EPOCH_DAYS)
    elif kind == "timestamp with time zone":
        raw = raw - np.int64(PG_EPOCH_DAYS * 86_400_000_000)
    width = np.dtype(BINARY_FIXED[kind]).itemsize
    record = np.dtype([("length", ">i4"), ("value", BINARY_FIXED[kind])])
    records = np.empty(len(values), dtype=record)
    records["length"] = width if null is None else np.where(null, -1, width)
    records["value"] = raw
    return records.view(f"V{record.itemsize}"), null, f"V{record.itemsize}"


def _fixed_run(run: list[_Fixed]) -> pa.LargeBinaryArray:
    """Consecutive fixed-width fields without NULL (`_fixed_value`'s) as one record a row: their
    bytes side by side."""
    record = np.dtype([(str(i), kind) for i, (_, _, kind) in enumerate(run)])
    records = np.empty(len(run[0][0]), dtype=record)
    for i, (values, _, _) in enumerate(run):
        records[str(i)] = values
    return _fixed_fields(records)


def _fixed_fields(records: np.ndarray, sizes: np.ndarray | None = None) -> pa.LargeBinaryArray:
    """A binary array of one fixed-size record a row, or of each record's first `sizes` bytes
    when given (a NULL's 4-byte length; a numeric's header and the digits it has)."""
    rows, size = len(records), records.dtype.itemsize
    data = records.view(np.uint8).reshape(rows, size)
    if sizes is None:
        sizes = np.full(rows, size, dtype=np.int64)
    else:
        data = data[np.arange(size)[None, :] < sizes[:, None]]
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), rows, [None, pa.py_buffer(offsets),
                                                                      pa.py_buffer(np.ascontiguousarray(data))])


def _numeric_fields(values: pa.Array, null: np.ndarray) -> pa.LargeBinaryArray:
    """numeric's binary fields (`numeric_recv`: digit count, weight, sign, display scale, then the
    base-10000 digits, most significant first) of an int64 or float64 column, by NumPy over the
    column. Each value is sent as the exact number whose text the CSV path writes (an integer's
    digits, a float's shortest text) with that text's scale; the server rounds it to a declared
    scale as it rounds the text (`numeric_recv` applies the column's typmod)."""
    rows = len(values)
    if pa.types.is_integer(values.type):
        signed = values.fill_null(0).to_numpy()
        negative = signed < 0
        magnitude = signed.astype(np.uint64)
        magnitude[negative] = ~magnitude[negative] + np.uint64(1)  # |value| in uint64: int64's minimum too
        exponent = np.zeros(rows, dtype=np.int64)
    else:
        magnitude, exponent, negative = _float_decimals(values)
    # value = magnitude · 10^exponent = (magnitude · 10^shift) · 10000^group, shift in 0..3: the
    # magnitude's base-10000 digits (below 2^64 < 10000^5) shifted, carrying into a sixth.
    group = np.floor_divide(exponent, 4)
    shift = (exponent - 4 * group).astype(np.uint64)
    digits = np.empty((rows, NUMERIC_DIGITS), dtype=np.uint64)  # least significant first
    rest = magnitude.copy()
    for i in range(NUMERIC_DIGITS - 1):
        rest, digits[:, i] = np.divmod(rest, np.uint64(10_000))  # one pass for both
    digits[:, -1] = 0
    if shift.any():  # none when every exponent is a multiple of 4 (the exact decimals: prices)
        times, carry = np.uint64(10) ** shift, np.zeros(rows, dtype=np.uint64)
        for i in range(NUMERIC_DIGITS):
            carry, digits[:, i] = np.divmod(digits[:, i] * times + carry, np.uint64(10_000))
    nonzero = digits != 0
    present = nonzero.any(axis=1)
    high = NUMERIC_DIGITS - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    count = np.where(present, high - np.argmax(nonzero, axis=1) + 1, 0)
    records = np.zeros(rows, dtype=[("length", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"),
                                    ("dscale", ">i2"), ("digits", ">i2", (NUMERIC_DIGITS,))])
    records["length"] = np.where(null, -1, 8 + 2 * count)
    records["ndigits"] = count
    records["weight"] = np.where(present, high + group, 0)
    records["sign"] = np.where(negative & present, NUMERIC_NEG, 0)
    records["dscale"] = np.maximum(-exponent, 0)  # the text's digits after the point ("6.0": 1)
    # the value's digits, most significant first, from the record's first digit: each row's
    # field is then its record's first bytes (the place past `count` holds any digit, not sent)
    place = np.maximum(high[:, None] - np.arange(NUMERIC_DIGITS)[None, :], 0)
    records["digits"] = np.take_along_axis(digits, place, axis=1)
    return _fixed_fields(records, np.where(null, 4, 12 + 2 * count))


def _float_decimals(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each finite float's shortest round-trip text (what Arrow's CSV writer prints) as an exact
    decimal: (digits as uint64, exponent of ten, negative). Values that are whole 10⁻⁴s below 2³⁹
    (prices) are taken from the float itself (`EXACT_DECIMALS`); the others from Arrow's text,
    parsed by Arrow (≈0.3 CPU s per million values)."""
    floats = values.fill_null(0.0).to_numpy()
    negative = floats < 0
    size = np.abs(floats)
    unit = 10.0 ** EXACT_DECIMALS
    whole = np.rint(np.minimum(size, EXACT_BELOW) * unit)  # no overflow for huge values
    exact = (size < EXACT_BELOW) & (whole / unit == size)
    magnitude = np.where(exact, whole, 0).astype(np.uint64)
    exponent = np.full(len(floats), -EXACT_DECIMALS, dtype=np.int64)
    other = np.flatnonzero(~exact)
    if len(other):
        text = pc.cast(pa.array(size[other]), pa.large_string())  # "1234.5", "1e+21", "1.5e-7"
        parts = pc.extract_regex(text, r"^(?P<m>[0-9]+(?:\.[0-9]+)?)(?:e\+?(?P<e>-?[0-9]+))?$")
        if parts.null_count:
            raise ValueError(f"a float's text is not a plain decimal: {text.filter(parts.is_null())[0]}")
        mantissa, power = parts.field("m"), parts.field("e")
        point = pc.find_substring(mantissa, ".").to_numpy()
        decimals = np.where(point < 0, 0, pc.binary_length(mantissa).to_numpy() - point - 1)
        magnitude[other] = pc.cast(pc.replace_substring(mantissa, ".", ""), pa.uint64()).to_numpy()
        power = pc.cast(pc.if_else(pc.equal(power, ""), "0", power), pa.int64()).to_numpy()
        exponent[other] = power - decimals
    return magnitude, exponent, negative


def _column_for_copy(values: pd.Series, kind: str, text: bool = False) -> pd.Series:
    if kind == "jsonb" and not text:
        return _jsonb_texts(values)
    if kind in INTEGER_TYPES and values.dtype.kind == "f":
        # A column with no value (a field no source gave: `reindex`'s NaN) stays float, which
        # `_arrow_column` writes as NULLs without making an Int64 copy (≈0.1 CPU s a million rows)
        return values if values.isna().all() else values.round().astype("Int64")
    return values


def _jsonb_texts(values: pd.Series) -> pd.Series:
    """Each value's `jsonb_text` (None stays None: NULL), as Arrow text when Arrow holds it (what
    `_arrow_column` takes without a copy). Each distinct object is encoded once: the rows are
    coded by the identity of their objects, which `objects` keeps alive (a number column's
    values are made as it is read: their ids were reused, so another value's text could be taken
    — issue 17), and the texts are taken by those codes in Arrow (prospects' `sources`, a few
    shared lists, was a dictionary look-up and a Python string a row: ≈0.3 CPU s a million). A
    column with no value (`reindex`'s NaN) is one text for every row."""
    if len(values) and values.dtype != object and values.isna().all():
        objects = values.iloc[:1].to_numpy(dtype=object)
        codes = np.zeros(len(values), dtype=np.intp)
    else:
        objects = values.to_numpy(dtype=object)
        codes = pd.factorize(np.fromiter(map(id, objects), dtype=np.int64, count=len(objects)))[0]
        first = np.empty(codes.max() + 1 if len(codes) else 0, dtype=np.intp)
        first[codes] = np.arange(len(codes), dtype=np.intp)  # a row of each object
        objects = objects[first]
    texts: dict[int, str] = {}  # the members' texts, by id: alive while `objects` is
    distinct = [None if v is None else jsonb_text(v, texts) for v in objects]
    try:
        encoded = pa.array(distinct, type=pa.large_string())
        if len(distinct) < len(codes):  # rows share objects; all distinct (provenance) are in the rows' order
            encoded = encoded.take(pa.array(codes))
    except (pa.ArrowException, UnicodeError):  # text Arrow cannot hold: objects, for pandas' path
        return pd.Series(np.array(distinct, dtype=object)[codes], index=values.index, dtype=object)
    return pd.Series(pd.arrays.ArrowExtensionArray(encoded), index=values.index)


def _arrow_column(values: pd.Series, kind: str) -> pa.Array | None:
    """The column as Arrow writes it to CSV with the same value for its target type as pandas'
    writer, or None when that is not certain (an unusual dtype or a value of another type: the
    chunk then goes through pandas). Strings: NUL dropped, empty text as NULL (as pandas' CSV
    sends it); floats: finite, written shortest round-trip (the same double, the same numeric);
    dates: `datetime.date` objects only; timestamps: datetime64 columns only."""
    dtype = values.dtype
    try:
        if dtype.kind == "f" and kind not in NUMBER_TYPES and values.isna().all():
            # NULL in every row of a text, date, … column (a field no source gave: the county's
            # sales with no address) is a float column of NaN: pandas writes it as empty fields.
            return pa.nulls(len(values))
        if kind in STRING_TYPES and dtype.kind in "OU":  # objects, or Arrow text (zero-copy)
            strings = pa.array(values, type=pa.large_string(), from_pandas=True)
            # Copies only where needed: a chunk's provenance text is tens of MB.
            if may_contain(strings, b"\x00"):
                strings = pc.replace_substring(strings, "\x00", "")
            empty = pc.equal(strings, "")
            return pc.if_else(empty, pa.scalar(None, pa.large_string()), strings) if pc.any(empty).as_py() \
                else strings
        if kind in INTEGER_TYPES | NUMBER_TYPES | {"numeric"} and dtype.kind in "iu":
            return pa.array(values, type=pa.int64(), from_pandas=True)
        if kind in INTEGER_TYPES | NUMBER_TYPES | {"numeric"} and dtype.kind == "O":
            # Python numbers (or only NULLs, e.g. a source that gave nothing): as pandas writes them;
            # anything else (Decimal, bool, text) goes through pandas.
            plain = pd.api.types.infer_dtype(values, skipna=True)
            if plain in ("empty", "integer"):
                return pa.array(values, type=pa.int64(), from_pandas=True)
            if kind in NUMBER_TYPES and plain in ("floating", "mixed-integer-float"):
                numbers = pa.array(values, type=pa.float64(), from_pandas=True)
                finite = pc.is_finite(numbers)
                return numbers if pc.all(pc.or_kleene(finite, pc.is_null(numbers))).as_py() is not False else None
            return None
        if kind in NUMBER_TYPES and dtype == np.float64:
            numbers = values.to_numpy()
            return pa.array(numbers, from_pandas=True) if np.isfinite(numbers[~np.isnan(numbers)]).all() else None
        if kind == "boolean" and dtype.kind in "bO":
            return pa.array(values, type=pa.bool_(), from_pandas=True)
        if kind == "date" and dtype == DATE_DTYPE:  # Arrow's days as read (`read_frames`' arrow): no copy
            return pa.array(values, type=pa.date32(), from_pandas=True)
        if kind == "date" and dtype.kind == "O" and pd.api.types.infer_dtype(values, skipna=True) in ("date", "empty"):
            return pa.array(values, type=pa.date32(), from_pandas=True)
        if kind in TIMESTAMP_TYPES and dtype.kind == "M":
            return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return None


def value_offsets(array: pa.Array) -> np.ndarray:
    """A text or binary array's `len + 1` value offsets into its data buffer (each value's start,
    then the last one's end), read in place: 64-bit for the large types, else 32-bit; a slice's
    offset applied."""
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    width = np.dtype(np.int64 if large else np.int32)
    return np.frombuffer(array.buffers()[1], dtype=width, count=len(array) + 1, offset=array.offset * width.itemsize)


def may_contain(text: pa.Array | pa.ChunkedArray, needle: bytes) -> bool:
    """Whether some value of an Arrow text array may contain `needle`: the values' bytes searched
    at once, as one buffer (a `bytes.find`), not value by value (Arrow's `match_substring` was
    ≈1 CPU s per million provenance texts, issue 17). True may be a false alarm — bytes a null
    slot leaves in the buffer, a match across two values — never a miss: for a check that
    guards an exact pass (`replace_substring`, a regex)."""
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        if not len(chunk):
            continue
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True  # another layout: not searched here, so it may
        data = chunk.buffers()[2]
        if data is None:
            continue
        at = value_offsets(chunk)
        if bytes(memoryview(data)[int(at[0]):int(at[-1])]).find(needle) >= 0:
            return True
    return False


def jsonb_text(value: Any, texts: dict[int, str] | None = None) -> str:
    """json.dumps when the value is plain JSON already (fast); else the careful `to_json`.

    A mapping of mappings (provenance: a field → its source's entry) is written member by member
    with each distinct member object encoded once per chunk (`texts`, by id): a row's ~25 fields
    share 2-3 entry objects and a batch's rows share most of them (issue 17: a third of the
    time of encoding provenance at 47k rows)."""
    from realestate_assets.db.warehouse import to_json

    try:
        if texts is not None and type(value) is dict and value \
                and all(type(k) is str and type(v) is dict for k, v in value.items()):
            text = "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_member_text(v, texts)}"
                                   for k, v in value.items()) + "}"
        else:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return to_json(value)
    return to_json(value) if "\\u0000" in text else text


def _member_text(value: dict[str, Any], texts: dict[int, str]) -> str:
    text = texts.get(id(value))
    if text is None:
        text = texts[id(value)] = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text
