"""A county slice's version: which transaction last wrote it, kept by the database itself
(migration 0066's statement triggers, `slice_versions`), so a stage can tell that an input (or
its output) was not written since its state was last read without reading it again (issue 17:
the scans were most of an unchanged re-run's own time at 1×, and its part that grows with the
county).

A version key is trusted only as a label of a state read after it: `input_fingerprints` records
(key, state) pairs with the key read first, and reuses a recorded state only when the key read
now is the same. A key covers the slice's own version (writes that named the county, see
`writing_county`), the table's `*` version (writes that named none: any of them makes every
county's slice read again) and the database's identity. No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The tables migration 0066 put the `slice_version` trigger on (tests/test_slice_versions.py checks
# the database agrees). A table not named here has no version: its slice is always read.
VERSIONED_TABLES = frozenset({"assessor_roll", "sales", "listings", "prospects", "prospect_sources",
                              "enrichment", "features", "scores", "ml_models"})
# Unset (or empty): the transaction's writes are the table's `*` writes.
WRITING_COUNTY = "reos.slice_county"


def writing_county(cur: Any, county: str | None) -> None:
    """Say which county's slices this transaction's next statements write (None: no longer one
    county's, the default). Only for statements that write that county's rows alone."""
    cur.execute("SELECT set_config(%s, %s, true)", (WRITING_COUNTY, county or ""))


def version_keys(cur: Any, tables: Iterable[str], county: str) -> dict[str, str | None]:
    """Each of `tables`' version key for `county`'s slice, read in one statement; None for a table
    without a version (not in VERSIONED_TABLES, or no identity row): never trusted."""
    wanted = sorted(set(tables))
    keys: dict[str, str | None] = dict.fromkeys(wanted)
    versioned = [t for t in wanted if t in VERSIONED_TABLES]
    if not versioned:
        return keys
    cur.execute("SELECT table_name, county, version FROM slice_versions "
                "WHERE table_name = '' OR (table_name = ANY(%s) AND county IN (%s, '*'))", (versioned, county))
    found = {(table, where): version for table, where, version in cur.fetchall()}
    identity = found.get(("", ""))
    if identity is None:
        return keys
    for table in versioned:
        keys[table] = f"{identity}:{found.get((table, county), 0)}:{found.get((table, '*'), 0)}"
    return keys
