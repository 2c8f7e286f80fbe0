"""COPY reads and chunked COPY writes give the frames the cursor gave, for every column type."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from realestate_assets.db import copy_io
from realestate_assets.db.copy_io import read_frame, result_columns
from realestate_assets.db.warehouse import Warehouse, sync_partition
from tests.scale_rows import prospect_rows

MIXED = """
SELECT * FROM (VALUES
  (1::int8, 2::int4, 1.5::float8, 12.25::numeric, 'plain'::text, true, '2020-01-02'::date,
   '2026-01-02 03:04:05.25+00'::timestamptz, '{"a": [1, "x"], "b": null}'::jsonb, 'v'::varchar),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, 5, -0.1, 7, E'comma, "quote"\\nnew line \\\\N é', false, '1999-12-31', '2001-01-01 00:00:00+05',
   '[]', ''),
  (4, 6, 2.0, 8, '', true, '2024-02-29', '2024-02-29 12:00:00+00', '"just text"', '\\N')
) AS v(big, small, f, n, t, b, d, ts, j, vc) ORDER BY big
"""


def test_copy_read_matches_the_cursor_for_every_type(warehouse: Warehouse) -> None:
    streamed = warehouse.frame(MIXED)
    rows = warehouse.frame_rows(MIXED)
    pd.testing.assert_frame_equal(streamed, rows)
    assert streamed.loc[2, "t"] == 'comma, "quote"\nnew line \\N é'
    assert streamed.loc[3, "t"] == "" and streamed.loc[1, "t"] is None  # empty string is not NULL


AWKWARD = """
SELECT k, t, f, n, b, bn, d, tn FROM (VALUES
  (1::int8, '\\N'::text, 'NaN'::float8, 'NaN'::numeric, true, NULL::bool, NULL::date, NULL::text),
  (2, 'NaN', 'Infinity', 1e-300, false, NULL, NULL, NULL),
  (3, E'a\r\nb\n"c"', '-Infinity', 123456789012345678901234567890.5, true, NULL, NULL, NULL),
  (4, '""', 4.9e-324, -0.0, false, NULL, NULL, NULL),
  (5, ' ', 1.7976931348623157e308, 0.1, true, NULL, NULL, NULL)
) AS v(k, t, f, n, b, bn, d, tn) ORDER BY k
"""


@pytest.mark.parametrize("text_bytes", [copy_io.READ_ONCE_TEXT_BYTES, 0])
def test_copy_read_in_chunks_keeps_types_across_chunks(warehouse: Warehouse, text_bytes: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The chunks' Arrow tables joined and converted once, or (past the text bound) each chunk
    # converted and the frames joined: a column NULL in some chunks only (int, bool, timestamp,
    # jsonb) has the type and values the cursor gives the whole result either way.
    monkeypatch.setattr(copy_io, "READ_ONCE_TEXT_BYTES", text_bytes)
    for query in (MIXED, AWKWARD):
        with warehouse.transaction() as conn:
            frame = read_frame(conn, query, result_columns(conn, query), chunk_rows=1)
        pd.testing.assert_frame_equal(frame, warehouse.frame_rows(query))


def test_awkward_values_and_all_null_columns_read_as_the_cursor_reads_them(warehouse: Warehouse) -> None:
    # Text that looks like NULL or a number, quotes and line breaks; NaN and infinities; columns
    # NULL in every row (their types: objects holding None, as before).
    streamed = warehouse.frame(AWKWARD)
    pd.testing.assert_frame_equal(streamed, warehouse.frame_rows(AWKWARD))
    assert streamed["t"].tolist() == ["\\N", "NaN", 'a\r\nb\n"c"', '""', " "]


def test_chunks_have_the_rows_asked_for_across_arrow_blocks(warehouse: Warehouse,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from realestate_assets.db import copy_io

    monkeypatch.setattr(copy_io, "READ_BLOCK_BYTES", 4096)  # many Arrow blocks, none a chunk's size
    query = ("SELECT k, CASE WHEN k % 7 = 0 THEN NULL ELSE k END AS i, k / 3.0 AS f, "
             "repeat('x', k % 11) || E'\\n,' || k AS t, k % 2 = 0 AS b, DATE '2020-01-01' + k AS d "
             "FROM generate_series(1, 5000) k ORDER BY k")
    with warehouse.transaction() as conn:
        chunks = list(copy_io.read_frames(conn, query, chunk_rows=1_234))
    assert [len(c) for c in chunks] == [1_234] * 4 + [64]
    expected = warehouse.frame_rows(query)
    for start, chunk in zip(range(0, 5000, 1_234), chunks, strict=True):
        part = expected.iloc[start:start + 1_234]  # numbered on from the previous chunk
        # An integer column is float64 in a chunk holding a NULL (each chunk typed as a result).
        pd.testing.assert_frame_equal(chunk, part.astype({"i": chunk["i"].dtype}))
    pd.testing.assert_frame_equal(warehouse.frame(query), expected)


def test_parameters_are_bound_and_unusual_types_fall_back(warehouse: Warehouse) -> None:
    query = "SELECT k, ARRAY[k, 1] AS arr FROM generate_series(1, 5) k WHERE k = ANY(:keys) AND :label <> ''"
    frame = warehouse.frame(query, {"keys": [2, 4], "label": "it's %s"})
    assert frame["k"].tolist() == [2, 4] and frame["arr"].tolist() == [[2, 1], [4, 1]]
    empty = warehouse.frame("SELECT k::int8 AS k, 'x'::text AS t FROM generate_series(1, 3) k WHERE false")
    assert list(empty.columns) == ["k", "t"] and len(empty) == 0


def test_a_partition_round_trips_through_chunked_copy(warehouse: Warehouse) -> None:
    county = f"copy_io_{uuid.uuid4().hex[:6]}"  # public rows: a county of the test's own
    frame = prospect_rows(2_000)
    frame.loc[0, "address"] = "1\x002 MAIN"  # text cannot hold NUL: dropped on the way in
    frame.at[1, "sources"] = [["king_sales", f"s{i}"] for i in range(300)]  # large: compressed
    with warehouse.transaction() as conn:
        stats = sync_partition(conn, "prospects", frame, county=county, keys=["prospect_key"])
    assert stats.inserted == len(frame)
    query = ("SELECT prospect_key, latitude, year_built, list_date, description, sources FROM prospects "
             "WHERE county = :county ORDER BY id")
    read = warehouse.frame(query, {"county": county})
    pd.testing.assert_frame_equal(read, warehouse.frame_rows(query, {"county": county}))
    assert read["sources"].tolist() == frame["sources"].tolist()
    assert read["latitude"].tolist() == frame["latitude"].tolist()  # floats survive exactly
    assert warehouse.scalar("SELECT address FROM prospects WHERE county = :c AND prospect_key = 'p0'",
                            {"c": county}) == "12 MAIN"
    if warehouse.scalar("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"):
        assert warehouse.scalar("SELECT pg_column_compression(sources) FROM prospects "
                                "WHERE county = :c AND prospect_key = 'p1'", {"c": county}) == "lz4"
    # A re-sync of the frame read back changes nothing.
    with warehouse.transaction() as conn:
        again = sync_partition(conn, "prospects", frame, county=county, keys=["prospect_key"])
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)


def test_jsonb_values_are_written_as_to_json_writes_them_shared_members_once() -> None:
    import datetime as dt
    import json

    from realestate_assets.db.copy_io import _column_for_copy
    from realestate_assets.db.warehouse import to_json

    shared = {"source": "market", "fetched_at": "2026-01-01T00:00:00+00:00", "confidence": 0.6}
    values = [
        {"a": shared, "b": shared, "c": {**shared, "record": 'x, "y"\né'}},  # members encoded once
        {"a": shared, "z": {"source": None, "fetched_at": None, "confidence": None}},
        {"a": {"v": float("nan")}, "b": shared},  # NaN: to_json's null
        {"a": {"d": dt.date(2020, 1, 2)}},  # not plain JSON: to_json
        {"a": {"t": "1\x002"}},  # NUL: dropped by to_json
        {1: {"k": 1}}, {"a": 1, "b": {"c": 2}}, {}, [1, {"a": 2}], "text", None,
    ]
    written = _column_for_copy(pd.Series(values, dtype=object), "jsonb").tolist()
    assert pd.isna(written[-1])  # NULL
    assert [json.loads(t) for t in written[:-1]] == [json.loads(to_json(v)) for v in values[:-1]]


def test_jsonb_texts_of_shared_objects_and_of_numbers_are_each_values_own() -> None:
    """Rows sharing an object take its one text; a number column's values (made as they are read,
    so their ids could be reused) each take their own; a column of no value is `null` in each row."""
    import numpy as np

    from realestate_assets.db.copy_io import _arrow_column, _column_for_copy

    shared, other = ["a", "b"], ["a", "b"]  # equal, not the same object: encoded apart, same text
    texts = _column_for_copy(pd.Series([shared, None, other, shared, "é"], dtype=object), "jsonb")
    assert texts.tolist()[:1] + texts.tolist()[2:] == ['["a", "b"]', '["a", "b"]', '["a", "b"]', '"é"']
    assert pd.isna(texts.iloc[1])
    assert _column_for_copy(pd.Series([1.5, 2.5, 3.5, np.nan, 4.0]), "jsonb").tolist() == \
        ["1.5", "2.5", "3.5", "null", "4.0"]
    assert _column_for_copy(pd.Series([3, 1, 2]), "jsonb").tolist() == ["3", "1", "2"]
    nothing = _column_for_copy(pd.Series(np.full(3, np.nan)), "jsonb")
    assert nothing.tolist() == ["null"] * 3
    assert _arrow_column(nothing, "jsonb").to_pylist() == ["null"] * 3
    # A lone surrogate Arrow cannot hold: objects, for pandas' path, as before.
    assert _column_for_copy(pd.Series(["\ud800"], dtype=object), "jsonb").tolist() == ['"\ud800"']
    # An integer column of no value stays float: written as NULLs, as its Int64 copy was.
    empty = _column_for_copy(pd.Series(np.full(3, np.nan)), "integer")
    assert empty.dtype == np.float64 and _arrow_column(empty, "integer").null_count == 3
    assert _column_for_copy(pd.Series([1.4, np.nan]), "integer").tolist() == [1, pd.NA]


ALL_TYPES = ("CREATE TEMP TABLE {} (k int8, i int4, f float8, n numeric(14,2), r real, t text, v varchar, "
             "b bool, ob bool, d date, ts timestamptz, tn timestamp, j jsonb, jt jsonb, fi int4, on_ float8, "
             "oi int8, of numeric, tz text, dz date, sj jsonb)")


def every_kind(n: int = 500) -> pd.DataFrame:
    """A frame of every column kind the writers see, with the awkward values of each."""
    import datetime as dt
    import json

    import numpy as np

    rng = np.random.default_rng(7)
    shared = [["a", "b"], ["c"], None]
    texts = ["plain", "", None, 'comma, "quote"\nnew line \\N é', "1\x002", "cr\r\nlf", float("nan"), "\\."]
    frame = pd.DataFrame({
        "k": np.arange(n, dtype="int64"),
        "i": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
        "f": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1e6, n) * 10.0 ** rng.integers(-12, 12, n)),
        "n": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 1e6, n)),
        "r": rng.normal(0, 1, n),
        "t": [texts[i % len(texts)] for i in range(n)],
        "v": [f"v{i}" if i % 3 else None for i in range(n)],
        "b": rng.random(n) < 0.5,
        "ob": [[True, False, None][i % 3] for i in range(n)],
        "d": [dt.date(2000, 1, 1) + dt.timedelta(days=i) if i % 4 else None for i in range(n)],
        "ts": pd.to_datetime(rng.integers(0, 2 ** 40, n) * 1000 + 123, utc=True, unit="us"),
        "tn": pd.to_datetime(rng.integers(0, 2 ** 40, n), unit="ms"),
        "j": [{"a": i, "b": [1.5, None, "x\"y"], "c": {"d": "é"}} if i % 5 else None for i in range(n)],
        "jt": [json.dumps({"a": i, "s": "t,\n\"u\""}) if i % 6 else None for i in range(n)],
        "fi": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 1e5, n)),  # floats for an int4 column
        "on_": pd.Series([None] * n, dtype=object),  # a source that gave nothing: objects, all NULL
        "oi": pd.Series([None if i % 3 else i for i in range(n)], dtype=object),
        "of": pd.Series([None if i % 3 else (i if i % 2 else i / 7) for i in range(n)], dtype=object),
        "tz": np.full(n, np.nan),  # a text field no source gave (reindexed): NaN floats, all NULL
        "dz": np.full(n, np.nan),
        "sj": [shared[i % 3] for i in range(n)],  # jsonb values many rows share (one object each)
    })
    frame.loc[3, "ts"] = pd.NaT
    frame.loc[4, "tn"] = pd.NaT
    return frame


def written(warehouse: Warehouse, frame: pd.DataFrame, *, arrow: bool) -> list[tuple]:
    """The rows as PostgreSQL holds them (each value's text form) after `write_frame`."""
    from psycopg2 import sql

    from realestate_assets.db.copy_io import FIXED_NUMERIC, write_frame

    table = f"w_{uuid.uuid4().hex[:8]}"
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(ALL_TYPES).format(sql.Identifier(table)))
        cur.execute("SET LOCAL TimeZone = 'America/Los_Angeles'")  # naive timestamps: the session's zone
        cur.execute("SELECT column_name, CASE WHEN numeric_scale IS NOT NULL AND data_type = 'numeric' THEN %s "
                    "ELSE data_type END FROM information_schema.columns WHERE table_name = %s",
                    (FIXED_NUMERIC, table))  # as _column_types, for a temporary table
        types = dict(cur.fetchall())
        write_frame(conn, table, frame, types, chunk_rows=128, json_text=["jt"], arrow=arrow)
        cur.execute(sql.SQL("SELECT k, i::text, f::text, n::text, r::text, t, v, b::text, ob::text, d::text, "
                            "ts::text, tn::text, j::text, jt::text, fi::text, on_::text, oi::text, of::text, "
                            "tz, dz::text, sj::text "
                            "FROM {} ORDER BY k")
                    .format(sql.Identifier(table)))
        return cur.fetchall()


