"""Part 3, failing sources: the enrichment asset against local ATTOM and Census servers (the tests'
fakes, tests/enrich/fakes.py) that fail 30% of requests — 429, 500, 503, a timeout, a truncated
body — and then against a full outage of each outside source in turn.

After each run: every prospect has its enrichment row, enriched or failed with a reason, every
source's status per prospect carries a reason when not ok, and every value a healthy run knew is
still there (fresh from the source again, or kept with its original provenance).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.chaos.common import fresh_county, line, new_tenant, query
from realestate_assets.enrich.provenance import expand
from realestate_assets.enrich.source_statuses import source_status_sql
from realestate_assets.enrich.stored_provenance import provenance_sql

OUTSIDE = ("attom", "census_geocoder", "census_acs")
FAILURES = ("429", "500", "503", "timeout", "truncated")
TIMEOUT_S = 1.0
# Bookkeeping columns: they change with every run by design.
NOT_VALUES = {"id", "county", "prospect_key", "as_of_date", "status", "failure_reason", "provenance",
              "provenance_id", "provenance_record", "source_status", "source_status_id", "created_at", "updated_at"}


class Flaky:
    """Wraps a fake service: a seeded share of requests fails in one of FAILURES; `down` fails all."""

    def __init__(self, app: Callable[[Any], Any], rate: float = 0.0, seed: int = 30) -> None:
        self.app, self.rate, self.down = app, rate, False
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.requests = 0

    def __call__(self, request: Any) -> Any:
        from tests.enrich.fakes import Response

        with self.lock:
            self.requests += 1
            failing = self.down or self.random.random() < self.rate
            kind = "503" if self.down else self.random.choice(FAILURES)
            if failing:
                self.injected[kind] += 1
        if not failing:
            return self.app(request)
        if kind == "429":
            return Response.json({"status": {"code": 429, "msg": "Too Many Requests"}}, 429,
                                 headers={"Retry-After": "0"})
        if kind in ("500", "503"):
            return Response(int(kind), b"<html>Service Unavailable</html>", {"Content-Type": "text/html"})
        if kind == "timeout":
            return Response.json({"late": True}, delay_s=TIMEOUT_S * 1.5)
        full = self.app(request)  # the real answer, cut off in the middle
        body = full.body if isinstance(full.body, bytes) else str(full.body).encode()
        return Response(200, body[: max(len(body) // 2, 1)], {"Content-Type": "application/json"})


def enrichment_rows(url: str) -> dict[str, dict[str, Any]]:
    import psycopg2.extras

    from bench.chaos.common import psycopg2_dsn

    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            # The statuses and the provenance as their documents (migrations 0061, 0063: stored once
            # per county).
            cur.execute(f"SELECT e.*, {source_status_sql('e')} AS source_status, {provenance_sql('e')} AS provenance "
                        "FROM enrichment e WHERE county = 'king_wa'")
            return {row["prospect_key"]: dict(row) for row in cur.fetchall()}
    finally:
        conn.close()


def lost_values(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """(prospect, column) pairs known before and NULL or different now."""
    lost = []
    for key, row in before.items():
        now = after.get(key)
        for column, value in row.items():
            if column in NOT_VALUES or value is None:
                continue
            if now is None or now.get(column) != value:
                lost.append(f"{key}.{column}: {value!r} → {None if now is None else now.get(column)!r}")
    return lost


def unexplained(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Rows that are failed without a reason, or a source not ok without one."""
    out = []
    for key, row in rows.items():
        if row["status"] == "failed" and not row.get("failure_reason"):
            out.append(f"{key}: failed without a reason")
        for source, status in (row.get("source_status") or {}).items():
            if status.get("status") not in ("ok", "no_match", "not_applicable") and not (
                    status.get("reason") or status.get("error") or status.get("detail")):
                out.append(f"{key}: {source} {status.get('status')} without a reason")
    return out


