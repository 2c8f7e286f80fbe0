"""`bulk_file` sources: CSV, zipped CSV or XLSX, from a path or URL, read in chunks.

Chunks keep memory flat on million-row assessor files. Every cell is read as text: typing is
`validate.canonicalize`'s job, so one malformed cell rejects one row, not the file.

CSV is read record by record with the standard `csv` module, so every row's `source_ref` is the
physical line it starts on (a quoted line break moves the following numbers on), and a line
with too few or too many fields is a reject that names its own line. Bytes that are not valid in
the configured encoding are replaced (U+FFFD); `canonicalize` counts the values that hold one.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pandas as pd
from pandas.io.common import get_handle  # what pd.read_csv opens paths, URLs and archives with

from realestate_assets.config_models import BulkFileSource
from realestate_assets.discovery.records import Page, Reject
from realestate_assets.discovery.validate import cap_raw

# The csv module refuses fields over 128 KiB by default, which would lose the rest of a file to
# one oversized cell. Allow far more: the row is then read and rejected by `canonicalize`'s text
# limits with its line number. A cell over this is a reject of its own line.
MAX_FIELD_CHARS = 64 * 1024 * 1024


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
        with get_handle(location, "r", encoding=source.encoding, errors="replace", is_text=True,
                        compression="zip" if source.format == "csv.zip" else "infer") as handles:
            yield from _read_csv(handles.handle, source)
    except (OSError, ValueError, csv.Error) as exc:
        yield Reject(source=source.name, ref=str(location), raw=None,
                     reason=f"could not read {source.format} file: {exc}")


def _read_csv(handle, source: BulkFileSource) -> Iterator[Page | Reject]:
    reader = csv.reader(handle, delimiter=source.delimiter)
    header = _unique_names(next(reader, []))
    if not header:
        yield Reject(source.name, source.path, None, f"could not read {source.format} file: no header line")
        return
    rows: list[list[str]] = []
    refs: list[str] = []
    start = reader.line_num + 1
    while True:
        ref = f"{source.path}:{start}"
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a cell over MAX_FIELD_CHARS: that line only
            yield Reject(source.name, ref, None, f"unreadable line: {exc}")
            start = reader.line_num + 1
            continue
        start = reader.line_num + 1
        if not fields or fields == [""]:
            continue  # a blank line, as pandas skips them
        if len(fields) != len(header):
            yield Reject(source.name, ref, cap_raw(source.delimiter.join(fields)),
                         f"malformed line: {len(fields)} fields where the header has {len(header)}")
            continue
        rows.append(fields)
        refs.append(ref)
        if len(rows) >= source.chunk_rows:
            yield Page(source.name, pd.DataFrame(rows, columns=header, dtype=object), refs)
            rows, refs = [], []
    if rows:
        yield Page(source.name, pd.DataFrame(rows, columns=header, dtype=object), refs)


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