def test_arrow_and_pandas_csv_writers_give_the_server_the_same_values(warehouse: Warehouse,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from realestate_assets.db.copy_io import FIXED_NUMERIC, _arrow_column, _ArrowCsv, _column_for_copy

    monkeypatch.setattr(_ArrowCsv, "SLICE_ROWS", 50)  # a chunk's CSV rendered in several slices

    frame = every_kind()
    kinds = {"k": "bigint", "i": "integer", "f": "double precision", "n": FIXED_NUMERIC, "r": "real", "t": "text",
             "v": "character varying", "b": "boolean", "ob": "boolean", "d": "date",
             "ts": "timestamp with time zone", "tn": "timestamp without time zone", "j": "jsonb", "jt": "jsonb",
             "fi": "integer", "on_": "double precision", "oi": "bigint", "of": "numeric",
             "tz": "text", "dz": "date", "sj": "jsonb"}
    # Every column of this frame goes through Arrow (none falls back to pandas) but floats for an
    # unconstrained numeric (its scale is the text's: "6.0" is not "6")...
    through_arrow = {c for c in frame.columns
                     if _arrow_column(_column_for_copy(frame[c], kinds[c], text=c == "jt"), kinds[c]) is not None}
    assert through_arrow == set(frame.columns) - {"of"}
    by_arrow = written(warehouse, frame, arrow=True)
    assert by_arrow == written(warehouse, frame, arrow=False)
    assert by_arrow[2][5] is None and by_arrow[4][5] == "12" and by_arrow[1][5] is None  # '' and NaN: NULL
    # ...and a chunk holding a value Arrow cannot type (a number in a text column) goes through pandas.
    mixed = frame.astype({"t": object})
    mixed.loc[200, "t"] = 12
    assert _arrow_column(mixed["t"].iloc[128:256], "text") is None
    assert written(warehouse, mixed, arrow=True) == written(warehouse, mixed, arrow=False)


def test_may_contain_never_misses_what_the_kernel_finds() -> None:
    """`may_contain` (one search over the values' bytes) is True wherever Arrow's match_substring
    finds the needle in some value: plain, sliced, chunked and null-holding arrays, both offset
    widths; it may only add false alarms (a match across two values)."""
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    from realestate_assets.db.copy_io import may_contain

    rng = random.Random(7)
    alphabet = ["a", '"', "\x00", "k", "e", "p", "t", "é", ""]
    for trial in range(400):
        values = [None if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
                  for _ in range(rng.randint(0, 12))]
        array = pa.array(values, type=pa.large_string() if trial % 2 else pa.string())
        start = rng.randint(0, len(values))
        for text in (array, array.slice(start), pa.chunked_array([array.slice(0, start), array.slice(start)],
                                                                 type=array.type)):
            for needle in ("\x00", '"kept"', "ke", "é"):
                found = pc.any(pc.match_substring(text, needle)).as_py() or False
                assert not found or may_contain(text, needle.encode()), (values, start, needle)
    assert not may_contain(pa.array(["abc", None, "def"]), b"\x00")
    assert not may_contain(pa.array([], type=pa.large_string()), b"x")


def test_prefetched_gives_the_same_items_at_most_depth_ahead_and_stops_with_its_caller() -> None:
    """`copy_io.prefetched` (issue 17: `scores` reads its next chunk while predicting one): the
    same items in order, the producer never more than `depth` ahead, its error raised after the
    items before it, and a caller stopping early closes the source in the producer's thread."""
    import threading
    import time

    from realestate_assets.db.copy_io import prefetched

    made: list[int] = []
    closed: list[str] = []

    def source(n: int, fail_at: int | None = None):
        try:
            for i in range(n):
                if i == fail_at:
                    raise ValueError(f"bad item {i}")
                made.append(i)
                yield i
        finally:
            closed.append(threading.current_thread().name)

    taken = []
    for item in prefetched(source(6), depth=2):
        time.sleep(0.02)  # the producer runs ahead meanwhile, but only so far
        assert len(made) <= item + 1 + 2 + 1  # taken + held (depth) + the one being handed over
        taken.append(item)
    assert taken == list(range(6)) and closed == ["prefetch"]

    made.clear()
    closed.clear()
    got = []
    with pytest.raises(ValueError, match="bad item 3"):
        for item in prefetched(source(6, fail_at=3)):
            got.append(item)
    assert got == [0, 1, 2] and closed == ["prefetch"]

    made.clear()
    closed.clear()
    items = prefetched(source(1000))
    assert next(items) == 0
    items.close()  # the caller stops: the producer stops too, the source closed in its thread
    assert closed == ["prefetch"] and len(made) <= 3
    assert list(prefetched(iter([]))) == []


BINARY_TYPES_TABLE = ("CREATE TEMP TABLE {} (c text, k int8, i int4, f float8, t text, b bool, ob bool, d date, "
                      "ts timestamptz, fi int4, on_ float8, oi int8, ff float8, tz text, dz date)")


def binary_kinds(n: int = 500) -> pd.DataFrame:
    """A frame whose columns all go to types a binary COPY writes, with the awkward values of each:
    NULLs, NaN, ±inf, empty text, NUL, non-ASCII text, dates before 2000, all-NULL columns."""
    import datetime as dt

    import numpy as np

    frame = every_kind(n)[["k", "i", "f", "t", "b", "ob", "d", "ts", "fi", "on_", "oi", "tz", "dz"]].copy()
    frame["t"] = frame["t"].where(frame.index % 11 != 5, "ünïcödé ✓ 𝄞")
    frame["d"] = [dt.date(1900, 1, 1) + dt.timedelta(days=37 * i) if i % 4 else None for i in range(n)]
    frame["ff"] = np.where(frame.index % 9 == 0, np.nan, frame["k"] * 0.1)  # floats for a float8
    frame.loc[300, "f"], frame.loc[301, "f"] = np.inf, -np.inf  # only in the third chunk of 128
    return frame


def recorded_formats(patch: pytest.MonkeyPatch) -> list[str]:
    """The format of each COPY `write_frame` sends from now on (`binary` or `csv`), in order; a
    binary chunk of 128 rows is encoded in three slices."""
    from realestate_assets.db import copy_io

    statements: list[str] = []
    copy = copy_io.CopyWriter.copy

    def recorded(self: copy_io.CopyWriter, statement: str, data: object) -> None:
        statements.append(statement.rsplit("FORMAT ", 1)[1].split(",")[0].rstrip(")"))
        copy(self, statement, data)  # type: ignore[arg-type]

    patch.setattr(copy_io.CopyWriter, "copy", recorded)
    patch.setattr(copy_io._BinaryRows, "SLICE_ROWS", 50)
    return statements


def written_binary(warehouse: Warehouse, frame: pd.DataFrame, *, binary: bool) -> tuple[list[tuple], list[str]]:
    """The rows PostgreSQL holds after `write_frame` (each value's text form) and the COPYs' formats."""
    from psycopg2 import sql

    from realestate_assets.db import copy_io

    table = f"w_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch, warehouse.transaction() as conn, conn.cursor() as cur:
        statements = recorded_formats(patch)
        cur.execute(sql.SQL(BINARY_TYPES_TABLE).format(sql.Identifier(table)))
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", (table,))
        types = dict(cur.fetchall())
        copy_io.write_frame(conn, table, frame, types, chunk_rows=128, binary=binary, constants={"c": "king_wa"})
        cur.execute(sql.SQL("SELECT c, k, i::text, f::text, t, b::text, ob::text, d::text, ts::text, fi::text, "
                            "on_::text, oi::text, ff::text, tz, dz::text, t IS NULL FROM {} ORDER BY k")
                    .format(sql.Identifier(table)))
        return cur.fetchall(), statements


def test_binary_copy_gives_the_server_the_csv_paths_values(warehouse: Warehouse) -> None:
    frame = binary_kinds()
    by_binary, formats = written_binary(warehouse, frame, binary=True)
    by_csv, csv_formats = written_binary(warehouse, frame, binary=False)
    assert by_binary == by_csv
    # Every chunk binary but the one holding ±inf (not a value Arrow's CSV path takes: pandas').
    assert formats == ["binary", "binary", "csv", "binary"] and set(csv_formats) == {"csv"}
    rows = {row[1]: row for row in by_binary}
    assert rows[2][4] is None and rows[1][4] is None and rows[4][4] == "12"  # '' and NaN text: NULL
    assert rows[5][4] == "ünïcödé ✓ 𝄞" and rows[3][4] == 'comma, "quote"\nnew line \\N é'
    assert rows[1][7] == "1900-02-07" and rows[0][7] is None and rows[0][2] is None  # before 2000; NULLs
    assert rows[0][12] is None and rows[1][12] == "0.1" and rows[300][3] == "Infinity"
    assert rows[1][10] is None and rows[1][13] is None and rows[1][14] is None  # all-NULL columns


def test_a_chunk_binary_cannot_hold_exactly_goes_as_csv() -> None:
    import pyarrow as pa

    from realestate_assets.db.copy_io import FIXED_NUMERIC, _binary_values

    assert _binary_values(pa.array([1, 2 ** 40]), "integer") is None  # out of int4: refused by the server
    assert _binary_values(pa.array([1, 2]), "integer").type == pa.int32()
    # A float for an unconstrained numeric (its scale is its text's, the CSV path's is pandas'), a
    # non-finite float for a declared scale; jsonb as Arrow's large text only, as text.
    assert _binary_values(pa.array([1.5]), "numeric") is None and _binary_values(pa.array(["{}"]), "jsonb") is None
    assert _binary_values(pa.array([1.5, float("inf")]), FIXED_NUMERIC) is None
    assert _binary_values(pa.array([1.5, None]), FIXED_NUMERIC) is not None
    assert _binary_values(pa.array([1.5], pa.float32()), FIXED_NUMERIC) is None  # its text is float32's
    assert _binary_values(pa.array([2 ** 63 - 1]), "numeric").type == pa.int64()
    assert _binary_values(pa.array(["{}"], pa.large_string()), "jsonb") is not None
    assert _binary_values(pa.array(["x"], pa.large_string()), "character varying") is None
    finer = pa.array([1_000_000_001], pa.timestamp("ns", tz="UTC"))
    assert _binary_values(finer, "timestamp with time zone") is None  # rounded by the server's parse
    assert _binary_values(pa.array([1], pa.timestamp("us")), "timestamp with time zone") is None  # zone: session's
    assert _binary_values(pa.array([2 ** 53 + 1]), "double precision") is None


def written_as(warehouse: Warehouse, columns: dict[str, str], frame: pd.DataFrame, *, binary: bool,
               json_text: tuple[str, ...] = ()) -> tuple[list[tuple], list[str]]:
    """`frame` written by `write_frame` (chunks of 128) into a new table of `columns` (name → SQL
    type, declared as `_column_types` reads them): the rows as PostgreSQL holds them (each value's
    text, `col::text`, ordered by the first column) and each COPY's format."""
    from psycopg2 import sql

    from realestate_assets.db import copy_io
    from realestate_assets.db.warehouse import _column_types

    table = f"w_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch, warehouse.transaction() as conn, conn.cursor() as cur:
        statements = recorded_formats(patch)
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.SQL(f"{{}} {kind}").format(sql.Identifier(name))
                                                      for name, kind in columns.items())))
        try:
            types = _column_types(conn, table)
            copy_io.write_frame(conn, table, frame, types, chunk_rows=128, binary=binary, json_text=json_text)
            cur.execute(sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(name)) for name in columns),
                sql.Identifier(table)))
            return cur.fetchall(), statements
        finally:
            conn.rollback()


