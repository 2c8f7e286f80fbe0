"""`features`' enrichment chunks bare on a kept bench database: read, built and encoded for the write.

    PYTHONPATH=. python bench/features_chunks_bare.py DBNAME objects,arrow,arrow,objects

For each mode in turn (`objects`: the chunks' text and dates as Python objects, as before the
thirty-fourth round (d); `arrow`: held by Arrow, `read_frames(arrow=True)`), the process CPU and
wall seconds of the 40 chunks' COPY read, `build_features` and the write's encoding (`_csv_chunks`
+ `_BinaryRows` read to the end, nothing sent), and the md5 of every encoded COPY byte (the same
in every mode: the server receives the same rows). The index and the locations are made once,
outside the timing.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sys
import time

import psycopg2

from realestate_assets.assets.common import county_sales, frames
from realestate_assets.assets.features import ENRICHED_SQL, FEATURE_CHUNK_ROWS, LOCATIONS_SQL
from realestate_assets.db.copy_io import _BinaryRows, _csv_chunks
from realestate_assets.db.warehouse import _column_types
from realestate_assets.market.index import INDEX_SALE_COLUMNS
from realestate_assets.ml.features import build_features, locations_by_key
from realestate_assets.ml.market_index import HedonicIndex
from resources import WarehouseResource


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread's: Arrow's parse, the COPY's
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    db, modes = sys.argv[1], sys.argv[2].split(",")
    wh = WarehouseResource(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}").get()
    params = {"county": "king_wa"}
    index = HedonicIndex.from_sales(county_sales(wh, params, INDEX_SALE_COLUMNS))
    locations = locations_by_key(wh.frame(LOCATIONS_SQL, params))
    conn = psycopg2.connect(f"host=127.0.0.1 user=postgres dbname={db}")
    types = _column_types(conn, "features")
    for mode in modes:
        digest, started, wall, building = hashlib.md5(), cpu(), time.perf_counter(), 0.0
        for enriched in frames(wh, conn, ENRICHED_SQL, params, FEATURE_CHUNK_ROWS, arrow=mode == "arrow"):
            before = cpu()
            built = build_features(enriched, locations, index)
            building += cpu() - before
            kinds = ["text", *[types[c] for c in built.columns]]  # the county's constant first
            for data in _csv_chunks(built, types, 50_000, frozenset(), True, {"county": "king_wa"}):
                rows = _BinaryRows.of(data, kinds)
                assert rows is not None, "a chunk that would go as CSV"
                while chunk := rows.read(1 << 16):
                    digest.update(chunk)
        conn.rollback()
        print(f"{mode} cpu {cpu() - started:.2f} wall {time.perf_counter() - wall:.2f} build {building:.2f} "
              f"md5 {digest.hexdigest()} load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
