"""Text columns through Arrow's kernels and back (issue 17: pandas' string methods make a Python
call per value, seconds at a million parcels). One rule for which columns may go: those Arrow can
hold as text; anything else — numbers from a JSON API, text with a lone surrogate (which a hostile
file can carry and UTF-8 cannot encode) — is None, and the caller takes its pandas path."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from realestate_assets.db.copy_io import TEXT_DTYPE


def is_arrow_text(values: pd.Series) -> bool:
    """Whether Arrow holds the column's text (a CSV page, `read_frame`'s `text_as_arrow`): what
    Arrow's kernels and the writer take as it is, without a Python string per value."""
    return values.dtype == TEXT_DTYPE


def arrow_text(values: pd.Series) -> pa.Array | None:
    """The column as an Arrow text array (missing values null), or None when Arrow cannot hold it.
    A column held by Arrow already (a CSV page, `bulk_file`) is taken as it is: no Python string
    per value made and turned back into Arrow (issue 17)."""
    if is_arrow_text(values):
        return values.array.__arrow_array__().combine_chunks()
    try:
        return pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError):
        return None


def string_series(text: pa.Array, index: pd.Index, name: object = None) -> pd.Series:
    """An Arrow text array as a pandas "string" column on `index`."""
    return pd.Series(pd.array(text.to_numpy(zero_copy_only=False), dtype="string"), index=index, name=name)