def test_binary_jsonb_and_numeric_hold_the_csv_paths_values(warehouse: Warehouse) -> None:
    """jsonb (a version byte and the text) and numeric (base-10000 digits) in a binary COPY: the
    same values as the CSV path, value for value as PostgreSQL prints them, every chunk binary."""
    import json

    import numpy as np

    n = 640
    floats = [0.0, -0.0, 6.0, -6.0, 0.1, 0.125, 0.135, 1.005, 2.675, -1.005, 0.005, -0.005, 0.015, 1234.565,
              999999999999.99, -999999999999.994, 1e-7, 1.5e-7, 5e-324, 2.5e-5, 1e11, 123456789.123456789,
              0.1 + 0.2, 1 / 3, 2 ** 39 - 0.5, 2 ** 39 + 0.25, 549755813887.9999, 45.0000001, np.nan]
    rng = np.random.default_rng(17)
    scattered = rng.normal(0, 1, n) * 10.0 ** rng.integers(-15, 12, n)
    places = 10.0 ** rng.integers(0, 5, n)
    money = np.rint(rng.uniform(-1e9, 1e9, n) * places) / places  # whole, cents, a few decimals
    documents = [{"a": [1, 2.5, None, {"b": "x\"y\\z\n\t\u0001"}]}, {"é": "ünïcödé ✓ 𝄞", "": []}, [], {},
                 None, "just text", 0, -1.5e300, True, [[[[{"deep": {"er": [None]}}]]]], {"null": None}]
    frame = pd.DataFrame({
        "k": np.arange(n, dtype="int64"),
        "money": np.where(np.arange(n) < len(floats), np.resize(np.array(floats), n), money),  # numeric(14,2)
        "wide": np.where(np.arange(n) % 9 == 0, np.nan, scattered),  # numeric(38,20)
        "huge": np.resize(np.array([1.7976931348623157e308, -2.2250738585072014e-308, 5e-324, 1e300, -1.5e-300,
                                    9007199254740993.0, np.nan]), n),  # numeric(1000,340)
        "whole": np.resize(np.array([0, 1, -1, 10_000, 99_990_000, -(2 ** 63), 2 ** 63 - 1], dtype=np.int64), n),
        "cents": np.resize(np.array([0, 7, -123_456_789_012, 10 ** 12 - 1], dtype=np.int64), n),  # numeric(14,2)
        "doc": [documents[i % len(documents)] for i in range(n)],
        "doc_text": [None if i % 5 == 0 else json.dumps(documents[i % len(documents)], ensure_ascii=i % 2 == 0)
                     for i in range(n)],
    })
    frame.loc[frame.index % 7 == 3, "whole"] = 0
    columns = {"k": "int8", "money": "numeric(14,2)", "wide": "numeric(38,20)", "huge": "numeric(1000,340)",
               "whole": "numeric", "cents": "numeric(14,2)", "doc": "jsonb", "doc_text": "jsonb"}
    by_binary, formats = written_as(warehouse, columns, frame, binary=True, json_text=("doc_text",))
    by_csv, csv_formats = written_as(warehouse, columns, frame, binary=False, json_text=("doc_text",))
    assert formats == ["binary"] * 5 and set(csv_formats) == {"csv"}
    assert by_binary == by_csv
    rows = {int(row[0]): row for row in by_binary}
    # The numbers as the shortest text rounds them (half away from zero), not as the float does.
    assert [rows[i][1] for i in range(13)] == ["0.00", "0.00", "6.00", "-6.00", "0.10", "0.13", "0.14", "1.01",
                                              "2.68", "-1.01", "0.01", "-0.01", "0.02"]
    assert rows[28][1] is None and rows[0][2] is None and rows[6][3] is None  # NaN: NULL
    assert rows[0][3].startswith("179769313486231570000") and rows[2][3] == "0." + "0" * 323 + "5" + "0" * 16
    assert rows[5][4] == str(-(2 ** 63)) and rows[6][4] == str(2 ** 63 - 1) and rows[1][4] == "1"
    assert rows[2][5] == "-123456789012.00"
    assert rows[4][6] is None and rows[10][6] == '{"null": null}' and rows[5][6] == '"just text"'
    assert rows[0][7] is None and rows[1][7] == '{"": [], "é": "ünïcödé ✓ 𝄞"}'


