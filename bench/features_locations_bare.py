"""`features`' locations indexed by key bare on a kept bench database: `set_index`'s copy or not.

    PYTHONPATH=. python bench/features_locations_bare.py DBNAME copy,view,view,copy

For each mode in turn, the process CPU and wall seconds of the locations' read (`LOCATIONS_SQL`)
and its indexing by `prospect_key` (`copy`: pandas' `set_index`, as before the thirty-sixth round
(e); `view`: `locations_by_key`, the read's own arrays under the keys' index), and an md5 of the
indexed frame's keys and values (the same in every mode).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import pandas as pd
from features_chunks_bare import cpu  # bench/ is this script's directory: first on sys.path

from realestate_assets.assets.features import LOCATIONS_SQL
from realestate_assets.ml.features import locations_by_key
from resources import WarehouseResource


def main() -> None:
    db, modes = sys.argv[1], sys.argv[2].split(",")
    wh = WarehouseResource(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}").get()
    params = {"county": "king_wa"}
    for mode in modes:
        started, wall = cpu(), time.perf_counter()
        read = wh.frame(LOCATIONS_SQL, params)
        read_cpu = cpu() - started
        by_key = read.set_index("prospect_key") if mode == "copy" else locations_by_key(read)
        index_cpu = cpu() - started - read_cpu
        spent, took = cpu() - started, time.perf_counter() - wall
        digest = hashlib.md5(pd.util.hash_pandas_object(by_key, index=True).to_numpy().tobytes())
        digest.update(repr(list(zip(by_key.columns, by_key.dtypes, strict=True))).encode())
        print(f"{mode} cpu {spent:.2f} wall {took:.2f} index {index_cpu:.3f} md5 {digest.hexdigest()} "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        del read, by_key


if __name__ == "__main__":
    main()