def run(workspace: Path, url: str, *, quick: bool = False) -> bool:
    import dagster as dg

    from realestate_assets.definitions import Deployment, build_definitions, resources_for
    from realestate_assets.settings import LocalSettings
    from resources import SourceCredentialsResource
    from tests.enrich.fakes import ATTOM_KEY, FakeAttom, FakeCensus, LocalServer, attom_record
    from tests.enrich.test_enrichment_asset import ENRICHMENT_AND_INPUTS, configure

    def enrich(deployment: Deployment) -> dg.ExecuteInProcessResult:
        """tests.enrich.test_enrichment_asset.enrich, with Dagster's console quiet."""
        defs = build_definitions(deployment=deployment)
        keys = {dg.AssetKey(k) for k in ENRICHMENT_AND_INPUTS} & set(defs.resolve_all_asset_keys())
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=keys)
        return job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral(),
                                      raise_on_error=False,
                                      run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})

    print("\n=== sources: enrichment with outside sources failing 30%, then each one down", flush=True)
    workspace.mkdir(parents=True, exist_ok=True)
    attom, census = FakeAttom(), FakeCensus()
    flaky = {"attom": Flaky(attom, seed=31), "census": Flaky(census, seed=32)}
    servers = {name: LocalServer(app) for name, app in flaky.items()}
    ok = True
    try:
        config = configure(workspace, servers["attom"].url, servers["census"].url)
        sources = yaml.safe_load((config / "enrichment_sources.yaml").read_text())
        for name in OUTSIDE:  # retries on, no cache: every run asks again
            sources["sources"][name].update(retries=2, timeout_s=TIMEOUT_S, cache_ttl_s=0)
        (config / "enrichment_sources.yaml").write_text(yaml.safe_dump(sources))
        sample = (workspace / "data" / "king_wa_sample.csv").read_text().splitlines()[1:]
        parcels = sorted({row.split(",", 1)[0].strip(".") for row in sample})
        for i, parcel in enumerate(parcels):  # ATTOM knows every parcel of the sample
            record = attom_record(i)
            record["identifier"]["apn"] = parcel
            attom.add(f"parcel {parcel}", record)

        fresh_county(url)  # public county tables: only this part's rows
        tenant = new_tenant(url, "sources")
        base = resources_for("local", LocalSettings(config_dir=config, state_dir=workspace / "state",
                                                    tenant_id=tenant), database_url=url)
        keys = SourceCredentialsResource(attom_api_key=ATTOM_KEY, census_api_key="chaos-census-key")
        deployment = Deployment(base.environment, {**base.resources, "credentials": keys}, base.executor)

        def scenario(name: str, rate: float = 0.0, down: str | None = None) -> tuple[bool, dict[str, Any]]:
            for service, wrapper in flaky.items():
                wrapper.rate, wrapper.down = rate, service == down
                wrapper.injected.clear()
                wrapper.requests = 0
            result: dg.ExecuteInProcessResult = enrich(deployment)
            rows = enrichment_rows(url)
            prospects = int(query(url, "SELECT count(*) FROM prospects WHERE county = 'king_wa'")[0][0])
            statuses = Counter(r["status"] for r in rows.values())
            injected = sum((w.injected for w in flaky.values()), Counter())
            requests = sum(w.requests for w in flaky.values())
            print(f"  {name:<26} run {'ok' if result.success else 'FAILED':<6} {requests:>4} requests, "
                  f"{sum(injected.values()):>3} failed ({', '.join(f'{k} {v}' for k, v in sorted(injected.items()))})"
                  f"; prospects {prospects}: {dict(statuses)}", flush=True)
            return result.success and len(rows) == prospects, rows

        healthy_ok, known = scenario("healthy")
        ok &= healthy_ok
        known_values = sum(1 for row in known.values() for c, v in row.items() if c not in NOT_VALUES and v is not None)
        print(line("values known after the healthy run", known_values))
        plan: list[tuple[str, float, str | None]] = [("30% failing", 0.3, None)]
        if not quick:
            plan.append(("30% failing (again)", 0.3, None))
        plan += [("ATTOM down", 0.0, "attom"), ("Census down", 0.0, "census")]
        total_lost = total_unexplained = 0
        for name, rate, down in plan:
            complete, rows = scenario(name, rate, down)
            lost, unexplained_rows = lost_values(known, rows), unexplained(rows)
            total_lost += len(lost)
            total_unexplained += len(unexplained_rows)
            kept = sum(1 for row in rows.values() for p in expand(row["provenance"]).values()
                       if isinstance(p, dict) and p.get("kept"))
            print(f"    every prospect has a row: {'yes' if complete else 'NO'}; values lost {len(lost)}; "
                  f"kept from an earlier run {kept}; not ok without a reason {len(unexplained_rows)}")
            for problem in (lost + unexplained_rows)[:3]:
                print(f"    ! {problem[:160]}")
            ok &= complete
        print("sources figures:")
        print(line("previously known values lost", total_lost))
        print(line("failures without a reason", total_unexplained))
        return ok and total_lost == 0 and total_unexplained == 0
    finally:
        for server in servers.values():
            server.close()
