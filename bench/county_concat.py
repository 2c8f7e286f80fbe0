"""The county frame's concat in `score_chunks` (ml/pipeline.py), bare: `pd.concat(parts,
ignore_index=True, copy=False)` (which consolidates the result in place when copy-on-write is
off) against pandas' default copy, on parts laid out as `_predict_chunk` makes them (the county's
`COUNTY_WIDE_COLUMNS` read from a kept 212x database, then the prediction columns added one by
one), 25,000 rows a part. Alternates the two, prints process CPU s and wall s of each, and
checks the frames equal (values and dtypes).

    python bench/county_concat.py DBNAME [--passes 4]
"""

import argparse
import time

import numpy as np
import pandas as pd
import psycopg2

from realestate_assets.ml.pipeline import COUNTY_WIDE_COLUMNS

CHUNK = 25_000


def parts_of(db: str) -> list[pd.DataFrame]:
    conn = psycopg2.connect(f"host=127.0.0.1 user=postgres dbname={db}")
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(COUNTY_WIDE_COLUMNS)} FROM features ORDER BY prospect_key")
        rows = cur.fetchall()
    conn.close()
    frame = pd.DataFrame(rows, columns=COUNTY_WIDE_COLUMNS)
    for c in COUNTY_WIDE_COLUMNS[2:]:
        frame[c] = frame[c].astype(float)
    rng = np.random.default_rng(0)
    parts = []
    for start in range(0, len(frame), CHUNK):
        features = frame.iloc[start:start + CHUNK]
        out = features[COUNTY_WIDE_COLUMNS].copy()
        for column in ("estimated_value", "estimated_value_low", "estimated_value_high"):
            out[column] = rng.random(len(out))
        out["deal_probability"], out["sale_probability"] = np.nan, rng.random(len(out))
        out["price"], out["priced"] = np.nan, np.zeros(len(out), dtype=bool)
        parts.append(out)
    return parts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--passes", type=int, default=4)
    args = ap.parse_args()
    parts = parts_of(args.db)
    print(f"{len(parts)} parts, {sum(len(p) for p in parts):,} rows")
    frames = {}
    for i in range(args.passes):
        for copy in ((False, True) if i % 2 == 0 else (True, False)):
            cpu, wall = time.process_time(), time.perf_counter()
            county = pd.concat(parts, ignore_index=True, copy=False) if not copy else \
                pd.concat(parts, ignore_index=True)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"pass {i + 1} {'default' if copy else 'copy=False'}: {cpu:.3f} CPU s, {wall:.3f} s, "
                  f"{county._mgr.nblocks} blocks")
            frames[copy] = county
            del county
    pd.testing.assert_frame_equal(frames[False], frames[True], check_exact=True)
    print("frames equal (values and dtypes)")


if __name__ == "__main__":
    main()
