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

A part is read only when it may have changed: each is recorded with its slices' version keys
(db/slice_versions.py), read before it, and a part whose keys are what they were is its recorded
state, unread (issue 17, thirty-fifth round: the scans were most of our part of a skipped step
at 1×). The outputs' slices are read (or not) the same way, in the same transaction. A record is
trusted whichever stage made it: a stage that computes looks for what it has no current record of
in the record of the stage upstream of it (which wrote, or read, those slices under the same keys),
so a slice written once is scanned once, not again by every stage that reads it (stop 51: at a
million parcels `features`' scans of `enrichment` and `sales` were 0.38 s, `scores`' of `features`
and `sales` 0.33 s, each with the step's client idle).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from psycopg2 import sql

from realestate_assets.db.slice_versions import version_keys
from realestate_assets.db.tenancy import partition_slice
from realestate_assets.db.warehouse import SyncStats, Warehouse

# A part's (version key, state) as recorded after it was read: a key of None is never trusted.
Recorded = Mapping[str, Sequence[str | None]]


@dataclass(frozen=True)
class Fingerprint:
    """A stage's inputs as one digest, with each part as read (or known) now, and its outputs' slices."""

    digest: str
    inputs: dict[str, list[str | None]]  # each input part's [version key, state]
    outputs: dict[str, list[str | None]]  # each output table's [version key, state], in order

    @property
    def output_state(self) -> str:
        """The outputs' states, `;`-joined (see `written_state`)."""
        return written_state(self.outputs)


def inputs_digest(wh: Warehouse, params: Mapping[str, Any], *, tables: Sequence[str] = (),
                  queries: Mapping[str, Sequence[str]] | None = None, settings: Mapping[str, Any] | None = None,
                  outputs: Sequence[str] = (), known: Recorded | None = None,
                  upstream: Callable[[], Recorded] | None = None) -> Fingerprint:
    """sha256 over the partition's slice of each of `tables`, each query's (row count, sum of row
    hashes), the `settings` (JSON-able: the config and model versions the stage applies) and the
    pipeline's code version. `queries` maps each query to the tables it reads (their versions
    stand for its rows). `outputs`: the tables the stage writes, whose slices are read alongside.
    `known`: the parts as the last computing run recorded them; one whose version keys have not
    moved is not read again. `upstream`: the parts as another stage recorded them (the stage that
    wrote a slice this one reads), asked for only when `known` leaves a part to read; the same rule."""
    queries = queries or {}
    parts = [*((t, None, (t,)) for t in tables), *((query_part(q), q, tuple(r)) for q, r in queries.items())]
    with wh.transaction() as conn, conn.cursor() as cur:  # one connection for every part
        found = _read_parts(wh, conn, cur, params, [*parts, *((t, None, (t,)) for t in outputs)], known or {},
                            upstream)
    inputs = {name: found[name] for name, _, _ in parts}
    payload = {"inputs": {name: state for name, (_, state) in inputs.items()}, "settings": settings or {},
               "code": code_version()}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return Fingerprint(digest, inputs, {t: found[t] for t in outputs})


def read_slices(wh: Warehouse, tables: Sequence[str], params: Mapping[str, Any]) -> dict[str, list[str | None]]:
    """Each of `tables`' slice as [version key, state], read now (the keys first)."""
    with wh.transaction() as conn, conn.cursor() as cur:
        found = _read_parts(wh, conn, cur, params, [(t, None, (t,)) for t in tables], {})
    return {t: found[t] for t in tables}


def written_state(slices: Mapping[str, Sequence[str | None]]) -> str:
    """The states of an output table and its companions (in that order), `;`-joined: what a skip
    compares (the count `slice_rows_of` reads is the first's)."""
    return ";".join(str(state) for _, state in slices.values())


def query_part(query: str) -> str:
    """A query's part name in the records (its text, shortened)."""
    return "rows " + hashlib.sha256(query.encode()).hexdigest()[:12]


def _read_parts(wh: Warehouse, conn: Any, cur: Any, params: Mapping[str, Any],
                parts: Sequence[tuple[str, str | None, Sequence[str]]], known: Recorded,
                upstream: Callable[[], Recorded] | None = None) -> dict[str, list[str | None]]:
    """Each part's [version key, state]: the keys of every table the parts read first, in one
    statement, then only the parts whose keys moved since `known` (or `upstream`, asked only then)
    recorded them, each later statement seeing at least what the keys said: a recorded state is
    never older than its key, whichever stage recorded it. Slices of a tenant (`params` naming
    one) have no version: always read."""
    public = set(params) == {"county"}
    keys = version_keys(cur, {t for _, _, reads in parts for t in reads}, params["county"]) if public else {}
    found: dict[str, list[str | None]] = {}
    pending = [(name, query, None if any(keys.get(t) is None for t in reads) else "+".join(str(keys[t]) for t in reads))
               for name, query, reads in parts]
    for records in (lambda: known, upstream):  # the stage's own record first, the upstream's for what is left
        if records is None or all(key is None for _, _, key in pending):
            continue
        recorded, left = records(), []
        for name, query, key in pending:
            before = recorded.get(name)
            if key is not None and before is not None and len(before) == 2 and before[0] == key:
                found[name] = [key, before[1]]
            else:
                left.append((name, query, key))
        pending = left
    slices = [(name, key) for name, query, key in pending if query is None]
    rows = [(name, query, key) for name, query, key in pending if query is not None]
    for (name, key), state in zip(slices, _slice_states(cur, [n for n, _ in slices], params), strict=True):
        found[name] = [key, state]
    for name, query, key in rows:
        cur.execute(f"SELECT count(*)::text || '#' || coalesce(sum(hash_record_extended(_q, 0)), 0)::text "
                    f"FROM ({wh.bind(conn, query, dict(params))}) AS _q")
        found[name] = [key, cur.fetchone()[0]]
    return found


def loaded_slice_state(stats: SyncStats) -> str | None:
    """The state of a slice (see `_slice_states`) right after `stats`' write, when it was a first load
    (`SyncStats.loaded_xmin`): its `staged` rows all carry that `xmin`, so count and sum are
    known without the scan. None for any other write (an upsert keeps some rows' `xmin`): scan."""
    if stats.loaded_xmin is None:
        return None
    return f"{stats.staged}@{stats.staged * stats.loaded_xmin}"


def slice_rows_of(state: str) -> int:
    """The row count a slice's state holds: a slice counted once serves the metadata too."""
    return int(state.split("@", 1)[0])


def _slice_states(cur: Any, tables: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """Each table's slice state, "count@sum of xmin" (the tenant's slice too, when `params` names
    one), as one column of one row: the server scans the slices one after the other with no round
    trip between them. An output's is recorded after the write; a skip needs it unchanged, so an
    output rewritten or emptied by anything else since is recomputed."""
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
