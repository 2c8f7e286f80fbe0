"""Bare CPU of the binary COPY's row encoding (`copy_io._BinaryRows`) on a kept database's tables.

    python bench/encode_bench.py DATABASE_URL OLD_COPY_IO.py [--new NEW_COPY_IO.py] [--tables sales,...]
        [--rounds 3] [--cache DIR]

Each table's county slice is read back (jsonb as its text, written as `json_text`), cut into the
write's chunks by `_csv_chunks` (not timed), and each chunk encoded by the old module (a copy of
an earlier `copy_io.py`) and by the worktree's, alternated chunk by chunk: thread CPU seconds of
`_BinaryRows.of` plus draining it, and the md5 of each's bytes (they must be equal).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path
from types import ModuleType

import psycopg2
import pyarrow as pa

from realestate_assets.db import copy_io
from realestate_assets.db.warehouse import _column_types

AUTO = {"id", "created_at", "updated_at"}


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("copy_io_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def encode(module: ModuleType, table, kinds) -> tuple[float, bytes]:
    start = time.thread_time()
    rows = module._BinaryRows.of(table, kinds)
    assert rows is not None
    digest = hashlib.md5()
    while chunk := rows.read(1 << 16):
        digest.update(chunk)
    return time.thread_time() - start, digest.digest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("old")
    ap.add_argument("--tables", default="sales,prospect_sources,prospects,enrichment,features,scores")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--new", help="a copy_io.py to measure instead of the worktree's")
    ap.add_argument("--cache", type=Path, help="keep each table's chunks here (Arrow IPC) and read them back")
    args = ap.parse_args()
    old = load(args.old)
    new = load(args.new) if args.new else copy_io
    conn = psycopg2.connect(args.url.replace("postgresql+psycopg2", "postgresql"))
    for table in args.tables.split(","):
        cached = args.cache / f"{table}.arrow" if args.cache else None
        if cached is not None and cached.exists():
            with pa.OSFile(str(cached)) as source:
                reader = pa.ipc.open_file(source.read_buffer())
                kinds = json.loads(reader.schema.metadata[b"kinds"])
                binary = [pa.Table.from_batches([reader.get_batch(i)]) for i in range(reader.num_record_batches)]
            run(table, old, new, binary, kinds, args.rounds, len(kinds))
            continue
        with conn.cursor() as cur:
            cur.execute("SELECT column_name, column_default FROM information_schema.columns WHERE table_schema = "
                        "current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))
            cols = [(c, d) for c, d in cur.fetchall()]
        types = _column_types(conn, table)
        scope = [c for c in ("tenant_id", "county") if c in types]
        names = [c for c, d in cols if c not in scope and c not in AUTO and not (d or "").startswith("nextval")]
        jsons = [c for c in names if types[c] == "jsonb"]
        select = ", ".join(f'"{c}"::text AS "{c}"' if c in jsons else f'"{c}"' for c in names)
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(scope)} FROM {table} LIMIT 1")
            constants = dict(zip(scope, cur.fetchone(), strict=True))
        limit = f" LIMIT {args.limit}" if args.limit else ""
        frame = copy_io.read_frame(conn, f"SELECT {select} FROM {table}{limit}")
        kinds = [types[c] for c in [*constants, *frame.columns]]
        chunks = list(copy_io._csv_chunks(frame, types, copy_io.WRITE_CHUNK_ROWS, frozenset(jsons), True,
                                          {k: str(v) for k, v in constants.items()}))
        binary = [c for c in chunks if not isinstance(c, str) and old._BinaryRows.of(c, kinds) is not None]
        print(f"{table}: {sum(c.num_rows for c in binary)} of {len(frame)} rows binary")
        del frame, chunks
        if cached is not None:
            args.cache.mkdir(parents=True, exist_ok=True)
            schema = binary[0].schema.with_metadata({"kinds": json.dumps(kinds)})
            with pa.OSFile(str(cached), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for chunk in binary:
                    writer.write_batch(chunk.combine_chunks().to_batches()[0])
        run(table, old, new, binary, kinds, args.rounds, len(kinds))


def run(table: str, old: ModuleType, new: ModuleType, binary: list[pa.Table], kinds: list[str], rounds: int,
        fields: int) -> None:
    for _ in range(rounds):
        t_old = t_new = 0.0
        d_old, d_new = hashlib.md5(), hashlib.md5()
        for i, chunk in enumerate(binary):  # each first in every other chunk
            if i % 2:
                b, db = encode(new, chunk, kinds)
                a, da = encode(old, chunk, kinds)
            else:
                a, da = encode(old, chunk, kinds)
                b, db = encode(new, chunk, kinds)
            t_old, t_new = t_old + a, t_new + b
            d_old.update(da)
            d_new.update(db)
        same = "same" if d_old.digest() == d_new.digest() else "DIFFERENT"
        print(f"{table:17} rows {sum(c.num_rows for c in binary):>9} "
              f"fields {fields:>3}  old {t_old:6.3f}  new {t_new:6.3f} CPU s  md5 {d_old.hexdigest()[:12]} {same}"
              f"  load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
