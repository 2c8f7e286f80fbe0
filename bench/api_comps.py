"""CPU seconds of the API's comps path (`api/v1/property_market.comps_of`) per subject.

    PYTHONPATH=. .venv/bin/python bench/api_comps.py [--subjects 200] [--step 12] [--profile]

Loads the bundled King County sales into a scratch database (tests/databases.scratch_database,
dropped at the end) with the index stored as the pipeline does — as
tests/api/test_market_stored.py does — then times `comps_of` for every `--step`-th parcel (its
building at its latest sale) as of the county's last sale date, the first `--subjects` of them.
One warm-up call first (the reference latitude is cached per process, as in the API). Prints the
process CPU seconds per subject and an md5 of every result (the comps and summaries, as JSON):
equal md5s mean equal answers.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from realestate_assets.api.v1.property_market import MarketCache, comps_of
from realestate_assets.config_models import load_scoring
from realestate_assets.settings import repo_root
from tests.api.helpers_api import owner_cursor
from tests.api.test_market_stored import load_bundled_sales
from tests.databases import scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--step", type=int, default=12)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    county = "king_bench"
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp), prefix="reos_comps_bench") as url:
        rows = load_bundled_sales(url, county)
        with owner_cursor(url) as cur:
            cur.execute("ANALYZE sales")
        ordered = rows.sort_values(["sale_date", "sale_id"], kind="stable")
        date = ordered["sale_date"].max()
        facts = ordered.drop_duplicates("parcel_id", keep="last").iloc[::args.step][
            ["parcel_id", "latitude", "longitude", "living_sqft", "use_type"]]
        subjects = [{**s, "county": county, "as_of_date": pd.Timestamp(date).date()} for s in facts.to_dict("records")]
        subjects = subjects[:args.subjects]
        panel = MarketCache(load_scoring(repo_root() / "config"))
        results = []
        with owner_cursor(url) as cur:
            comps_of(cur, panel, subjects[0])  # warm-up: imports, the cached reference latitude
            profiler = cProfile.Profile() if args.profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for subject in subjects:
                results.append(comps_of(cur, panel, subject))
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        digest = hashlib.md5(json.dumps(results, sort_keys=True, default=str).encode()).hexdigest()
        load = Path("/proc/loadavg").read_text().split()[0]
        print(f"{len(subjects)} subjects: {cpu / len(subjects) * 1000:.1f} CPU ms/subject, "
              f"{wall / len(subjects) * 1000:.1f} wall ms/subject, load {load}, md5 {digest}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
