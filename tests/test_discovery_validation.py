"""Bulk files and validation: good rows typed, bad rows rejected with every reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from realestate_assets.config_models import BoundingBox, BulkFileSource, FieldMap, load_counties
from realestate_assets.discovery.bulk_file import read_bulk_file
from realestate_assets.discovery.collect import build_prospects, collect_listings, collect_sales
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.validate import PY_WHITESPACE, canonicalize
from tests.spies import Spy

BOX = BoundingBox(min_latitude=47, max_latitude=48, min_longitude=-123, max_longitude=-121)
FIELDS = {"parcel_id": FieldMap(column="pin", strip_chars="."), "sale_id": FieldMap(column="id"),
          "sale_price": FieldMap(column="price"), "sale_date": FieldMap(column="date"),
          "latitude": FieldMap(column="lat"), "longitude": FieldMap(column="lon"),
          "lot_sqft": FieldMap(column="acres", scale=43_560)}


def page(rows: list[dict[str, str]]) -> Page:
    return Page("test", pd.DataFrame(rows, dtype=str), [f"line {i}" for i in range(len(rows))])


GOOD = {"pin": "..0123", "id": "s1", "price": "500000", "date": "2015-03-01", "lat": "47.6",
        "lon": "-122.3", "acres": "0.25"}


def test_good_row_is_typed_trimmed_and_scaled() -> None:
    result = canonicalize(page([GOOD]), FIELDS, bounding_box=BOX)
    assert not result.rejects
    row = result.rows.iloc[0]
    assert row.parcel_id == "0123" and row.sale_price == 500000.0 and row.lot_sqft == 10890.0
    assert str(row.sale_date) == "2015-03-01" and row.source_ref == "line 0"


def test_arrow_strips_what_python_strips() -> None:
    """Text columns are stripped by Arrow with Python's whitespace; a column that is not all
    text (a JSON API's numbers) is stripped by pandas: the same rows either way."""
    assert set(PY_WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    odd = {"pin": "\x1c..0124.\u3000", "id": "\u2003s2\x85", "price": "\xa0500000\x1f", "date": "2015-03-01",
           "lat": "47.6\u2000", "lon": "-122.3", "acres": " \t"}
    zero_width = {**GOOD, "id": "s3", "lat": "\u200b47.6"}  # U+200B is not whitespace
    text = canonicalize(page([GOOD, odd, zero_width]), FIELDS, bounding_box=BOX)
    mixed = page([GOOD, odd, zero_width])
    mixed.frame.loc[0, ["lon", "price"]] = [-122.3, 500000]  # numbers, not text: the pandas way
    assert text.rows.equals(canonicalize(mixed, FIELDS, bounding_box=BOX).rows)
    assert list(text.rows["parcel_id"]) == ["0123", "0124"] and list(text.rows["sale_id"]) == ["s1", "s2"]
    assert text.rows.loc[1, "sale_price"] == 500000.0 and pd.isna(text.rows.loc[1, "lot_sqft"])
    assert [r.reason for r in text.rejects] == ["latitude: not a number"]


def test_every_problem_of_a_row_is_named() -> None:
    bad = {**GOOD, "price": "cheap", "lat": "", "date": "31/31/2015"}
    result = canonicalize(page([GOOD, bad]), FIELDS, bounding_box=BOX)
    assert len(result.rows) == 1 and len(result.rejects) == 1
    reject = result.rejects[0]
    assert reject.ref == "line 1" and reject.raw["price"] == "cheap"
    for reason in ("sale_price: not a number", "latitude: missing", "sale_date: not a date"):
        assert reason in reject.reason


def test_absurd_values_dates_and_coordinates_are_rejected() -> None:
    rows = [{**GOOD, "price": "5"}, {**GOOD, "date": "2999-01-01"}, {**GOOD, "date": "1700-01-01"},
            {**GOOD, "lat": "40.7", "lon": "-74.0"}]
    reasons = [r.reason for r in canonicalize(page(rows), FIELDS, bounding_box=BOX).rejects]
    assert reasons == ["sale_price: outside 1000..5e+08", "sale_date: in the future",
                       "sale_date: before 1850", "coordinates: outside the county's bounding box"]


def test_mapping_to_a_missing_column_rejects_the_page() -> None:
    result = canonicalize(page([GOOD]), {**FIELDS, "beds": FieldMap(column="bedrooms")})
    assert result.rows.empty and "column 'bedrooms'" in result.rejects[0].reason


def test_bulk_file_reads_in_chunks_and_reports_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    lines = ["pin,id,price,date,lat,lon,acres"] + [
        f"{i},s{i},{400000 + i},2015-01-01,47.5,-122.2,0.1" for i in range(250)]
    lines.insert(100, "1,2,3,4,5,6,7,8,9")  # too many fields
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    source = BulkFileSource(name="t", type="bulk_file", path=str(path), chunk_rows=100)
    items = list(read_bulk_file(source))
    pages = [i for i in items if isinstance(i, Page)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [len(p.frame) for p in pages] == [100, 100, 50]  # the broken line is not a row
    assert len(rejects) == 1 and "malformed line" in rejects[0].reason
    assert rejects[0].raw == "1,2,3,4,5,6,7,8,9"
    assert rejects[0].ref == f"{path}:101"  # the broken line names its own line
    assert pages[0].refs[:2] == [f"{path}:2", f"{path}:3"] and pages[0].refs[-1] == f"{path}:102"
    assert pages[1].refs[0].endswith(":103")  # rows after it keep their own line numbers


def test_unreadable_file_is_one_reject_not_a_crash(tmp_path: Path) -> None:
    source = BulkFileSource(name="t", type="bulk_file", path=str(tmp_path / "missing.csv"))
    (reject,) = list(read_bulk_file(source))
    assert isinstance(reject, Reject) and "could not read" in reject.reason


def test_king_county_file_collects_cleanly_into_one_prospect_per_parcel() -> None:
    king = load_counties()["king_wa"]
    collected = collect_sales(king)
    assert len(collected.rows) == 5348 and not collected.rejects
    listings = collect_listings(king)  # King has no listing source: nothing, and no reject
    assert listings.rows.empty and not listings.rejects
    merged = build_prospects(collected.rows, listings.rows)
    assert len(merged.frame) == collected.rows["parcel_id"].nunique() == 4710
    assert merged.frame["prospect_key"].is_unique and len(merged.links) == 4710
    assert merged.duplicate_rate == 0.0
    assert (merged.frame["prospect_key"] == merged.frame["parcel_id"]).all()  # readable keys


def test_a_failing_source_is_a_reject_not_a_crash() -> None:
    def broken(source: object) -> list:
        raise ConnectionError("connection refused")

    collected = collect_sales(load_counties()["king_wa"], reader=broken)
    assert collected.rows.empty
    assert collected.rejects[0].reason == "source failed: ConnectionError: connection refused"
    assert collected.reject_rate == 1.0


def test_sales_by_page_are_the_collected_sales_with_repeats_rejected_across_pages() -> None:
    """`sale_pages` (what the `sales` asset stages page by page) gives `collect_sales`' rows and
    rejects: a sale id seen in an earlier page, or earlier in its page, is a duplicate reject,
    listed after every other reject as when the county was one frame."""
    from realestate_assets.discovery.collect import Collected, sale_pages

    king = load_counties()["king_wa"]
    fields = king.sources_providing("sales")[0].field_map()
    rows = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "king_wa" / "ex_sales.csv", dtype=str,
                       keep_default_na=False).head(300)
    rows.loc[20, "sale_id"] = rows.loc[5, "sale_id"]  # repeated in its page
    rows.loc[150, "sale_id"] = rows.loc[7, "sale_id"]  # repeated in a later page
    rows.loc[151, "sale_price"] = "free"  # a reject of its own
    rows.loc[260, "sale_id"] = rows.loc[151, "sale_id"]  # the first one was rejected: not a repeat
    pages = [Page("kc_assessor_sales", rows.iloc[i:i + 100].reset_index(drop=True),
                  [f"f:{j + 2}" for j in range(i, min(i + 100, len(rows)))]) for i in range(0, 300, 100)]

    def reader(source: object) -> list[Page]:
        return pages

    whole = collect_sales(king, reader=reader)
    collected = Collected(rows=pd.DataFrame())
    paged = list(sale_pages(collected, king, reader=reader))
    assert [len(p) for p in paged] == [99, 98, 100]
    pd.testing.assert_frame_equal(pd.concat(paged, ignore_index=True), whole.rows)
    assert [(r.ref, r.reason) for r in collected.rejects] == [(r.ref, r.reason) for r in whole.rejects] == [
        ("f:153", "sale_price: not a number"), ("f:22", f"duplicate sale_id {rows.loc[5, 'sale_id']!r} in the source"),
        ("f:152", f"duplicate sale_id {rows.loc[7, 'sale_id']!r} in the source")]
    assert collected.source_rows == whole.source_rows and len(whole.rows) == 297
    # The frame `collect` has always given, for comparison: concatenated pages, duplicates dropped.
    valid = pd.concat([canonicalize(p, fields, bounding_box=king.bounding_box).rows for p in pages],
                      ignore_index=True)
    expected = valid.loc[~valid.duplicated(["source", "sale_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(whole.rows, expected)


def test_plain_numbers_by_arrow_are_pandas_numbers(monkeypatch) -> None:
    """Numbers read by Arrow's cast (every value of the column a plain number) are those of
    pandas' `to_numeric`, bit for bit (the sign of a zero too), and so are the rejects; on random
    pages of integer, decimal, signed, zero-padded and long values, with and without a value
    that sends the column back to pandas (exponents, '+', '.5', '5.', 16+ characters, text)."""
    import numpy as np

    from realestate_assets.discovery import validate

    rng = np.random.default_rng(17)
    fields = {**FIELDS, "beds": FieldMap(column="beds"), "baths": FieldMap(column="baths")}
    odd = ["1e3", "+5", ".5", "5.", "-0", "-0.0", "0", "007", "1234567890123456", "123456789012345", "NaN",
           "inf", "", " 7 ", "4,5", "1_000", "٣", "-", "12.3456789012345", "-122.3000000001", "0.1", "2.675"]

    def value(kind: int) -> str:
        digits = int(rng.integers(1, 16))
        number = "0" * int(rng.integers(0, 2)) + str(int(rng.integers(0, 10 ** digits))) if rng.random() < 0.8 else "0"
        if kind == 0:
            return ("-" if rng.random() < 0.3 else "") + number
        if kind == 1:
            cut = int(rng.integers(1, len(number) + 1))
            return ("-" if rng.random() < 0.3 else "") + (number[:cut] or "0") + "." + (number[cut:] or "0")
        return str(rng.choice(odd))

    def numbers_of(result) -> np.ndarray:
        return result.rows[[c for c in result.rows.columns if c in validate.NUMERIC_RANGES]].to_numpy(dtype=float)

    for trial in range(150):
        kinds = [0] if trial % 3 == 0 else [0, 1] if trial % 3 == 1 else [0, 1, 2]
        rows = []
        for _ in range(int(rng.integers(1, 40))):
            row = dict(GOOD, beds=value(int(rng.choice(kinds))), baths=value(int(rng.choice(kinds))))
            if rng.random() < 0.5:
                row["lat"] = value(1)
            rows.append(row)
        fast = canonicalize(page(rows), fields, bounding_box=BOX)
        with monkeypatch.context() as m:
            m.setattr(validate, "_plain_numbers", lambda arrow, index: None)
            slow = canonicalize(page(rows), fields, bounding_box=BOX)
        pd.testing.assert_frame_equal(fast.rows, slow.rows, check_exact=True)
        a, b = numbers_of(fast), numbers_of(slow)
        assert np.array_equal(np.signbit(a), np.signbit(b))
        assert [(r.ref, r.reason) for r in fast.rejects] == [(r.ref, r.reason) for r in slow.rejects]


def test_iso_dates_by_arrow_are_pandas_dates(monkeypatch) -> None:
    """A date column read by Arrow's cast (every value an ISO day from 1850 to today) gives the
    rows and rejects of pandas' mixed-format parse; on random pages of ISO days (today, tomorrow,
    before 1850, far future, leap days, days that do not exist) with and without a value that
    sends the column back to pandas (other spellings, times, text, padding), missing dates too."""
    import datetime as dt

    import numpy as np

    from realestate_assets.discovery import validate

    rng = np.random.default_rng(21)
    today = pd.Timestamp.now().date()
    fields = {**FIELDS, "list_date": FieldMap(column="listed")}  # a date field a row may lack
    edge = [today.isoformat(), (today + dt.timedelta(days=1)).isoformat(), "1850-01-01", "1849-12-31",
            "2016-02-29", "2015-02-29", "2015-13-01", "0000-01-01", "9999-12-31", "2300-01-01", "1600-06-01"]
    odd = ["03/01/2015", "2015-3-1", "2015-03-01T10:00", "2015-03-01 00:00:00", "20150301", "soon",
           "March 1, 2015", " 2015-03-01 ", "2015-03-01Z", "+2015-03-01", "٢٠١٥-٠٣-٠١"]

    def value(kind: int) -> str:
        if kind == 0:
            first = dt.date(1850, 1, 1)
            return (first + dt.timedelta(days=int(rng.integers(0, (today - first).days + 1)))).isoformat()
        if kind == 1:
            return str(rng.choice(edge))
        return str(rng.choice([*odd, ""]))

    counted = Spy(validate._iso_dates)

    for trial in range(150):
        kinds = [0] if trial % 3 == 0 else [0, 1] if trial % 3 == 1 else [0, 1, 2]
        rows = [dict(GOOD, id=f"s{i}", date=value(int(rng.choice(kinds))),
                     listed=value(int(rng.choice(kinds))) if rng.random() < 0.7 else "")
                for i in range(int(rng.integers(1, 30)))]
        with monkeypatch.context() as m:
            m.setattr(validate, "_iso_dates", counted)
            fast = canonicalize(page(rows), fields, bounding_box=BOX)
        with monkeypatch.context() as m:
            m.setattr(validate, "_iso_dates", lambda arrow, index: None)
            slow = canonicalize(page(rows), fields, bounding_box=BOX)
        pd.testing.assert_frame_equal(fast.rows, slow.rows, check_exact=True)
        for column in ("sale_date", "list_date"):  # `datetime.date` objects and NaT, as pandas' `.dt.date`
            assert [type(v) for v in fast.rows[column]] == [type(v) for v in slow.rows[column]]
        assert [(r.ref, r.reason) for r in fast.rejects] == [(r.ref, r.reason) for r in slow.rejects]
    assert counted.answered > 60  # the fast path was taken (the ISO-only pages), and refused elsewhere


def test_plain_number_shape_is_the_regex() -> None:
    """`_plain_number_shape` (NumPy over the bytes) says what the plain-number regex and the
    length bound say, and whether a value has a fraction, on random arrays of short strings over
    digits, signs, points and other characters, sliced at random (an array's offset)."""
    import re

    import numpy as np
    import pyarrow as pa

    from realestate_assets.discovery import validate

    rng = np.random.default_rng(5)
    alphabet = list("0123456789") * 3 + ["-", "-", ".", ".", "+", "e", " ", "x", "\u0663", "\u00e9"]
    pattern = re.compile(r"-?[0-9]+(\.[0-9]+)?")
    fixed = ["-", ".", "-.", "-.5", ".5", "5.", "5", "-5", "0.0", "--5", "5-", "1.2.3", "1..2", "123456789012345",
             "1234567890123456", "-12345678901234", "12345678901234.5", "-0"]
    verdicts = set()
    for trial in range(3000):
        values = [fixed[trial % len(fixed)]] if trial < len(fixed) else \
            ["".join(rng.choice(alphabet, size=int(rng.integers(1, 18)))) if rng.random() < 0.05
             else str(rng.choice(["", "-"])) + str(int(rng.integers(0, 10 ** int(rng.integers(1, 12)))))
             + str(rng.choice(["", "." + str(int(rng.integers(0, 1000)))]))
             for _ in range(int(rng.integers(1, 12)))]
        start = int(rng.integers(0, len(values)))
        array = pa.array(["pad", *values, "pad"], type=pa.large_string()).slice(1 + start, len(values) - start)
        kept = values[start:]
        plain = all(pattern.fullmatch(v) and len(v) <= validate._PLAIN_NUMBER_CHARS for v in kept)
        expected = (any("." in v for v in kept) if plain else None) if kept else None
        got = validate._plain_number_shape(array) if kept else None
        assert got == expected, (kept, got, expected)
        verdicts.add(got)
    assert verdicts == {None, False, True}


def test_in_range_by_numpy_is_pandas_between_and_where() -> None:
    """`_in_range`'s NumPy path for float columns flags and keeps exactly what pandas' `between`
    and `where` did (NaN, infinities, the bounds themselves, a negative zero, a scale), and a page
    whose every row passes comes back with the rows' own index 0..n-1 and no row lost."""
    import numpy as np

    from realestate_assets.discovery import validate

    def by_pandas(name: str, number: pd.Series, scale: float | None) -> tuple[pd.Series, pd.Series]:
        if scale is not None:
            number = number * scale
        low, high = validate.NUMERIC_RANGES[name]
        return number.notna() & ~number.between(low, high), number.where(number.between(low, high)).astype("float64")

    rng = np.random.default_rng(26)
    for trial in range(200):
        name = str(rng.choice(sorted(validate.NUMERIC_RANGES)))
        low, high = validate.NUMERIC_RANGES[name]
        pool = np.array([low, high, np.nextafter(low, -np.inf), np.nextafter(high, np.inf), -0.0, 0.0,
                         np.nan, np.inf, -np.inf, (low + high) / 2, low - 1, high + 1])
        n = int(rng.integers(1, 30))
        values = np.where(rng.random(n) < 0.5, rng.choice(pool, n), rng.uniform(low - abs(low) - 1, high * 2 + 1, n))
        number = pd.Series(values, index=pd.RangeIndex(5, 5 + len(values)))
        scale = None if trial % 2 else float(rng.choice([0.5, 43_560.0, -1.0]))
        flagged: list[pd.Series] = []
        out = pd.DataFrame(index=number.index)
        validate._in_range(name, number, scale, lambda mask, reason, seen=flagged: seen.append(mask), out)
        outside, kept = by_pandas(name, number, scale)
        pd.testing.assert_series_equal(out[name], kept, check_exact=True, check_names=False)
        assert np.array_equal(np.signbit(out[name].to_numpy()), np.signbit(kept.to_numpy()))
        if outside.any():
            assert len(flagged) == 1 and flagged[0].tolist() == outside.tolist()
        else:
            assert not flagged  # nothing to flag: no flag call

    rows = [dict(GOOD, id=f"s{i}") for i in range(5)]
    clean = canonicalize(page(rows), FIELDS, bounding_box=BOX)
    assert not clean.rejects and clean.rows.index.equals(pd.RangeIndex(5))
    assert clean.rows["sale_id"].tolist() == [f"s{i}" for i in range(5)]
    assert clean.rows["source_ref"].tolist() == [f"line {i}" for i in range(5)]
    mixed = canonicalize(page([*rows[:2], {**GOOD, "id": "bad", "price": "5"}, *rows[2:]]), FIELDS, bounding_box=BOX)
    pd.testing.assert_frame_equal(mixed.rows.drop(columns="source_ref"), clean.rows.drop(columns="source_ref"))
    assert mixed.rows["source_ref"].tolist() == ["line 0", "line 1", "line 3", "line 4", "line 5"]


def test_suspect_check_by_bytes_is_the_regex() -> None:
    """`_suspect_bytes` gives the suspect regex's verdict on random arrays of short strings over
    letters, control characters, U+FFFD, whitespace and non-ASCII letters, with nulls (empty slots
    and, built by hand, a null slot holding bytes), sliced at random (an array's offset) and as
    `string` (32-bit offsets)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from realestate_assets.discovery import validate

    rng = np.random.default_rng(17)
    alphabet = list("abc123..") * 4 + ["\x00", "\x1f", "\x7f", "\ufffd", "\t", " ", "\x1c", "\xa0", "\u3000", "\xe9",
                                       "\u0663", "\U0001f600", "\x85", "\n", "\r"]
    verdicts = set()
    for trial in range(3000):
        values = [None if rng.random() < 0.1 else "".join(rng.choice(alphabet, size=int(rng.integers(0, 6))))
                  for _ in range(int(rng.integers(1, 10)))]
        start = int(rng.integers(0, len(values)))
        array = pa.array(["pad", *values, "pad\x01"], type=pa.large_string()).slice(1 + start, len(values) - start)
        if trial % 7 == 0 and len(array):  # a null whose slot holds bytes (another producer's array)
            full = pa.array(["x\x01y", *values], type=pa.large_string())
            validity = np.packbits(np.array([False, *[v is not None for v in values]]), bitorder="little")
            array = pa.LargeStringArray.from_buffers(len(full), full.buffers()[1], full.buffers()[2],
                                                     pa.py_buffer(validity.tobytes()))
        expected = bool(pc.any(pc.match_substring_regex(array, validate._SUSPECT_RE2)).as_py()) \
            if len(array) else False
        assert validate._suspect_bytes(array) == expected, (array, expected)
        assert validate._suspect_bytes(array.cast(pa.string())) == expected  # 32-bit offsets, read alike
        verdicts.add(expected)
    assert verdicts == {False, True}


def test_a_page_without_problems_flags_nothing_and_rejects_keep_their_reasons() -> None:
    """`flag` with a mask of no row changes nothing (it is skipped): a clean page has no reject, a
    page with problems the same rejects and reasons as before, the clean rows kept in order."""
    clean = canonicalize(page([GOOD, {**GOOD, "id": "s2"}]), FIELDS, bounding_box=BOX)
    assert clean.rejects == [] and list(clean.rows["sale_id"]) == ["s1", "s2"]
    bad = {**GOOD, "id": "s3", "price": "12", "lat": "10.0"}
    mixed = canonicalize(page([GOOD, bad, {**GOOD, "id": "s4"}]), FIELDS, bounding_box=BOX)
    assert [r.reason for r in mixed.rejects] == [
        "sale_price: outside 1000..5e+08; coordinates: outside the county's bounding box"]
    assert list(mixed.rows["sale_id"]) == ["s1", "s4"] and list(mixed.rows.index) == [0, 1]
