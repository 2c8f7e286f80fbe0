"""Issue 17: can `enrichment`'s chunk loop use the second core? A bare prototype, two processes.

    PYTHONPATH=. python bench/enrich_two_procs.py DIR --inputs FILE.pkl --procs 1|2 [--chunks N] [--md5]

DIR is a `bench_scale.py --keep` directory, FILE.pkl `bench/enrich_chunks.py`'s inputs (the
sales, the roll and the prospects' chunks; written by that script). After the county's set-up
(`county_enrichment`, as the step), each chunk gets what the step's main thread does to it and
what its writer then needs: `enrich` (a first load's: no previous rows), the documents' ids
(`SourceStatusIds`, `ProvenanceIds`, on a connection of the process's own in autocommit, as the
step's `adding`) and the COPY's binary bytes (`write_frame`'s encoding: `_csv_chunks` then
`_BinaryRows`, the county as the direct load's constant) — the bytes are not sent anywhere.

`--procs 1`: all in this process. `--procs 2`: a worker forked after the set-up (multiprocessing's
"fork" context: the county's frames shared copy-on-write) does every other chunk and hands back
the chunk's encoded bytes through a pipe (`Connection.send_bytes`, from a sender thread so it may
start its next chunk); the parent does the others and takes the worker's in order, as a writer
would. Printed: the loop's wall, each process's CPU s over the loop (`getrusage`, all threads),
the bytes and the pipe's receive time, each process's peak RSS and PSS (`/proc/PID/smaps_rollup`,
sampled every 0.1 s: `--sample-every`) and their peak sum. `--md5`: an md5 of every chunk's enriched frame
(`enrich_chunks.frame_md5`, fetch times masked), combined in chunk order, to compare the modes'
rows (slow: not with the timed runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import pickle
import resource
import threading
import time
from pathlib import Path
from queue import Queue
from typing import Any

import pandas as pd
import psycopg2

from bench.enrich_chunks import frame_md5
from realestate_assets.config_models import load_scoring
from realestate_assets.db.copy_io import WRITE_CHUNK_ROWS, _BinaryRows, _csv_chunks
from realestate_assets.db.warehouse import _column_types
from realestate_assets.enrich.clients import CallLog
from realestate_assets.enrich.market import CompsSettings
from realestate_assets.enrich.pipeline import EnrichmentTally, county_enrichment
from realestate_assets.enrich.source_statuses import SourceStatusIds
from realestate_assets.enrich.sources_config import load_sources_config
from realestate_assets.enrich.stored_provenance import ProvenanceIds
from resources.platform import PlatformResource

COUNTY = "king_wa"


def dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


class ChunkMaker:
    """What one process does to a chunk: enrich, ids, encode. Its own connection (made after a fork)."""

    def __init__(self, enricher: Any, url: str, types: dict[str, str], md5: bool) -> None:
        self.enricher, self.types, self.md5 = enricher, types, md5
        self.conn = psycopg2.connect(dsn(url))
        self.conn.autocommit = True
        self.statuses = SourceStatusIds(self.conn, COUNTY)
        self.provenances = ProvenanceIds(self.conn, COUNTY)
        self.tally = EnrichmentTally()

    def make(self, prospects: pd.DataFrame, previous: pd.DataFrame) -> tuple[bytes, str]:
        frame = self.enricher.enrich(prospects, previous.iloc[:0], self.tally)
        digest = ""
        if self.md5:
            h = hashlib.md5()
            frame_md5(frame, h)
            digest = h.hexdigest()
        frame = self.provenances.store(self.statuses.store(frame))
        kinds = [self.types[c] for c in ["county", *frame.columns]]
        parts = []
        for data in _csv_chunks(frame, self.types, WRITE_CHUNK_ROWS, frozenset(), True, {"county": COUNTY}):
            rows = _BinaryRows.of(data, kinds)
            assert rows is not None, "the step's chunks go in binary"
            while block := rows.read(1 << 20):
                parts.append(block)
        return b"".join(parts), digest


def rusage_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rusage_split() -> tuple[float, float, int]:
    """(user s, system s, minor page faults): a forked worker's copy-on-write shows in the last two."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def split_since(start: tuple[float, float, int]) -> str:
    now = rusage_split()
    return f"user {now[0] - start[0]:.2f} s, sys {now[1] - start[1]:.2f} s, {now[2] - start[2]:,} minor faults"


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                out[parts[0]] = int(parts[1])
    return out["Rss:"], out["Pss:"]