def test_binary_numeric_rounds_many_random_floats_as_the_csv_path(warehouse: Warehouse) -> None:
    """Random floats of every magnitude and bit pattern, and decimals near each scale's rounding
    boundary, into declared scales 0, 2 and 6: PostgreSQL holds the CSV path's values."""
    import numpy as np

    rng = np.random.default_rng(2026)
    n = 128 * 40
    bits = rng.integers(0, 2 ** 63, n, dtype=np.int64).view(np.float64)  # any finite double, by its bits
    bits = np.where(np.isfinite(bits) & (np.abs(bits) < 1e10), bits, rng.normal(0, 1e3, n))
    ties = (rng.integers(-10 ** 9, 10 ** 9, n) + 0.5) / 10.0 ** rng.integers(0, 7, n)  # x.5 at some digit
    places = 10.0 ** rng.integers(0, 9, n)
    near = np.rint(rng.uniform(-1e6, 1e6, n) * places) / places
    spread = rng.normal(0, 1, n) * 10.0 ** rng.integers(-20, 10, n)
    frame = pd.DataFrame({"k": np.arange(n), "a": bits, "b": ties, "c": near, "d": spread,
                          "e": np.where(rng.random(n) < 0.05, np.nan, ties)})
    columns = {"k": "int8", "a": "numeric(30,6)", "b": "numeric(20,2)", "c": "numeric(20,0)", "d": "numeric(40,6)",
               "e": "numeric(20,6)"}
    by_binary, formats = written_as(warehouse, columns, frame, binary=True)
    by_csv, _ = written_as(warehouse, columns, frame, binary=False)
    assert set(formats) == {"binary"} and len(formats) == 40
    assert by_binary == by_csv


