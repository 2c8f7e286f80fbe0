"""`bulk_file` sources: CSV, zipped CSV or XLSX, from a path or URL, read in chunks.

Chunks keep memory flat on million-row assessor files. Every cell is read as text: typing is
`validate.canonicalize`'s job, so one malformed cell rejects one row, not the file.

CSV is read record by record with the standard `csv` module's rules, so every row's `source_ref`
is the physical line it starts on (a quoted line break moves the following numbers on), and a
line with too few or too many fields is a reject that names its own line. Bytes that are not
valid in the configured encoding are replaced (U+FFFD); `canonicalize` counts the values that
hold one.

A UTF-8 file is read a page of lines at a time, and a page whose bytes hold nothing the two
readers could read differently — no quote, no carriage return, no NUL, no blank line, only valid
UTF-8, the header's number of fields on every line — is parsed by Arrow's CSV reader into Arrow
text columns (issue 17: the `csv` module and the per-row loop were ≈6 CPU s of the `sales` step
at a million rows, and `canonicalize` turned every column's Python strings back into Arrow). Such
a page's lines are its rows, one each, numbered in order. Any other page is read by the `csv`
module as before, from its first line (a quoted field may run past the page's last line). The
pages (`Page.frame`, text columns backed by Arrow either way) and the rejects are the same.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from pandas.io.common import get_handle  # what pd.read_csv opens paths, URLs and archives with

from realestate_assets.config_models import BulkFileSource
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.validate import cap_raw

# The csv module refuses fields over 128 KiB by default, which would lose the rest of a file to
# one oversized cell. Allow far more: the row is then read and rejected by `canonicalize`'s text
# limits with its line number. A cell over this is a reject of its own line.
MAX_FIELD_CHARS = 64 * 1024 * 1024
READ_BYTES = 1 << 23  # the file is read this much at a time (more when a page's lines are longer)
# Bytes after which the `csv` module and Arrow's reader may part: a quote (quoted fields, doubled
# quotes) and a NUL. A carriage return is plain only in "\r\n" (both end the line there; a lone
# one ends a line for Python, which numbers it).
_NOT_PLAIN = (b'"', b"\x00")


def read_bulk_file(source: BulkFileSource) -> Iterator[Page | Reject]:
    location = source.resolved_path()
    try:
        if source.format == "xlsx":
            frame = pd.read_excel(location, dtype=str)
            yield Page(source=source.name, frame=frame,
                       refs=[f"{source.path}:{i + 2}" for i in range(len(frame))])  # line 1: header
            return
        if csv.field_size_limit() < MAX_FIELD_CHARS:
            csv.field_size_limit(MAX_FIELD_CHARS)
        compression = "zip" if source.format == "csv.zip" else "infer"
        if codecs.lookup(source.encoding).name == "utf-8":
            with get_handle(location, "rb", is_text=False, compression=compression) as handles:
                yield from _read_utf8_csv(handles.handle, source)
        else:
            with get_handle(location, "r", encoding=source.encoding, errors="replace", is_text=True,
                            compression=compression) as handles:
                yield from _read_csv(handles.handle, source)
    except (OSError, ValueError, csv.Error) as exc:
        yield Reject(source=source.name, ref=str(location), raw=None,
                     reason=f"could not read {source.format} file: {exc}")


def _first_line(reader: Any, source: BulkFileSource) -> _Pages | Reject:
    """The pages to fill under the file's header line, or the reject of a file without one."""
    header = _unique_names(next(reader, []))
    if not header:
        return Reject(source.name, source.path, None, f"could not read {source.format} file: no header line")
    return _Pages(source, header)


def _read_csv(handle: IO[str], source: BulkFileSource) -> Iterator[Page | Reject]:
    """A file in any encoding, decoded as it is read (`handle`: text, universal newlines kept),
    every line by the `csv` module."""
    reader = csv.reader(handle, delimiter=source.delimiter)
    pages = _first_line(reader, source)
    if isinstance(pages, Reject):
        yield pages
        return
    yield from _records(reader, pages, 0)
    yield from pages.rest()


