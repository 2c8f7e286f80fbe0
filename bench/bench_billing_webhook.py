"""What one Stripe event costs the webhook (api/v1/billing.py without its HTTP layer): the
signature check and parse (`stripe.Webhook.construct_event`) and `billing.handle_event` in one
transaction as the owner, on a scratch database. Three kinds, measured alternately: a
subscription update that changes the plan (the most writes: event claim, billing row, two audit
rows, the plan), the same event replayed (claim refused: nothing else), and a failed payment.
Wall, this process's CPU and the PostgreSQL backend's CPU (from /proc: the server on this
machine) per event, medians.

    PYTHONPATH=. python bench/bench_billing_webhook.py --events 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2
import stripe

from realestate_assets.accounts import billing
from tests.databases import create_tenant, psycopg2_dsn, scratch_database

SECRET = "whsec_bench"
PRICES = {"professional": "price_pro", "enterprise": "price_ent"}


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def signed(event: dict[str, Any]) -> tuple[str, str]:
    body = json.dumps(event)
    return body, stripe.WebhookSignature.generate_signature_header(body, SECRET)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp) / "pg", prefix="reos_billing_bench") as url:
        tenant = create_tenant(url, "bench-billing")
        conn = psycopg2.connect(psycopg2_dsn(url))
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO billing_accounts (tenant_id, customer_id) VALUES (%s, 'cus_bench')", (tenant,))
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        found: dict[str, list[tuple[float, float, float]]] = {"plan_changed": [], "duplicate": [], "recorded": []}
        start = int(time.time()) - 10 * args.events
        for i in range(args.events):
            sub = {"id": "sub_bench", "object": "subscription", "customer": "cus_bench", "status": "active",
                   "items": {"data": [{"price": {"id": "price_pro" if i % 2 else "price_ent"},
                                       "current_period_end": 1_800_000_000}]}}
            update = {"id": f"evt_u{i}", "type": "customer.subscription.updated", "created": start + 3 * i,
                      "data": {"object": sub}}
            failed = {"id": f"evt_f{i}", "type": "invoice.payment_failed", "created": start + 3 * i + 1,
                      "data": {"object": {"id": f"in_{i}", "customer": "cus_bench"}}}
            for event in (update, update, failed):
                body, header = signed(event)
                wall, cpu, server = time.perf_counter(), time.process_time(), backend_cpu(pid)
                payload = stripe.Webhook.construct_event(body, header, SECRET).to_dict()
                with conn, conn.cursor() as cur:
                    _, outcome = billing.handle_event(cur, payload, PRICES, lambda _: {})
                found[outcome].append((time.perf_counter() - wall, time.process_time() - cpu,
                                       backend_cpu(pid) - server))
        conn.close()
    print(f"load {Path('/proc/loadavg').read_text().split()[:3]}, {args.events} events of each kind")
    for outcome, rows in found.items():
        wall, cpu, server = (statistics.median(r[k] for r in rows) * 1000 for k in range(3))
        total_server = sum(r[2] for r in rows) / len(rows) * 1000
        print(f"{outcome:13s} n={len(rows):4d}  wall {wall:.2f} ms  process CPU {cpu:.2f} ms  "
              f"PostgreSQL CPU median {server:.2f} ms, mean {total_server:.2f} ms")


if __name__ == "__main__":
    main()
