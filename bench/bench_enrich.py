"""Benchmark the enrichment client library against local fake ATTOM + Census servers.

    python bench/bench_enrich.py                      # defaults: about 60 s on 2 shared cores
    python bench/bench_enrich.py --prospects 10000    # the 10k unlimited + cached runs (~75 s more)
    python bench/bench_enrich.py --limited 10000      # the full 10k at 50/s (~200 s+)
    python bench/bench_enrich.py --comps-only         # only phase 5 (comps at ~400k parcels)

Phases (each prospect = 1 ATTOM call (property/detail) + 1 geocoder call; ACS is 1 call per county):
 1. limited:   --limited prospects with the limiter on (--rate per source, default 50/s):
               wall time vs the ideal calls / rate, and the rate the server actually saw.
 2. overhead:  the same GET done N times single-threaded with plain httpx and with the
               library (limiter off, cache off) -> library overhead per call.
 3. unlimited: --prospects prospects, limiter off, SQLite cache on (cold): throughput.
 4. cached:    the same prospects again (new clients, warm cache): zero outbound calls.
 5. comps:     enrichment's market step (hedonic index, latest facts, the vectorized comps rule) on
               the King County sales replicated --comps-scale times (jittered coordinates,
               suffixed ids; 85× ≈ 400k parcels): seconds and peak RSS, comps alone and in total.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the fake services are the tests' (tests/enrich/fakes.py)

import httpx  # noqa: E402

from realestate_assets.enrich.clients import CallLog, Enricher, ProspectRef  # noqa: E402
from realestate_assets.enrich.clients.base import ClientSettings, SourceClient  # noqa: E402
from realestate_assets.enrich.sources_config import load_sources_config  # noqa: E402
from tests.enrich.fakes import ATTOM_KEY, FakeAttom, FakeCensus, LocalServer, attom_record  # noqa: E402

HTTP = ("attom", "census_geocoder", "census_acs")


def prospects(n: int, offset: int = 0) -> list[ProspectRef]:
    out = []
    for i in range(offset, offset + n):
        out.append(ProspectRef(f"p{i}", address_line1=f"{100 + i} NE {i % 90 + 1}TH ST", city="SEATTLE",
                               state="WA", zip="98115", latitude=47.6 + (i % 9000) * 1e-5,
                               longitude=-122.3 - (i % 9000) * 1e-6))
    return out


def run_batch(ps, cache_dir, a_url, c_url, *, rate, limiter, cache, workers):
    log = CallLog()
    settings = {k: {"rate_limit_per_s": rate, "timeout_s": 10.0} for k in HTTP}
    t0 = time.perf_counter()
    with Enricher.from_config(
            load_sources_config(), on_call=log, cache_dir=cache_dir,
            env={"ATTOM_API_KEY": ATTOM_KEY, "CENSUS_API_KEY": "bench-key"},
            base_url_overrides={"attom": a_url, "census_geocoder": c_url, "census_acs": c_url},
            settings_overrides=settings, use_limiter=limiter, use_cache=cache, max_workers=workers) as e:
        e.clients["attom"].endpoints = ["property_detail"]
        out = e.enrich_batch(ps)
    wall = time.perf_counter() - t0
    failed = sum(not o.ok for o in out)
    return wall, log, failed


def achieved_rate(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")


def replicated_sales(scale: int, seed: int = 0):
    """The bundled King County sales `scale` times: each copy of a parcel moved by one random
    offset (σ ≈ 150 m) so copies are distinct parcels with their own sale history."""
    import numpy as np
    import pandas as pd

    from realestate_assets.config_models import load_counties
    from realestate_assets.discovery.collect import collect_sales

    sales = collect_sales(load_counties()["king_wa"]).rows
    parcels = sales["parcel_id"].astype(str)
    codes, _ = pd.factorize(parcels)
    rng = np.random.default_rng(seed)
    copies = []
    for r in range(scale):
        jitter = rng.normal(0, 0.0014, (codes.max() + 1, 2))  # degrees, per parcel
        copy = sales.copy()
        copy["parcel_id"] = parcels + f"-{r}"
        copy["sale_id"] = copy["sale_id"].astype(str) + f"-{r}"
        copy["latitude"] = copy["latitude"] + jitter[codes, 0]
        copy["longitude"] = copy["longitude"] + jitter[codes, 1]
        copies.append(copy)
    return sales, pd.concat(copies, ignore_index=True)


def bench_comps(scale: int) -> None:
    """Phase 5: the market step of enrichment at `scale`× the King County file."""
    import resource

    from realestate_assets.config_models import load_scoring
    from realestate_assets.enrich.county_data import as_of_date, county_facts
    from realestate_assets.enrich.market import latest_sale_facts
    from realestate_assets.market.comps import comparable_sales

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    settings = load_scoring().comps
    king, sales = replicated_sales(scale)
    t0 = time.perf_counter()
    facts, _ = county_facts(king, settings)
    print(f"\n[5] comps, king_wa 1×: {len(king):,} sales, {len(facts):,} parcels, county_facts "
          f"{time.perf_counter() - t0:.2f} s, {facts['comps_count'].sum():,} comps, "
          f"{facts['comps_estimated_value'].notna().sum():,} with an estimate")
    targets = latest_sale_facts(sales).reset_index()
    base = rss_mb()
    print(f"    {scale}×: {len(sales):,} sales, {len(targets):,} parcels; peak RSS after building them {base:.0f} MB")
    t0 = time.perf_counter()
    comps = comparable_sales(targets, sales, as_of_date(sales), settings)
    seconds = time.perf_counter() - t0
    print(f"    comps rule alone: {seconds:.1f} s = {len(targets) / seconds:,.0f} parcels/s; "
          f"{int(comps.summary['comps_count'].sum()):,} comps; peak RSS {rss_mb():.0f} MB")
    del comps
    t0 = time.perf_counter()
    facts, _ = county_facts(sales, settings)
    seconds = time.perf_counter() - t0
    print(f"    county_facts (hedonic index + facts + comps): {seconds:.1f} s; "
          f"{facts['comps_estimated_value'].notna().mean():.1%} with an estimate; peak RSS {rss_mb():.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prospects", type=int, default=4_000, help="prospects for the unlimited + cached runs")
    ap.add_argument("--limited", type=int, default=1_000, help="prospects for the rate-limited run")
    ap.add_argument("--rate", type=float, default=50.0, help="requests/s per source in the limited run")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--overhead-calls", type=int, default=1_000)
    ap.add_argument("--comps-scale", type=int, default=85, help="King County copies for phase 5 (0 = skip)")
    ap.add_argument("--comps-only", action="store_true", help="run phase 5 only")
    args = ap.parse_args()
    if args.comps_only:
        bench_comps(args.comps_scale)
        return

    attom, census = FakeAttom(), FakeCensus()
    for i in range(max(args.prospects, args.limited)):
        rec = attom_record(i)
        attom.add(rec["address"]["line1"], rec)
    a_srv, c_srv = LocalServer(attom), LocalServer(census)
    print(f"servers: attom {a_srv.url}  census {c_srv.url}; workers={args.workers}")

    # 1. limited
    with tempfile.TemporaryDirectory() as d:
        wall, log, failed = run_batch(prospects(args.limited), d, a_srv.url, c_srv.url,
                                      rate=args.rate, limiter=True, cache=True, workers=args.workers)
    per_source = {s: sum(1 for c in log.calls if c.source == s and not c.cache_hit) for s in HTTP}
    ideal = max(n / args.rate for n in per_source.values())
    print(f"\n[1] limited run: {args.limited} prospects, {args.rate:g} req/s per source, failed={failed}")
    print(f"    calls per source: {per_source}")
    print(f"    wall {wall:.2f} s vs ideal {ideal:.2f} s (max calls / rate; sources run in parallel)"
          f" -> {wall / ideal:.3f}x")
    print(f"    rate seen by the server: attom {achieved_rate(a_srv.times('/propertyapi')):.2f}/s, "
          f"geocoder {achieved_rate(c_srv.times('/geocoder')):.2f}/s")
    a_srv.reset()
    c_srv.reset()

    # 2. overhead per call, single thread
    n = args.overhead_calls
    url = f"{a_srv.url}/propertyapi/v1.0.0/property/detail"
    params = {"address1": "100 NE 1TH ST", "address2": "SEATTLE, WA 98115"}
    with httpx.Client(headers={"apikey": ATTOM_KEY}) as raw:
        raw.get(url, params=params)
        t0 = time.perf_counter()
        for _ in range(n):
            raw.get(url, params=params).json()
        raw_per = (time.perf_counter() - t0) / n
    lib_log = CallLog()
    with SourceClient(ClientSettings("attom", a_srv.url, rate_limit_per_s=None, cache_ttl_s=None),
                      api_key=ATTOM_KEY, api_key_header="apikey", on_call=lib_log) as c:
        c.get_json("/propertyapi/v1.0.0/property/detail", params)
        t0 = time.perf_counter()
        for _ in range(n):
            c.get_json("/propertyapi/v1.0.0/property/detail", params)
        lib_per = (time.perf_counter() - t0) / n
    print(f"\n[2] overhead, {n} sequential GETs: plain httpx {raw_per * 1e3:.3f} ms/call, library "
          f"(retry+breaker+log, limiter/cache off) {lib_per * 1e3:.3f} ms/call -> overhead "
          f"{(lib_per - raw_per) * 1e3:.3f} ms/call; median logged latency "
          f"{statistics.median(x.latency_ms for x in lib_log.calls):.3f} ms")
    a_srv.reset()

    # 3 + 4. unlimited cold, then cached
    with tempfile.TemporaryDirectory() as d:
        ps = prospects(args.prospects)
        wall, log, failed = run_batch(ps, d, a_srv.url, c_srv.url, rate=args.rate, limiter=False, cache=True,
                                      workers=args.workers)
        calls = len(log.calls)
        print(f"\n[3] unlimited, cold SQLite cache: {args.prospects} prospects, {calls} calls in {wall:.2f} s "
              f"= {calls / wall:.0f} calls/s ({wall / calls * 1e3 * args.workers:.2f} ms per call per worker), "
              f"failed={failed}")
        print(f"    ideal at {args.rate:g}/s per source would be {args.prospects / args.rate:.0f} s")
        before = a_srv.count() + c_srv.count()
        wall2, log2, failed2 = run_batch(ps, d, a_srv.url, c_srv.url, rate=args.rate, limiter=True, cache=True,
                                         workers=args.workers)
        outbound = a_srv.count() + c_srv.count() - before
        hits = sum(c.cache_hit for c in log2.calls)
        print(f"[4] cached re-run (limiter on): {len(log2.calls)} calls, {hits} cache hits, {outbound} outbound, "
              f"{wall2:.2f} s = {len(log2.calls) / wall2:.0f} calls/s, failed={failed2}")
    a_srv.close()
    c_srv.close()
    if args.comps_scale:
        bench_comps(args.comps_scale)


if __name__ == "__main__":
    main()
