"""Synthetic partitions at scale for the warehouse I/O test and bench (no property facts: test rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def prospect_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` prospects rows with every kind of column a partition write meets: text (with quotes,
    commas, newlines and empty strings), floats with NaN, integers with NULLs, dates, jsonb."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    keys = np.char.add("p", idx.astype(str))
    year = rng.integers(1900, 2020, n).astype(float)
    year[idx % 11 == 0] = np.nan
    list_date = pd.to_datetime("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    dates = pd.Series(list_date.date, dtype=object)
    dates[idx % 3 != 0] = None
    description = pd.Series(np.where(idx % 5 == 0, 'Bright, "updated"\nkitchen', ""), dtype=object)
    description[idx % 7 == 0] = None
    return pd.DataFrame({
        "prospect_key": keys, "parcel_id": keys,
        "address": np.char.add(np.char.add((100 + idx % 9000).astype(str), " NE "), (idx % 90).astype(str)),
        "city": "SEATTLE", "state": "WA", "zip": "98115",
        "latitude": 47.5 + rng.random(n) * 0.3, "longitude": -122.4 + rng.random(n) * 0.3,
        "use_type": np.where(idx % 4 == 0, "condo", "single_family"),
        "beds": np.where(idx % 13 == 0, np.nan, rng.integers(1, 6, n).astype(float)),
        "living_sqft": rng.integers(500, 5000, n).astype(float),
        "year_built": year, "list_date": dates, "description": description,
        "sources": [["king_sales", f"s{i}"] for i in idx],
    })


def changed_rows(frame: pd.DataFrame, every: int = 10) -> pd.DataFrame:
    """The same partition a day later: every `every`-th row moved a little, every (2×every)-th gone."""
    out = frame.copy()
    moved = np.arange(len(out)) % every == 1
    out.loc[moved, "latitude"] = out.loc[moved, "latitude"] + 0.001
    return out[np.arange(len(out)) % (2 * every) != 3].reset_index(drop=True)
