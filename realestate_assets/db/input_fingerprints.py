"""What a stage's output is a function of, as one digest, and the state of the slice it wrote.
No Dagster imports (the asset side is assets/unchanged.py).

A stage's inputs are the rows its read queries return plus the settings and code it applies to
them. The digest of a query is computed where the rows are, in one pass and without sending
them: the row count and the sum of a 64-bit hash of each row's text (order does not matter;
any changed, added or removed row changes it, barring a 2⁻⁶⁴ collision). It hashes exactly the
columns the stage reads, so a column the stage ignores (a prospect's lifecycle `status`, which
later stages advance) does not make an upstream partition look changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from psycopg2 import sql

from realestate_assets.db.warehouse import Warehouse


def inputs_digest(wh: Warehouse, queries: Sequence[str], params: Mapping[str, Any],
                  settings: Mapping[str, Any]) -> str:
    """sha256 over each query's (row count, sum of row hashes), the `settings` (JSON-able; the
    config and model versions the stage applies) and the pipeline's code version."""
    parts: list[Any] = []
    with wh.transaction() as conn, conn.cursor() as cur:
        for query in queries:
            cur.execute(f"SELECT count(*), coalesce(sum(hashtextextended(_q::text, 0)), 0)::text "
                        f"FROM ({wh.bind(conn, query, dict(params))}) AS _q")
            parts.append(list(cur.fetchone()))
    payload = {"inputs": parts, "settings": settings, "code": code_version()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def slice_state(wh: Warehouse, table: str, params: Mapping[str, Any]) -> str:
    """The output slice as it stands: row count and last change (`updated_at` is kept by a trigger
    and set on insert). Recorded after a write; a skip needs it unchanged, so an output rewritten
    or emptied by anything else since is recomputed rather than trusted."""
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*), max(updated_at) FROM {} WHERE tenant_id = %(tenant)s "
                            "AND county = %(county)s").format(sql.Identifier(table)), dict(params))
        count, last = cur.fetchone()
    return f"{count}@{last.isoformat() if last is not None else '-'}"


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
