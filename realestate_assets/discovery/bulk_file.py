"""`bulk_file` sources: CSV, zipped CSV or XLSX, from a path or URL, read in chunks.

Chunks keep memory flat on million-row assessor files. Every cell is read as text: typing is
`validate.canonicalize`'s job, so one malformed cell rejects one row, not the file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from realestate_assets.config_models import BulkFileSource
from realestate_assets.discovery.records import Page, Reject


def read_bulk_file(source: BulkFileSource) -> Iterator[Page | Reject]:
    location = source.resolved_path()
    # Lines with the wrong number of fields are collected here by pandas' callback and emitted
    # as rejects after each chunk, so a broken line is reported instead of silently skipped.
    bad_lines: list[list[str]] = []

    def keep_bad_line(fields: list[str]) -> None:
        bad_lines.append(fields)
        return None

    try:
        if source.format == "xlsx":
            chunks: Iterator[pd.DataFrame] = iter([pd.read_excel(location, dtype=str)])
        else:
            chunks = pd.read_csv(
                location,
                dtype=str,
                keep_default_na=False,
                sep=source.delimiter,
                encoding=source.encoding,
                encoding_errors="replace",
                compression="zip" if source.format == "csv.zip" else "infer",
                chunksize=source.chunk_rows,
                on_bad_lines=keep_bad_line,
                engine="python",
            )
        first_line = 2  # line 1 is the header
        for chunk in chunks:
            if bad_lines:
                # pandas does not say where in the chunk it skipped a line, so the exact line
                # numbers are unknown: name the span instead of a line that may be off by one.
                span = f"{source.path}:{first_line}-{first_line + len(chunk) + len(bad_lines) - 1}"
                refs = [f"{span} row {i + 1}" for i in range(len(chunk))]
            else:
                refs = [f"{source.path}:{first_line + i}" for i in range(len(chunk))]
            first_line += len(chunk) + len(bad_lines)
            yield Page(source=source.name, frame=chunk.reset_index(drop=True), refs=refs)
            for fields in bad_lines:
                yield Reject(source=source.name, ref=str(location), raw=source.delimiter.join(fields),
                             reason=f"malformed line: {len(fields)} fields where the header has "
                                    f"{len(chunk.columns)}")
            bad_lines.clear()
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        yield Reject(source=source.name, ref=str(location), raw=None,
                     reason=f"could not read {source.format} file: {exc}")