def test_numeric_fields_take_the_exact_decimal_of_the_shortest_text() -> None:
    """`_float_decimals` (whole 10⁻⁴s from the float, the others from Arrow's text): the digits and
    exponent of the shortest round-trip text, checked against Python's `repr` for many floats."""
    from decimal import Decimal

    import numpy as np
    import pyarrow as pa

    from realestate_assets.db.copy_io import _float_decimals

    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2 ** 63, 20_000, dtype=np.int64).view(np.float64)
    places = 10.0 ** rng.integers(0, 6, 5_000)
    values = np.concatenate([bits[np.isfinite(bits)], np.rint(rng.uniform(-1e9, 1e9, 5_000) * places) / places,
                             [0.0, -0.0, 2.0 ** 39, 2.0 ** 39 - 1e-4, 1e-4, 5e-324, 1.7976931348623157e308]])
    magnitude, exponent, negative = _float_decimals(pa.array(values))
    for value, digits, power, minus in zip(values, magnitude, exponent, negative, strict=True):
        assert Decimal(int(digits)).scaleb(int(power)) * (-1 if minus else 1) == Decimal(repr(float(value))), value


def test_binary_rows_are_the_fields_one_after_another() -> None:
    """`_BinaryRows`' bytes (runs of fixed-width fields joined as one record a row) are each row's
    field count and then each field — its length, -1 for NULL, and its bytes — packed one by one,
    on a table whose fixed-width runs are cut by text and jsonb, with NULLs in every column."""
    import datetime as dt
    import struct

    import pyarrow as pa

    from realestate_assets.db import copy_io

    n = 23
    columns = {
        "bigint": pa.array([i * 10**12 if i % 3 else None for i in range(n)], pa.int64()),
        "double precision": pa.array([i / 7 if i % 4 else None for i in range(n)], pa.float64()),
        "text": pa.array([f"t{i}é" if i % 5 else None for i in range(n)], pa.large_string()),
        "boolean": pa.array([bool(i % 2) if i % 6 else None for i in range(n)], pa.bool_()),
        "date": pa.array([dt.date(1990, 1, 1) + dt.timedelta(days=i) if i % 7 else None for i in range(n)],
                         pa.date32()),
        "integer": pa.nulls(n),
        "jsonb": pa.array([f'{{"a": {i}}}' if i % 2 else None for i in range(n)], pa.large_string()),
        "timestamp with time zone": pa.array([i * 10**6 if i % 8 else None for i in range(n)],
                                             pa.timestamp("us", tz="UTC")),
    }
    kinds = list(columns)
    epoch = dt.date(2000, 1, 1)

    def field(kind: str, value: object) -> bytes:
        if value is None:
            return struct.pack(">i", -1)
        if kind in ("text", "jsonb"):
            data = (b"\x01" if kind == "jsonb" else b"") + str(value).encode()
            return struct.pack(">i", len(data)) + data
        if kind == "date":
            return struct.pack(">ii", 4, (value - epoch).days)
        if kind == "timestamp with time zone":
            moment = value - dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
            return struct.pack(">iq", 8, moment // dt.timedelta(microseconds=1))
        code = {"bigint": "q", "double precision": "d", "boolean": "?", "integer": "i"}[kind]
        return struct.pack(">i" + code, struct.calcsize(code), value)

    expected = copy_io.COPY_BINARY_HEADER + b"".join(
        struct.pack(">h", len(kinds)) + b"".join(field(kind, columns[kind][i].as_py()) for kind in kinds)
        for i in range(n)) + copy_io.COPY_BINARY_TRAILER
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copy_io._BinaryRows, "SLICE_ROWS", 5)  # several slices, the last one short
        rows = copy_io._BinaryRows.of(pa.table(list(columns.values()), names=kinds), kinds)
        assert rows is not None
        got = b"".join(iter(lambda: rows.read(7), b""))
    assert got == expected


