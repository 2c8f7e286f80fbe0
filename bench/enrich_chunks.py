"""Issue 17: the `enrichment` step's chunk loop on its main thread, in a bare process.

    PYTHONPATH=. python bench/enrich_chunks.py DIR [--inputs FILE.pkl] [--chunks N] [--profile OUT.prof]

DIR is a `bench_scale.py --keep` directory. The county's inputs (the sales, the roll and the
prospects' chunks, as the asset reads them on a first load) are read once and pickled to
`--inputs` (read from it when it exists, so two trees are given the same frames). Then what the
step's main thread does per chunk — `CountyEnrichment.enrich` (the comps' fill, the local
shortcut, the frame) and the tally — for every chunk, without the write: printed are the
county's set-up and the chunk loop's CPU seconds of this thread (`time.thread_time`: the
comps' queries run on it, one thread a query, as in the step), and an md5 of every chunk's frame
(provenance's fetch time masked) to compare two trees' rows. `--profile`: cProfile of the loop.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pickle
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from realestate_assets.assets.common import county_sales
from realestate_assets.assets.enrichment import ROLL_SQL, prospect_chunks
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.enrich.clients import CallLog
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.enrich.pipeline import EnrichmentTally, county_enrichment
from realestate_assets.enrich.sources_config import load_sources_config
from resources.platform import PlatformResource

FETCHED = re.compile(r'"fetched_at": "[^"]*"')


def frame_md5(frame: pd.DataFrame, digest: Any) -> None:
    """Every column's values with their Python types, provenance's fetch time masked."""
    for column in frame.columns:
        values = frame[column]
        if column in ("provenance", "source_status"):
            values = [FETCHED.sub('"fetched_at": ""', str(v)) for v in values]
        else:
            values = [f"{type(v).__name__}:{v!r}" for v in values.tolist()]
        digest.update(f"{column}|{frame[column].dtype}".encode())
        digest.update("\x1f".join(values).encode())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kept", type=Path)
    ap.add_argument("--inputs", type=Path)
    ap.add_argument("--chunks", type=int)
    ap.add_argument("--profile", type=Path)
    ap.add_argument("--no-md5", action="store_true")
    args = ap.parse_args()
    setup = json.loads((args.kept / "bench.json").read_text())
    platform = PlatformResource(config_dir=setup["REOS_CONFIG_DIR"], state_dir=setup["REOS_STATE_DIR"])
    params = {"county": "king_wa"}
    county = platform.county("king_wa")
    sources = load_sources_config(platform.config_path / "enrichment_sources.yaml")
    comps = CompsSettings.from_scoring(load_scoring(platform.config_path))
    if args.inputs is not None and args.inputs.exists():
        roll, sales, chunks = pickle.loads(args.inputs.read_bytes())
    else:
        wh = Warehouse(setup["DATABASE_URL"])
        roll, sales = wh.frame(ROLL_SQL, params), county_sales(wh, params)
        chunks = list(prospect_chunks(wh, params, sources.runtime.chunk_size))
        if args.inputs is not None:
            args.inputs.write_bytes(pickle.dumps((roll, sales, chunks), protocol=5))
    chunks = chunks[: args.chunks] if args.chunks else chunks
    tally = EnrichmentTally()
    digest = hashlib.md5()
    c0 = time.thread_time()
    with county_enrichment(
        sales,
        county_fips=county.fips,
        county_state=county.state,
        sources=sources,
        comps=comps,
        cache_dir=platform.state_path / "http_cache",
        on_call=CallLog(),
        env={},
        assessor=roll,
    ) as enricher:
        del sales, roll
        setup_cpu = time.thread_time() - c0
        profile = cProfile.Profile() if args.profile else None
        loop = 0.0
        for prospects, previous in chunks:
            c = time.thread_time()
            if profile is not None:
                profile.enable()
            # A first load's: no previous rows (the pickle may hold the kept slice's).
            frame = enricher.enrich(prospects, previous.iloc[:0], tally)
            if profile is not None:
                profile.disable()
            loop += time.thread_time() - c
            if not args.no_md5:
                frame_md5(frame, digest)
    if profile is not None:
        profile.dump_stats(args.profile)
    rows = sum(len(p) for p, _ in chunks)
    print(
        f"set-up {setup_cpu:.2f} CPU s, chunk loop {loop:.2f} CPU s ({rows:,} rows, {len(chunks)} chunks), "
        f"enriched {tally.enriched:,}, md5 {digest.hexdigest() if not args.no_md5 else '-'}, "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
