"""What every chaos part shares: a scratch database, tenants, and the comparison of two tenants' data.

The comparison is pure (`compare`, `resent_paths`) so tests/test_chaos_harness.py checks it
directly; `snapshot` reads one tenant's rows from PostgreSQL into the shape it compares.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: `python bench/chaos/run.py`
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from tests.databases import clear_public_tables, create_tenant, psycopg2_dsn, query, scratch_database  # noqa: E402

# Each table a run writes and the natural key one row of it stands for (tenant_id left out: two
# tenants' runs are compared). Public county tables have no tenant (DESIGN §9): a snapshot reads
# the county's one set of rows; only TENANT_TABLES are read for the tenant (and `rejects`: the public
# stages' rows, tenant_id NULL, with the tenant's own). Emails name their packet by database id,
# which differs between tenants: the key uses the packet's prospect instead (`packet_prospect`,
# joined in `snapshot`).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "sales": ("county", "source", "sale_id"),
    "listings": ("county", "source", "source_id"),
    "assessor_roll": ("county", "source", "parcel_id"),
    "prospects": ("county", "prospect_key"),
    "prospect_sources": ("county", "prospect_key", "source", "source_id"),
    "enrichment": ("county", "prospect_key"),
    "features": ("county", "prospect_key"),
    "scores": ("county", "prospect_key"),
    "packets": ("county", "prospect_key", "template"),
    "emails": ("county", "campaign", "packet_prospect", "recipient_email"),
    "rejects": ("county", "asset", "source", "source_ref", "reason"),
    "ml_models": ("county", "model_name", "is_active"),
}
TENANT_TABLES = {"packets", "emails"}
# Rows whose number legitimately grows with the number of runs (a log, the model registry's
# history): compared for their active subset / not at all, reported for information.
ACTIVE_ONLY = {"ml_models": "is_active"}


@dataclass
class TableSnapshot:
    rows: int
    keys: set[tuple[str, ...]] = field(default_factory=set)
    duplicates: int = 0  # rows beyond the first for one natural key


Snapshot = dict[str, TableSnapshot]


def table_snapshot(rows: list[tuple[object, ...]]) -> TableSnapshot:
    keys = {tuple("" if v is None else str(v) for v in row) for row in rows}
    return TableSnapshot(rows=len(rows), keys=keys, duplicates=len(rows) - len(keys))


@dataclass
class Difference:
    table: str
    lost: int
    extra: int
    duplicated: int
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.table}: {self.lost} lost, {self.extra} extra, {self.duplicated} duplicated"
                + (f" (e.g. {'; '.join(self.examples)})" if self.examples else ""))


def compare(reference: Snapshot, other: Snapshot) -> list[Difference]:
    """Tables where `other` lost rows of `reference`, holds rows it does not, or repeats a natural key."""
    out = []
    for table in sorted(set(reference) | set(other)):
        ref, oth = reference.get(table, TableSnapshot(0)), other.get(table, TableSnapshot(0))
        lost, extra = ref.keys - oth.keys, oth.keys - ref.keys
        if lost or extra or oth.duplicates:
            examples = [f"lost {k}" for k in sorted(lost)[:2]] + [f"extra {k}" for k in sorted(extra)[:2]]
            out.append(Difference(table, len(lost), len(extra), oth.duplicates, examples))
    return out


def snapshot(url: str, tenant: str) -> Snapshot:
    """Every table's natural keys as `compare` wants them: the county's public rows and the tenant's own."""
    import psycopg2

    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor() as cur:
            out: Snapshot = {}
            for table, key in NATURAL_KEYS.items():
                columns = ", ".join("k.prospect_key" if c == "packet_prospect" else f"t.{c}" for c in key)
                join = " LEFT JOIN packets k ON k.id = t.packet_id" if table == "emails" else ""
                where = f" AND t.{ACTIVE_ONLY[table]}" if table in ACTIVE_ONLY else ""
                scope = ("t.tenant_id = %s" if table in TENANT_TABLES
                         else "(t.tenant_id IS NULL OR t.tenant_id = %s)" if table == "rejects" else "%s IS NOT NULL")
                cur.execute(f"SELECT {columns} FROM {table} t{join} WHERE {scope}{where}", (tenant,))
                out[table] = table_snapshot(cur.fetchall())
            return out
    finally:
        conn.close()


def bad_packet_objects(url: str, tenant: str, objects_dir: Path) -> list[str]:
    """Packets whose recorded object is missing from the local object store or whose sha256 differs."""
    bad = []
    for key, digest in query(url, "SELECT object_path, sha256 FROM packets WHERE tenant_id = %s", (tenant,)):
        path = objects_dir / str(key)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(str(key))
    return bad


def file_identities(directory: Path, pattern: str = "*.eml") -> dict[str, tuple[int, int]]:
    """(inode, mtime) of each file: a file written again (an email re-sent) gets a new identity,
    since the outbox writes a partial file and renames it over the old one."""
    out = {}
    for path in directory.glob(pattern) if directory.is_dir() else []:
        stat = path.stat()
        out[path.name] = (stat.st_ino, stat.st_mtime_ns)
    return out


def resent_paths(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]) -> list[str]:
    """Files that existed before a run and were written again by it (or vanished)."""
    return sorted(name for name, identity in before.items() if after.get(name) != identity)


def email_status(url: str, tenant: str) -> dict[str, int]:
    return {str(status): int(n) for status, n in query(
        url, "SELECT status, count(*) FROM emails WHERE tenant_id = %s GROUP BY status", (tenant,))}


@contextmanager
def chaos_database(root: Path) -> Iterator[str]:
    with scratch_database(root / "pg", prefix="reos_chaos") as url:
        yield url


def fresh_county(url: str) -> None:
    """Empty public county tables: a part (or a crash round) that must start from an undiscovered
    county clears them, as it once started from a fresh tenant (public data has no tenant now)."""
    clear_public_tables(url)


def new_tenant(url: str, label: str) -> str:
    import uuid

    return create_tenant(url, f"{label}_{uuid.uuid4().hex[:6]}", f"chaos {label}")


def line(label: str, value: object, width: int = 52) -> str:
    return f"  {label:<{width}}{value}"