def test_text_read_as_arrow_is_the_objects_text(warehouse: Warehouse) -> None:
    """`text_as_arrow`: the text columns as Arrow's text in one chunk (NULL missing, "" kept), in
    any chunking; every other column as the objects read gives it; an empty result as before."""
    for query in (MIXED, AWKWARD):
        with warehouse.transaction() as conn:
            columns = result_columns(conn, query)
            arrow = read_frame(conn, query, columns, chunk_rows=1, text_as_arrow=True)
            objects = read_frame(conn, query, columns)
        text = [name for name, oid in columns if oid in copy_io.TEXT_OIDS]
        assert text and all(arrow[c].dtype == copy_io.TEXT_DTYPE for c in text)
        assert all(arrow[c].array.__arrow_array__().num_chunks == 1 for c in text)
        for c in text:
            assert [None if pd.isna(v) else v for v in arrow[c]] == objects[c].tolist()
        pd.testing.assert_frame_equal(arrow.drop(columns=text), objects.drop(columns=text))
    empty = "SELECT k::int8 AS k, 'x'::text AS t FROM generate_series(1, 3) k WHERE false"
    with warehouse.transaction() as conn:
        pd.testing.assert_frame_equal(read_frame(conn, empty, text_as_arrow=True), read_frame(conn, empty))


