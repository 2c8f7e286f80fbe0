"""Issue 17: where the `enrichment` step's wall and CPU go, phase by phase, in a bare process.

    PYTHONPATH=. python bench/enrich_phases.py DIR [--commit]

DIR is a `bench_scale.py --keep` directory. Does what the asset does on its first load (the
county's reads, its facts and comps, the chunks enriched and written through `sync_partition`),
printing for each phase its wall seconds, this process's CPU seconds and the CPU seconds of the
database's backends (from /proc, as bench/server_cpu.py reads them) at its end. The transaction
is rolled back unless --commit, so the slice stays as it was (empty, for a first load each run).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg2

from realestate_assets.assets.common import county_sales
from realestate_assets.assets.enrichment import ROLL_SQL, coverage_audit, prospect_chunks
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import Warehouse, sync_partition
from realestate_assets.enrich.clients import CallLog
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.enrich.pipeline import STORED_COLUMNS, EnrichmentTally, county_enrichment
from realestate_assets.enrich.source_statuses import SourceStatusIds
from realestate_assets.enrich.sources_config import load_sources_config
from realestate_assets.enrich.stored_provenance import ProvenanceIds
from resources.platform import PlatformResource


class ServerCpu:
    """CPU seconds of the backends of one database, polled every 0.1 s from /proc."""

    def __init__(self, url: str) -> None:
        self.name = url.rsplit("/", 1)[1]
        self.conn = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
        self.conn.autocommit = True
        self.tick = os.sysconf("SC_CLK_TCK")
        self.seen: dict[int, float] = {}
        self.stop = False
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop:
            self.sample()
            time.sleep(0.1)

    def sample(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (self.name,))
            for (pid,) in cur.fetchall():
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                self.seen[pid] = (int(fields[11]) + int(fields[12])) / self.tick

    def total(self) -> float:
        return sum(self.seen.values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kept", type=Path)
    ap.add_argument("--commit", action="store_true")
    args = ap.parse_args()
    setup = json.loads((args.kept / "bench.json").read_text())
    url = setup["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://")
    server = ServerCpu(url)
    wh = Warehouse(setup["DATABASE_URL"])
    platform = PlatformResource(config_dir=setup["REOS_CONFIG_DIR"], state_dir=setup["REOS_STATE_DIR"])
    params = {"county": "king_wa"}
    county = platform.county("king_wa")
    sources = load_sources_config(platform.config_path / "enrichment_sources.yaml")
    comps = CompsSettings.from_scoring(load_scoring(platform.config_path))
    t0, c0, s0 = time.perf_counter(), time.process_time(), server.total()
    last = [t0, c0, s0]

    def mark(name: str) -> None:
        server.sample()
        t, c, s = time.perf_counter(), time.process_time(), server.total()
        print(f"{name:28s} wall {t - last[0]:7.2f}  cpu {c - last[1]:7.2f}  server {s - last[2]:6.2f}"
              f"   (at {t - t0:6.2f})  load {os.getloadavg()[0]:.2f}", flush=True)
        last[:] = [t, c, s]

    roll = wh.frame(ROLL_SQL, params)
    mark("roll read")
    sales = county_sales(wh, params)
    mark("sales read")
    tally = EnrichmentTally()
    with county_enrichment(sales, county_fips=county.fips, county_state=county.state, sources=sources,
                           comps=comps, cache_dir=platform.state_path / "http_cache", on_call=CallLog(),
                           env={}, assessor=roll) as enricher, wh.transaction() as conn, \
            wh.transaction(begun_by_first=True) as adding:
        del sales, roll
        statuses, provenances = (ids(conn, county.key, adding) for ids in (SourceStatusIds, ProvenanceIds))
        mark("county facts (index, comps)")
        chunk_cpu = [0.0]

        def chunks() -> Iterator[pd.DataFrame]:
            for i, (prospects, previous) in enumerate(prospect_chunks(wh, params, sources.runtime.chunk_size)):
                c = time.process_time()
                frame = provenances.store(statuses.store(enricher.enrich(prospects, previous, tally)))
                chunk_cpu[0] += time.process_time() - c
                if i == 0:
                    mark("first chunk made")
                yield frame

        stats = sync_partition(conn, "enrichment", chunks(), columns=STORED_COLUMNS, county=county.key,
                               keys=["prospect_key"], audit=coverage_audit(county.quality.min_enrichment_coverage, []))
        mark(f"chunks + write ({stats.staged:,} rows; enrich+tally cpu {chunk_cpu[0]:.2f})")
        if not args.commit:
            conn.rollback()
    mark("end")
    t, c, s = time.perf_counter(), time.process_time(), server.total()
    print(f"{'total':28s} wall {t - t0:7.2f}  cpu {c - c0:7.2f}  server {s - s0:6.2f}", flush=True)
    server.stop = True


if __name__ == "__main__":
    main()