def _read_utf8_csv(handle: IO[bytes], source: BulkFileSource) -> Iterator[Page | Reject]:
    """A UTF-8 file, a page of lines at a time: by Arrow when the page is plain, else by the `csv`
    module (module docstring)."""
    lines = _Lines(handle)
    reader = csv.reader(lines, delimiter=source.delimiter)
    pages = _first_line(reader, source)
    if isinstance(pages, Reject):
        yield pages
        return
    options = _arrow_options(source, len(pages.header))
    line = reader.line_num  # physical lines read so far
    while True:
        block = lines.peek(source.chunk_rows - pages.held)
        if not block:
            break
        table = _plain_page(block, options) if options is not None and lines.at_line_start() else None
        if table is not None:
            lines.skip(len(block))
            yield from pages.add_table(table, line + 1)
            line += table.num_rows
            continue
        # The `csv` module from the block's first line; a record that starts in the block is read
        # to its end, past the block if a quoted field runs on.
        end = lines.offset + len(block)
        reader = csv.reader(lines, delimiter=source.delimiter)  # a record boundary: a fresh state
        yield from _records(reader, pages, line, lines, end)
        line += reader.line_num
    yield from pages.rest()


def _records(reader: Any, pages: _Pages, before: int, lines: _Lines | None = None,
             end: int = 0) -> Iterator[Page | Reject]:
    """The `csv` module's records, each a row of `pages` or a reject naming its line (`before`:
    the file's lines before the reader's first); with `lines`, those that start before its byte
    `end` (the last one read to its end)."""
    source = pages.source
    header = len(pages.header)
    start = before + reader.line_num + 1
    while lines is None or lines.offset < end or not lines.at_line_start():
        ref = f"{source.path}:{start}"
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a cell over MAX_FIELD_CHARS: that line only
            yield Reject(source.name, ref, None, f"unreadable line: {exc}")
            start = before + reader.line_num + 1
            continue
        start = before + reader.line_num + 1
        if not fields or fields == [""]:
            continue  # a blank line, as pandas skips them
        if len(fields) != header:
            yield Reject(source.name, ref, cap_raw(source.delimiter.join(fields)),
                         f"malformed line: {len(fields)} fields where the header has {header}")
            continue
        page = pages.add_row(fields, ref)
        if page is not None:
            yield page


class _Pages:
    """Rows gathered into pages of `chunk_rows` rows, a page handed out as soon as it is full.
    Every page's columns are Arrow text (`canonicalize` reads them as they are)."""

    def __init__(self, source: BulkFileSource, header: list[str]) -> None:
        self.source, self.header = source, header
        self.tables: list[pa.Table] = []
        self.rows: list[list[str]] = []
        self.refs: list[str] = []

    @property
    def held(self) -> int:
        return len(self.refs)

    def add_row(self, fields: list[str], ref: str) -> Page | None:
        self.rows.append(fields)
        self.refs.append(ref)
        return self._page() if self.held >= self.source.chunk_rows else None

    def add_table(self, table: pa.Table, first_line: int) -> Iterator[Page]:
        """A plain page's rows, one a line from `first_line` on."""
        self._tabulate()
        self.tables.append(table)
        # The path's text once a page, not formatted again for each of its rows (half the cost)
        prefix = f"{self.source.path}:"
        self.refs.extend([prefix + str(n) for n in range(first_line, first_line + table.num_rows)])
        if self.held >= self.source.chunk_rows:
            yield self._page()

    def rest(self) -> Iterator[Page]:
        if self.held:
            yield self._page()

    def _tabulate(self) -> None:
        if self.rows:
            columns = zip(*self.rows, strict=True)
            self.tables.append(pa.table([pa.array(c, pa.large_string()) for c in columns],
                                        names=_names(len(self.header))))
            self.rows = []

    def _page(self) -> Page:
        self._tabulate()
        table = pa.concat_tables(self.tables) if len(self.tables) > 1 else self.tables[0]
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        frame.columns = self.header
        page = Page(self.source.name, frame, self.refs)
        self.tables, self.refs = [], []
        return page


def _names(count: int) -> list[str]:
    return [str(i) for i in range(count)]