class Sampler(threading.Thread):
    """Peak RSS and PSS of each pid, and of their sum, every `every` s; its own CPU s in `cpu` (reading
    smaps_rollup walks the page tables: not the loop's work, taken out of the parent's CPU)."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.pids: list[int] = [os.getpid()]
        self.peak: dict[str, int] = {}
        self.stop = threading.Event()
        self.cpu = 0.0

    def run(self) -> None:
        while not self.stop.wait(self.every):
            c = time.thread_time()
            total_rss = total_pss = 0
            for i, pid in enumerate(list(self.pids)):
                try:
                    rss, pss = memory(pid)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                total_rss, total_pss = total_rss + rss, total_pss + pss
                for key, value in ((f"rss{i}", rss), (f"pss{i}", pss)):
                    self.peak[key] = max(self.peak.get(key, 0), value)
            self.peak["rss_sum"] = max(self.peak.get("rss_sum", 0), total_rss)
            self.peak["pss_sum"] = max(self.peak.get("pss_sum", 0), total_pss)
            self.cpu += time.thread_time() - c


def worker(chunks: list[Any], maker_args: tuple[Any, ...], conn: Any) -> None:
    """Every other chunk (the odd ones), each chunk's bytes sent in order by a sender thread."""
    try:
        maker = ChunkMaker(*maker_args)
        outbox: Queue[tuple[bytes, str] | None] = Queue(maxsize=1)

        def send() -> None:
            while (item := outbox.get()) is not None:
                conn.send_bytes(item[0])
                conn.send(item[1])

        sender = threading.Thread(target=send)
        sender.start()
        c0, split = rusage_cpu(), rusage_split()
        for prospects, previous in chunks[1::2]:
            outbox.put(maker.make(prospects, previous))
        outbox.put(None)
        sender.join()
        conn.send(("done", rusage_cpu() - c0, maker.tally.enriched, split_since(split)))
    except BaseException as exc:  # the parent raises it
        conn.send(("error", repr(exc), 0, ""))
        raise
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kept", type=Path)
    ap.add_argument("--inputs", type=Path, required=True)
    ap.add_argument("--procs", type=int, choices=(1, 2), default=1)
    ap.add_argument("--chunks", type=int)
    ap.add_argument("--md5", action="store_true")
    # 0.1 s: ≈0.1 CPU s a second a process of this machine's two cores (walking a 1 GB page table)
    ap.add_argument("--sample-every", type=float, default=0.1)
    args = ap.parse_args()
    setup = json.loads((args.kept / "bench.json").read_text())
    platform = PlatformResource(config_dir=setup["REOS_CONFIG_DIR"], state_dir=setup["REOS_STATE_DIR"])
    county = platform.county(COUNTY)
    sources = load_sources_config(platform.config_path / "enrichment_sources.yaml")
    comps = CompsSettings.from_scoring(load_scoring(platform.config_path))
    roll, sales, chunks = pickle.loads(args.inputs.read_bytes())
    chunks = chunks[: args.chunks] if args.chunks else chunks
    with psycopg2.connect(dsn(setup["DATABASE_URL"])) as c:
        types = _column_types(c, "enrichment")
    c.close()
    sampler = Sampler(args.sample_every)
    sampler.start()
    with county_enrichment(sales, county_fips=county.fips, county_state=county.state, sources=sources,
                           comps=comps, cache_dir=platform.state_path / "http_cache", on_call=CallLog(),
                           env={}, assessor=roll) as enricher:
        del sales, roll
        maker_args = (enricher, setup["DATABASE_URL"], types, args.md5)
        w0, c0, s0, split = time.perf_counter(), rusage_cpu(), sampler.cpu, rusage_split()
        own_rows = (chunks if args.procs == 1 else chunks[0::2])
        proc = pipe = None
        if args.procs == 2:
            pipe, child_end = mp.get_context("fork").Pipe(duplex=False)
            proc = mp.get_context("fork").Process(target=worker, args=(chunks, maker_args, child_end))
            proc.start()
            child_end.close()
            sampler.pids.append(proc.pid)
        maker = ChunkMaker(*maker_args)
        digest, sent, recv_s, worker_cpu, enriched, worker_split = hashlib.md5(), 0, 0.0, 0.0, 0, "-"
        for i in range(len(chunks)):
            if args.procs == 1 or i % 2 == 0:
                data, chunk_md5 = maker.make(*own_rows[i if args.procs == 1 else i // 2])
            else:
                r = time.perf_counter()
                data = pipe.recv_bytes()
                chunk_md5 = pipe.recv()
                recv_s += time.perf_counter() - r
            sent += len(data)
            digest.update(chunk_md5.encode())
            del data
        if proc is not None:
            status, worker_cpu, enriched, worker_split = pipe.recv()
            proc.join()
            if status != "done" or proc.exitcode != 0:
                raise RuntimeError(f"worker failed: {worker_cpu} (exit {proc.exitcode})")
        wall, cpu = time.perf_counter() - w0, rusage_cpu() - c0 - (sampler.cpu - s0)
        parent_split = split_since(split)
    sampler.stop.set()
    sampler.join()
    load = Path("/proc/loadavg").read_text().strip()
    mb = {k: round(v / 1024) for k, v in sampler.peak.items()}
    rows = sum(len(p) for p, _ in chunks)
    print(f"procs {args.procs}: loop wall {wall:.2f} s, parent CPU {cpu:.2f} s, worker CPU {worker_cpu:.2f} s, "
          f"together {cpu + worker_cpu:.2f} s; {rows:,} rows, {len(chunks)} chunks, enriched "
          f"{maker.tally.enriched + enriched:,}; {sent / 1e6:.0f} MB encoded, pipe receive {recv_s:.2f} s; "
          f"parent {parent_split} (sampler's included), worker {worker_split}; "
          f"peak MB {mb}; md5 {digest.hexdigest() if args.md5 else '-'}; load {load}",
          flush=True)


if __name__ == "__main__":
    main()
