"""The two things a source adapter yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Page:
    """Rows as the source spelled them; `refs[i]` says where row i came from (line, URL, offset)."""

    source: str
    frame: pd.DataFrame
    refs: list[str]


@dataclass(frozen=True)
class Reject:
    """Something that could not become a row: kept with its raw payload and the reason."""

    source: str
    ref: str
    raw: Any
    reason: str
