"""What a stage's output is a function of, as one digest, and the state of the slice it wrote.
No Dagster imports (the asset side is assets/unchanged.py).

A stage's inputs are the rows it reads plus the settings and code it applies to them, digested
where the rows are, without sending them, in one of two ways:

* a whole slice of a table the stage reads all of (`tables`): its row count and the sum of the
  rows' `xmin` — every insert or update writes a new row version with a new transaction id,
  every delete changes the count and the sum, and an upsert that changes nothing (sync_partition
  touches only changed rows) leaves both alone. A scan of two system columns: cheap at 1M rows.
* the rows of a query (`queries`), for a table whose other columns change under the stage's
  feet (a prospect's lifecycle `status`, advanced by later stages, must not make `prospects`
  look changed to `enrichment`): the row count and the sum of a 64-bit hash of each row over
  exactly the columns read (any changed, added or removed row changes it, barring a 2⁻⁶⁴
  collision). The row is hashed by its columns' own hash functions (`hash_record_extended`,
  PostgreSQL 14+), not through its text: 111 against 261 ms for a million five-column rows
  (issue 17, thirty-fourth round: the part of an unchanged re-run that grows with the county).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from psycopg2 import sql

from realestate_assets.db.tenancy import partition_slice
from realestate_assets.db.warehouse import SyncStats, Warehouse


def inputs_digest(wh: Warehouse, params: Mapping[str, Any], *, tables: Sequence[str] = (),
                  queries: Sequence[str] = (), settings: Mapping[str, Any] | None = None) -> str:
    """sha256 over the partition's slice of each of `tables`, each query's (row count, sum of row
    hashes), the `settings` (JSON-able: the config and model versions the stage applies) and the
    pipeline's code version."""
    with wh.transaction() as conn, conn.cursor() as cur:  # one connection for every part
        parts: dict[str, Any] = dict(zip(tables, _slice_states(cur, tables, params), strict=True))
        for query in queries:
            cur.execute(f"SELECT count(*), coalesce(sum(hash_record_extended(_q, 0)), 0)::text "
                        f"FROM ({wh.bind(conn, query, dict(params))}) AS _q")
            parts[query] = list(cur.fetchone())
    payload = {"inputs": parts, "settings": settings or {}, "code": code_version()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def slice_state(wh: Warehouse, table: str, params: Mapping[str, Any]) -> str:
    """The county's slice of `table` (the tenant's too, when `params` names one) as it stands: row
    count and the sum of its rows' `xmin` (see the module). For an output it is recorded after the
    write; a skip needs it unchanged, so an output rewritten or emptied by anything else since is
    recomputed."""
    return slice_states(wh, [table], params)[0]


def slice_states(wh: Warehouse, tables: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """`slice_state` of each of `tables`, in one statement (one round trip, one transaction)."""
    with wh.transaction() as conn, conn.cursor() as cur:
        return _slice_states(cur, tables, params)


def loaded_slice_state(stats: SyncStats) -> str | None:
    """`slice_state` of a slice right after `stats`' write, when it was a first load
    (`SyncStats.loaded_xmin`): its `staged` rows all carry that `xmin`, so count and sum are
    known without the scan. None for any other write (an upsert keeps some rows' `xmin`): scan."""
    if stats.loaded_xmin is None:
        return None
    return f"{stats.staged}@{stats.staged * stats.loaded_xmin}"


def slice_rows_of(state: str) -> int:
    """The row count a `slice_state` holds: a slice counted once serves the metadata too."""
    return int(state.split("@", 1)[0])


def _slice_states(cur: Any, tables: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """Each table's "count@sum of xmin" as one column of one row: the server scans the slices one
    after the other with no round trip between them."""
    if not tables:
        return []
    one = sql.SQL("(SELECT count(*)::text || '@' || coalesce(sum(xmin::text::bigint), 0)::text FROM {} WHERE "
                  + partition_slice(params) + ")")
    cur.execute(sql.SQL("SELECT ") + sql.SQL(", ").join(one.format(sql.Identifier(t)) for t in tables),
                dict(params))
    return list(cur.fetchone())


@cache
def code_version() -> str:
    """sha256 of the package's Python source: any code change re-computes every stage once
    (conservative: a stage is never skipped across a change to the code that computes it)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