def test_binary_rows_of_texts_of_one_width_and_null_slots_holding_bytes() -> None:
    """Texts whose values in a slice all have one byte length (joined as fixed-width records),
    with and without NULLs, jsonb too, and a text whose NULL slots still hold bytes (Arrow allows
    it; they are not sent): the same fields as packed one by one."""
    import struct

    import numpy as np
    import pyarrow as pa

    from realestate_assets.db import copy_io

    n = 12
    held = pa.array([f"v{i:02d}" for i in range(n)], pa.large_string())  # every slot 3 bytes
    _, offsets, data = held.buffers()
    validity = pa.py_buffer(np.packbits(np.arange(n) % 4 != 1, bitorder="little").tobytes())
    columns = [
        ("text", pa.array(["king_wa"] * n, pa.large_string())),  # a constant column, no NULL
        ("text", pa.array([None if i % 3 == 0 else f"p{i % 10}" for i in range(n)], pa.large_string())),
        ("jsonb", pa.array(['{"k": 1}'] * (n - 2) + ['{"k": 10}', None], pa.large_string())),
        ("text", pa.Array.from_buffers(pa.large_string(), n, [validity, offsets, data]).slice(1)),
        ("double precision", pa.array([float(i) for i in range(n)], pa.float64())),
    ]
    kinds = [kind for kind, _ in columns]
    values = [array if len(array) == n - 1 else array.slice(1) for _, array in columns]

    def field(kind: str, value: str | float | None) -> bytes:
        if value is None:
            return struct.pack(">i", -1)
        if kind == "double precision":
            return struct.pack(">id", 8, value)
        text = (b"\x01" if kind == "jsonb" else b"") + str(value).encode()
        return struct.pack(">i", len(text)) + text

    expected = copy_io.COPY_BINARY_HEADER + b"".join(
        struct.pack(">h", len(kinds)) + b"".join(field(kind, array[i].as_py()) for kind, array in
                                                  zip(kinds, values, strict=True))
        for i in range(n - 1)) + copy_io.COPY_BINARY_TRAILER
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copy_io._BinaryRows, "SLICE_ROWS", 4)
        rows = copy_io._BinaryRows.of(pa.table(values, names=[str(i) for i in range(len(kinds))]), kinds)
        assert rows is not None
        got = b"".join(iter(lambda: rows.read(5), b""))
    assert got == expected


