"""Issue 17: the comps of a million parcels in a bare process, as the `enrichment` step finds them.

    PYTHONPATH=. python bench/comps_fill.py SALES.pkl [--chunk 10000] [--parts]

SALES.pkl: a pickled sales frame (e.g. `bench_enrich.replicated_sales(212)[1].to_pickle(...)`).
Builds `CountyMarket` from it, then `fill`s its parcels `--chunk` at a time in the facts' order
(the step fills a chunk of prospects at a time, one thread a query), and prints the CPU seconds
(`time.process_time`) of the build and of the fill, and an md5 of the county's comps facts (every
parcel's four comps columns, to the bit) to compare two trees' answers. `--parts` also times
`SalesPool`'s parts (the first query, the band search, the tie order) by wrapping them.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from realestate_assets.config_models import load_scoring
from realestate_assets.enrich.county_data import COMPS_FACTS, CountyMarket
from realestate_assets.market.comps import SalesPool


def timed(spent: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - t0
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sales")
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--parts", action="store_true")
    args = ap.parse_args()
    sales = pd.read_pickle(args.sales)
    spent: dict[str, float] = defaultdict(float)
    if args.parts:
        for name in ("_first_query", "_search_band", "_ties_in_order", "_comps_tied", "_into_grid", "_band_tree"):
            if hasattr(SalesPool, name):
                setattr(SalesPool, name, timed(spent, name, getattr(SalesPool, name)))
    t0 = time.process_time()
    market = CountyMarket(sales, load_scoring().comps)
    build = time.process_time() - t0
    del sales
    positions = np.arange(len(market.facts))  # `fill` takes the facts' positions (a chunk's parcels)
    t0, w0 = time.process_time(), time.perf_counter()
    for start in range(0, len(positions), args.chunk):
        market.fill(positions[start:start + args.chunk])
    fill, wall = time.process_time() - t0, time.perf_counter() - w0
    facts = market.facts[COMPS_FACTS]
    digest = hashlib.md5()
    for column in COMPS_FACTS:
        digest.update(np.ascontiguousarray(facts[column].to_numpy()).tobytes())
    parts = " ".join(f"{name} {seconds:.2f}" for name, seconds in sorted(spent.items()))
    print(f"build {build:.2f} CPU s, fill {fill:.2f} CPU s ({wall:.2f} s wall), {len(facts):,} parcels, "
          f"{int(facts['comps_count'].sum()):,} comps, md5 {digest.hexdigest()}; {parts}")


if __name__ == "__main__":
    main()
