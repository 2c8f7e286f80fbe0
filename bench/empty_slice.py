"""Empty a county's slices in a kept bench database, as a first run of a stage meets them.

    python bench/empty_slice.py /work/bench/NAME/x212 prospects prospect_sources

Deletes the county's rows of each named table (in the order given) and VACUUM ANALYZEs it, so a
`bench_scale.py --reuse DIR --stages ...` run that follows writes into an empty slice of a
vacuumed table with fresh statistics, as in a fresh database after the stages before it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import psycopg2
from psycopg2 import sql


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kept", type=Path, help="a bench_scale.py --keep directory (holds bench.json)")
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--county", default="king_wa")
    args = ap.parse_args()
    url = json.loads((args.kept / "bench.json").read_text())["DATABASE_URL"]
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True  # VACUUM runs outside a transaction
    with conn.cursor() as cur:
        for table in args.tables:
            cur.execute(sql.SQL("DELETE FROM {} WHERE county = %s").format(sql.Identifier(table)), (args.county,))
            print(f"{table}: {cur.rowcount:,} rows deleted", flush=True)
            cur.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
    conn.close()


if __name__ == "__main__":
    main()