def test_chunks_read_with_arrow_text_and_dates_hold_the_objects_values_and_write_the_same(
        warehouse: Warehouse) -> None:
    """`read_frames(arrow=True)` (`features`' enrichment chunks): text as `TEXT_DTYPE` and dates as
    `DATE_DTYPE` (NULL missing, "" kept), every other column as the objects' read gives it; the
    writer takes those dates as they are and sends the server the objects' values (issue 17)."""
    for query in (MIXED, AWKWARD):
        with warehouse.transaction() as conn:
            columns = result_columns(conn, query)
            arrow = pd.concat(list(copy_io.read_frames(conn, query, columns, chunk_rows=2, arrow=True)))
            objects = pd.concat(list(copy_io.read_frames(conn, query, columns, chunk_rows=2)))
        held = [name for name, oid in columns if oid in copy_io.TEXT_OIDS | {copy_io.DATE_OID}]
        assert held and all(arrow[c].dtype in (copy_io.TEXT_DTYPE, copy_io.DATE_DTYPE) for c in held)
        for c in held:
            assert [None if pd.isna(v) else v for v in arrow[c]] == [None if pd.isna(v) else v for v in objects[c]]
        pd.testing.assert_frame_equal(arrow.drop(columns=held), objects.drop(columns=held))
    dates = pd.Series([pd.Timestamp("1999-12-31").date(), None, pd.Timestamp("2024-02-29").date()])
    as_arrow = dates.astype(copy_io.DATE_DTYPE)
    assert copy_io._arrow_column(as_arrow, "date").equals(copy_io._arrow_column(dates, "date"))
