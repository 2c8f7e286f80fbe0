"""Issue 17: a re-run's previous `enrichment` rows, read bare as the step reads them.

    PYTHONPATH=. python bench/enrich_previous_read.py DIR text|stored

DIR is a `bench_scale.py --keep` directory whose `enrichment` slice is written. The county's
prospects in 10,000-row chunks, each chunk's previous rows read in one snapshot and
`_Previous`'s mask taken for the three HTTP sources the bench skips — `text`: each row's
provenance document rebuilt on the server (`PREVIOUS_SQL`, the one-frame path's form and the
step's before thirty-fourth round (c)); `stored`: its id and record, the county's documents read
once (`PREVIOUS_CHUNK_SQL`, `stored_previous`). Prints client CPU s, wall s and the database's
backends' CPU s (docs/scale.md "Thirty-fourth round (c)").
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from enrich_phases import ServerCpu

from realestate_assets.assets.enrichment import (
    PREVIOUS_CHUNK_SQL,
    PREVIOUS_DOCUMENTS_SQL,
    PREVIOUS_SQL,
    PROSPECTS_SQL,
)
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.enrich.pipeline import _Previous
from realestate_assets.enrich.stored_provenance import StoredDocuments, stored_previous

SKIPPED = ["attom", "census_geocoder", "census_acs"]


def main() -> None:
    setup = json.loads((Path(sys.argv[1]) / "bench.json").read_text())
    form = sys.argv[2]
    wh = Warehouse(setup["DATABASE_URL"])
    params = {"county": "king_wa"}
    server = ServerCpu(setup["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://"))
    server.sample()
    s0, c0, w0 = server.total(), time.process_time(), time.perf_counter()
    named = rows = 0
    with wh.reading() as reader:
        documents = StoredDocuments(reader.frame(PREVIOUS_DOCUMENTS_SQL, params)) if form == "stored" else None
        for prospects in reader.chunks(PROSPECTS_SQL, params, key="prospect_key", rows=10_000):
            keys = prospects["prospect_key"]
            chunk = {**params, "first": keys.iloc[0], "last": keys.iloc[-1]}
            previous = stored_previous(reader.frame(PREVIOUS_CHUNK_SQL, chunk), documents) \
                if documents is not None else \
                reader.frame(PREVIOUS_SQL + " AND prospect_key BETWEEN :first AND :last", chunk)
            named += int(_Previous(previous).may_name_mask(keys, SKIPPED).sum())
            rows += len(previous)
    c1, w1 = time.process_time(), time.perf_counter()
    server.sample()
    server.stop = True
    print(f"{form}: rows {rows} named {named} client CPU {c1 - c0:.2f} s wall {w1 - w0:.2f} s "
          f"server CPU {server.total() - s0:.2f} s load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
