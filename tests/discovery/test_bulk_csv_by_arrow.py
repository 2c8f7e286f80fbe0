"""A UTF-8 bulk file's plain pages read by Arrow's CSV reader, the others by the `csv` module
(issue 17): the same pages, refs and rejects as the `csv` module gives for the whole file."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pandas as pd
import pytest

from realestate_assets.config_models import BulkFileSource
from realestate_assets.discovery import bulk_file
from realestate_assets.discovery.arrow_text import arrow_text
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.sources import iter_source
from realestate_assets.discovery.validate import canonicalize
from tests.spies import Spy

# Cells that make a page the `csv` module's: quotes, line breaks in quotes, lone carriage returns,
# NUL, bytes that are not UTF-8 (alone or a cut sequence), a BOM, a tab, empty text.
PIECES = [b"a", b"b1", b"", b" ", b"\xc3\xa9", b"\xe2\x82\xac", b"\xff", b"\xe2\x82", b"\x00", b"\t", b"x y",
          b'"q"', b'"a,b"', b'"li\nne"', b'"cr\r\nlf"', b'"un', b'd"d', b'""', b"\r", b"\xef\xbb\xbf", b"1.5"]


def hostile_file(rng: random.Random, columns: int, lines: int, plain_share: float) -> bytes:
    header = b",".join(b"c%d" % i for i in range(columns))
    if rng.random() < 0.2:
        header = b"\xef\xbb\xbf" + header
    eol = rng.choice([b"\n", b"\r\n"])
    out = [header + eol]
    for _ in range(lines):
        r = rng.random()
        if r < plain_share:
            out.append(b",".join(b"v%d" % rng.randrange(1000) for _ in range(columns)) + eol)
        elif r < plain_share + 0.03:  # a blank line, or one of spaces
            out.append(rng.choice([b"", b"\r", b" "]) + rng.choice([b"\n", b"\r\n", b"\r"]))
        else:  # hostile cells, sometimes too few or too many
            n = max(1, columns + rng.choice([0, 0, 0, 0, -1, 1, 1 - columns]))
            cells = [b"".join(rng.choice(PIECES) for _ in range(rng.randrange(3))) for _ in range(n)]
            out.append(b",".join(cells) + rng.choice([eol, eol, eol, b"\r", b"\n"]))
    data = b"".join(out)
    return data.rstrip(b"\r\n") if rng.random() < 0.3 else data


def items(results) -> list[tuple]:
    """Pages as their columns, values (with each value's type), refs; rejects as they are."""
    out = []
    for item in results:
        if isinstance(item, Reject):
            out.append(("reject", item.source, item.ref, item.raw, item.reason))
        else:
            values = item.frame.astype(object).to_numpy().tolist()
            assert all(type(v) is str for row in values for v in row)
            out.append(("page", list(item.frame.columns), values, item.refs))
    return out


def by_csv_module(path: Path, source: BulkFileSource) -> list[tuple]:
    """The whole file by the `csv` module, decoded as a text file opened with `newline=""` (the
    reader every page used before Arrow's)."""
    with io.TextIOWrapper(open(path, "rb"), encoding="utf-8", errors="replace", newline="") as text:
        return items(bulk_file._read_csv(text, source))


def test_pages_by_arrow_and_by_the_csv_module_are_the_csv_modules_pages(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch):
    counted = Spy(bulk_file._plain_page)
    monkeypatch.setattr(bulk_file, "_plain_page", counted)
    for seed in range(150):
        rng = random.Random(seed)
        path = tmp_path / f"{seed}.csv"
        path.write_bytes(hostile_file(rng, rng.choice([1, 2, 5]), rng.randrange(50, 600),
                                      rng.choice([0.5, 0.9, 0.97, 1.0])))
        source = BulkFileSource(type="bulk_file", name="bulk", path=str(path), chunk_rows=rng.choice([100, 130]),
                                fields={"parcel_id": "c0"})
        assert items(iter_source(source)) == by_csv_module(path, source), seed
    assert counted.answered > 50  # both readers were used


def test_a_plain_file_is_read_by_arrow_and_a_broken_page_by_the_csv_module(tmp_path: Path):
    header = "pinx,sale_id,sale_price,sale_date,address,longitude,latitude"
    lines = [header] + [f"P{i},S{i},{300000 + i},2015-01-01,{i} Main St,-122.3,47.6" for i in range(1, 251)]
    lines[150] = "P150,S150,300000"  # too few fields, in the second page
    lines[160] = 'P160,S160,300000,2015-01-01,"160 Main St\r\nUnit 2",-122.3,47.6'  # a line break in quotes
    lines[199] = "P199,S199,not a price,2015-01-01,199 Main St,-122.3,47.6"
    lines[200] = 'P200,S200,300000,2015-01-01,"200 Main St,\nrest",-122.3,47.6'  # crosses the third page
    path = tmp_path / "sales.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    source = BulkFileSource(type="bulk_file", name="bulk", path=str(path), chunk_rows=100,
                            fields={"parcel_id": "pinx", "sale_id": "sale_id", "sale_price": "sale_price",
                                    "sale_date": "sale_date", "address": "address",
                                    "longitude": "longitude", "latitude": "latitude"})
    results = list(iter_source(source))
    assert items(results) == by_csv_module(path, source)
    pages = [r for r in results if isinstance(r, Page)]
    assert [len(p.frame) for p in pages] == [100, 100, 49]
    assert all(isinstance(dtype, pd.ArrowDtype) for p in pages for dtype in p.frame.dtypes)
    assert pages[0].refs[:2] == [f"{path}:2", f"{path}:3"]  # line 1: the header
    # The malformed line is a reject naming its line; the quoted line breaks move the refs on.
    (malformed,) = [r for r in results if isinstance(r, Reject)]
    assert (malformed.ref, malformed.reason) == (f"{path}:151", "malformed line: 3 fields where the header has 7")
    refs = dict(zip(pd.concat([p.frame for p in pages])["sale_id"], [r for p in pages for r in p.refs],
                    strict=True))
    assert (refs["S160"], refs["S161"], refs["S200"], refs["S201"]) == \
        (f"{path}:161", f"{path}:163", f"{path}:202", f"{path}:204")
    # Validation reads the Arrow columns: a bad value is still a reject with its reason.
    result = canonicalize(pages[1], source.field_map())
    (bad,) = result.rejects
    assert (bad.ref, bad.reason) == (f"{path}:201", "sale_price: not a number")  # after the line break
    assert bad.raw["sale_price"] == "not a price" and type(bad.raw["sale_id"]) is str
    assert result.rows.loc[result.rows["sale_id"] == "S160", "address"].item() == "160 Main St Unit 2"


def test_an_arrow_column_is_validated_as_the_same_text_in_objects():
    text = pd.Series(["a", "", " b ", "\u00e9"], dtype=object)
    assert arrow_text(text.astype(pd.ArrowDtype(bulk_file.pa.large_string()))).equals(arrow_text(text))


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_a_file_without_a_header_line_is_one_reject_in_either_reader(tmp_path: Path, encoding: str):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    source = BulkFileSource(type="bulk_file", name="bulk", path=str(path), encoding=encoding,
                            fields={"parcel_id": "pinx", "sale_id": "sale_id"})
    (reject,) = list(iter_source(source))
    assert isinstance(reject, Reject)
    assert (reject.ref, reject.reason) == (str(path), "could not read csv file: no header line")
