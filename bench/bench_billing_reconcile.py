"""What the daily billing reconciliation costs (accounts/billing.reconcile): N tenants with a
Stripe customer and an active subscription, on a scratch database, against tests/fake_stripe.py
on a local HTTP server through the real `stripe` SDK. Run 1 heals every tenant (free →
professional: the billing row, two audit rows, the plan); run 2 finds nothing to do (the daily
steady state: one list request and one locked read per tenant). Wall, this process's CPU (the
fake Stripe server's threads included) and the PostgreSQL backend's CPU (from /proc: the
server on this machine), per run and per tenant.

    PYTHONPATH=. python bench/bench_billing_reconcile.py --tenants 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.bench_billing_webhook import backend_cpu
from realestate_assets.accounts import billing
from realestate_assets.db.warehouse import Warehouse
from tests.databases import create_tenant, psycopg2_dsn, scratch_database
from tests.fake_stripe import API_KEY, FakeStripe
from tests.local_http import base_url, serve

PRICES = {"professional": "price_pro", "enterprise": "price_ent"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=200)
    args = parser.parse_args()
    fake = FakeStripe()
    server = serve(fake)
    client = billing.stripe_client(API_KEY, base_url(server))
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp) / "pg", prefix="reos_reconcile_bench") as url:
        conn = psycopg2.connect(psycopg2_dsn(url))
        with conn, conn.cursor() as cur:
            for i in range(args.tenants):
                tenant = create_tenant(url, f"bench-rec-{i}")
                cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
                cur.execute("INSERT INTO billing_accounts (tenant_id, customer_id) VALUES (%s, %s)",
                            (tenant, f"cus_bench{i}"))
                fake.subscription(f"sub_bench{i}", f"cus_bench{i}", "price_pro", tenant_id=tenant)
        conn.close()
        warehouse = Warehouse(url, pool_size=1, max_overflow=0)  # one backend: its /proc counter is the server's
        with warehouse.transaction() as c, c.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        print(f"load {Path('/proc/loadavg').read_text().split()[:3]}, {args.tenants} tenants")
        for label in ("heal", "steady"):
            wall, cpu, pg = time.perf_counter(), time.process_time(), backend_cpu(pid)
            results = billing.reconcile(warehouse, client, PRICES, f"reconcile:bench-{label}")
            wall, cpu, pg = time.perf_counter() - wall, time.process_time() - cpu, backend_cpu(pid) - pg
            n = len(results)
            print(f"{label:7s} {billing.reconcile_summary(results)}  wall {wall:.2f} s "
                  f"({wall / n * 1000:.1f} ms/tenant)"
                  f"  process CPU {cpu:.2f} s ({cpu / n * 1000:.1f} ms)  PostgreSQL CPU {pg:.2f} s "
                  f"({pg / n * 1000:.1f} ms)")
        warehouse.dispose()
    server.stop()


if __name__ == "__main__":
    main()