def _arrow_options(source: BulkFileSource, fields: int) -> tuple[pa_csv.ReadOptions, pa_csv.ParseOptions,
                                                                  pa_csv.ConvertOptions] | None:
    """Arrow's reader set to read a plain page as the `csv` module does (every field text, empty
    text kept, no quoting), or None when the delimiter is not one byte Arrow can split on."""
    delimiter = source.delimiter.encode()
    if len(delimiter) != 1 or delimiter in (*_NOT_PLAIN, b"\r", b"\n"):
        return None
    names = _names(fields)
    return (pa_csv.ReadOptions(column_names=names, block_size=READ_BYTES),
            pa_csv.ParseOptions(delimiter=source.delimiter, quote_char=False, escape_char=False,
                                newlines_in_values=False, ignore_empty_lines=False),
            pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.large_string()),
                                  strings_can_be_null=False, check_utf8=True))


def _plain_page(block: bytes, options: tuple[pa_csv.ReadOptions, pa_csv.ParseOptions,
                                             pa_csv.ConvertOptions]) -> pa.Table | None:
    """A page of whole lines by Arrow, one row a line, or None when the `csv` module must read it:
    a byte of `_NOT_PLAIN`, a lone carriage return, a blank line, a line of another field count,
    bytes that are not UTF-8, or a page longer than the `csv` module's longest field (which it
    would refuse)."""
    if len(block) >= MAX_FIELD_CHARS or block.startswith((b"\n", b"\r\n")) \
            or any(needle in block for needle in _NOT_PLAIN) \
            or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n")):
        return None
    # A blank line (pandas and the `csv` module skip it, Arrow would not number it alike): "\n\n",
    # or "\n\r\n" (every "\r" is in a "\r\n" here), found by the newlines'
    # positions: bytes' two-byte searches were ≈0.2 CPU s a million lines (issue 17).
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    gaps = np.diff(ends)
    if (gaps == 1).any() or ((gaps == 2) & (data[ends[:-1] + 1] == ord("\r"))).any():
        return None
    try:
        table = pa_csv.read_csv(pa.BufferReader(block), *options)
    except pa.ArrowInvalid:  # a line with another number of fields, invalid UTF-8
        return None
    lines = len(ends) + (not block.endswith(b"\n"))
    return table if table.num_rows == lines else None


class _Lines:
    """A binary file's lines: whole pages of them as bytes (`peek`, `skip`), or one text line at a
    time for the `csv` module (iteration: decoded as UTF-8, bad bytes replaced, each line ending
    at "\n", "\r\n" or a lone "\r" as a text file opened with `newline=""` ends them)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.buffer = b""
        self.at = 0  # the buffer's first byte not yet taken
        self.offset = 0  # bytes of the file taken so far
        self.eof = False
        self.texts: list[str] = []  # text lines split from the last bytes line, not yet taken

    def at_line_start(self) -> bool:
        """Whether every text line handed out ended a bytes line (none of it is still held)."""
        return not self.texts

    def peek(self, count: int) -> bytes:
        """The next `count` lines (at most; fewer at the end of the file), not taken."""
        while not self.eof and self.buffer.count(b"\n", self.at) < count:
            self._read()
        view = np.frombuffer(self.buffer, dtype=np.uint8)[self.at:]
        ends = np.flatnonzero(view == ord("\n"))
        end = int(ends[count - 1]) + 1 if len(ends) >= count else len(view)
        return self.buffer[self.at:self.at + end]

    def skip(self, size: int) -> None:
        self.at += size
        self.offset += size

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.texts:
            return self.texts.pop()
        end = self.buffer.find(b"\n", self.at)
        while end < 0 and not self.eof:
            self._read()
            end = self.buffer.find(b"\n", self.at)
        end = end + 1 if end >= 0 else len(self.buffer)
        if end == self.at:
            raise StopIteration
        text = self.buffer[self.at:end].decode("utf-8", errors="replace")
        self.skip(end - self.at)
        if "\r" in text.removesuffix("\n").removesuffix("\r"):  # a lone carriage return ends a line too
            self.texts = list(io.StringIO(text, newline=""))[::-1]
            return self.texts.pop()
        return text

    def _read(self) -> None:
        more = self.handle.read(max(READ_BYTES, len(self.buffer) - self.at))
        if not more:
            self.eof = True
            return
        self.buffer = self.buffer[self.at:] + more
        self.at = 0


def _unique_names(header: list[str]) -> list[str]:
    """Header names as pandas gives them: BOM dropped, a repeated name suffixed `.1`, `.2`, …"""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        name = name.lstrip("\ufeff") if i == 0 else name
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names
