"""The API's `/metrics`: real requests against the app, a real warehouse, the scrape parsed with
prometheus_client's own parser — and every metric deploy/monitoring names is in that scrape."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from realestate_assets.api.app import SIGNATURE_HEADER, TIMESTAMP_HEADER, ApiSettings, create_app
from realestate_assets.api.layer import DatabaseSlots, RequestLayer
from realestate_assets.api.metrics import EMAIL_STATUSES, PIPELINE_TABLES, UNMATCHED_ROUTE, ApiMetrics
from realestate_assets.db.warehouse import Warehouse
from tests.databases import county_partitions
from tests.outreach.helpers_outreach import WebhookKeys
from tests.test_deploy import DOCS, MONITORING, documented_reos_metrics, load_all, promql_metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def psql(database_url: str, query: str, params: tuple = ()) -> None:
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        cur.execute(query, params)
    conn.close()


@pytest.fixture
def busy_api(database_url: str, tenant: str) -> Iterator[dict[str, Any]]:
    """An API that served a few requests and a webhook, over a warehouse with this tenant's emails
    and a county (named after the tenant, so no other test's rows share it) written 2 h / 30 min ago."""
    county = f"{tenant}_wa"
    county_partitions(database_url, county)
    for n, status in enumerate(["sent", "sent", "sent", "bounced"]):
        psql(database_url, "INSERT INTO emails (tenant_id, county, campaign, send_key, recipient_email, subject, "
             "status, provider) VALUES (%s, %s, 'daily_digest', %s, %s, 'Deals', %s, 'outbox')",
             (tenant, county, f"k{n}", f"r{n}@example.com", status))
    psql(database_url, "INSERT INTO prospects (county, prospect_key, created_at, updated_at) "
         "VALUES (%s, 'p1', now() - interval '3 hours', now() - interval '2 hours')", (county,))
    psql(database_url, "INSERT INTO scores (county, prospect_key, as_of_date, bird_dog_score, score_rank, "
         "model_version, updated_at) VALUES (%s, 'p1', current_date, 71.5, 1, 'v1', now() - interval '30 minutes')",
         (county,))
    keys = WebhookKeys()
    client = TestClient(create_app(ApiSettings(database_url=database_url, webhook_public_key=keys.public_b64,
                                               unsubscribe_secret="s", link_secret="l")))
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/objects/packets/a.pdf", params={"expires": 1, "signature": "x"}).status_code == 403
    assert client.get("/wp-login.php").status_code == 404
    events = [{"event": kind, "sg_event_id": f"{tenant}-{n}", "timestamp": int(time.time()), "reos_tenant": tenant}
              for n, kind in enumerate(["delivered", "open", "open", "made_up_kind"])]
    body, stamp = json.dumps(events), str(int(time.time()))
    answer = client.post("/webhooks/sendgrid", content=body,
                         headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: keys.sign(body, stamp)})
    assert answer.status_code == 200
    # A forged request is refused and counts no event.
    assert client.post("/webhooks/sendgrid", content=body,
                       headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: WebhookKeys().sign(body, stamp)}
                       ).status_code == 403
    yield {"client": client, "tenant": tenant, "county": county, "samples": scrape(client)}
    client.app.state.reos.warehouse.dispose()


def test_request_latency_is_labelled_by_route_template(busy_api: dict[str, Any]) -> None:
    samples = busy_api["samples"]
    count = "reos_http_request_duration_seconds_count"
    assert value(samples, count, route="/healthz", method="GET", status="200") == 2
    assert value(samples, count, route="/objects/{key}", method="GET", status="403") == 1
    assert value(samples, count, route=UNMATCHED_ROUTE, method="GET", status="404") == 1
    assert value(samples, count, route="/webhooks/sendgrid", method="POST", status="200") == 1
    assert value(samples, count, route="/webhooks/sendgrid", method="POST", status="403") == 1
    # Buckets are cumulative and end at +Inf = count.
    assert value(samples, "reos_http_request_duration_seconds_bucket", route="/healthz", method="GET",
                 status="200", le="+Inf") == 2
    routes = {dict(labels).get("route") for name, labels in samples if name == count}
    assert "/wp-login.php" not in routes and "/objects/packets/a.pdf" not in routes


def test_webhook_events_and_warehouse_gauges(busy_api: dict[str, Any]) -> None:
    samples, tenant, county = busy_api["samples"], busy_api["tenant"], busy_api["county"]
    events = "reos_webhook_events_total"
    assert value(samples, events, provider="sendgrid", event="delivered") == 1
    assert value(samples, events, provider="sendgrid", event="open") == 2
    assert value(samples, events, provider="sendgrid", event="other") == 1  # unknown types stay bounded
    assert value(samples, "reos_emails", tenant=tenant, provider="outbox", status="sent") == 3
    assert value(samples, "reos_emails", tenant=tenant, provider="outbox", status="bounced") == 1
    for status in ("pending", "sending", "failed", "suppressed"):  # every status, 0 included
        assert value(samples, "reos_emails", tenant=tenant, provider="outbox", status=status) == 0
    age = "reos_table_last_write_age_seconds"
    # The database clock measures the age: at least what we wrote, and no test takes an hour.
    assert 2 * 3600 <= value(samples, age, county=county, table="prospects") < 3 * 3600
    assert 1800 <= value(samples, age, county=county, table="scores") < 3600
    assert (age, frozenset({"county": county, "table": "features"}.items())) not in samples  # no rows, no age
    assert value(samples, "reos_warehouse_up") == 1
    # A status moves (sent → bounced): the gauge follows, which a counter could not.
    psql(busy_api["client"].app.state.reos.settings.database_url,
         "UPDATE emails SET status = 'bounced' WHERE tenant_id = %s AND send_key = 'k0'", (tenant,))
    after = scrape(busy_api["client"])
    assert value(after, "reos_emails", tenant=tenant, provider="outbox", status="sent") == 2
    assert value(after, "reos_emails", tenant=tenant, provider="outbox", status="bounced") == 2


def monitoring_metrics() -> set[str]:
    """Every application (reos_*) series the PrometheusRule and the Grafana dashboard query."""
    (rules,) = load_all(MONITORING / "prometheus-rules.yaml")
    exprs = [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return {m for expr in exprs for m in promql_metrics(expr) if m.startswith("reos_")}


def test_every_metric_the_monitoring_uses_is_in_a_scrape(busy_api: dict[str, Any]) -> None:
    """Renaming a metric in code (or in a rule) without the other side fails here."""
    served = {name for name, _ in busy_api["samples"]}
    used = monitoring_metrics()
    assert used, "the rules and dashboard query no application metric?"
    assert used <= served, f"queried but not served: {sorted(used - served)}"
    families = {name.removesuffix(suffix) for name in served for suffix in ("_bucket", "_count", "_sum", "")
                if name.endswith(suffix)}
    documented = documented_reos_metrics()
    assert documented <= families, f"documented in {DOCS / 'monitoring.md'} but not served: {documented - families}"


def test_warehouse_down_keeps_request_metrics_and_says_so() -> None:
    """A scrape while the warehouse is unreachable: request metrics still served, `reos_warehouse_up` 0
    (the rules alert on it instead of silently losing the stale-table alert). And a router included
    with a prefix keeps that prefix in the route label."""
    app = FastAPI()
    metrics = ApiMetrics(lambda: Warehouse("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere?connect_timeout=2"))
    app.add_middleware(RequestLayer, metrics=metrics, slots=DatabaseSlots(lambda: 16), limit_for=lambda path: 1024)
    app.add_api_route("/metrics", metrics.endpoint, methods=["GET"])
    router = APIRouter(prefix="/api/v1")

    @router.get("/counties/{county}/scores/{prospect_id}")
    def score(county: str, prospect_id: int) -> dict[str, str]:
        return {"county": county}

    app.include_router(router, prefix="/t")
    client = TestClient(app)
    assert client.get("/t/api/v1/counties/king_wa/scores/7").status_code == 200
    samples = scrape(client)
    assert value(samples, "reos_warehouse_up") == 0
    assert value(samples, "reos_http_request_duration_seconds_count", method="GET", status="200",
                 route="/t/api/v1/counties/{county}/scores/{prospect_id}") == 1
    assert not any(name in {"reos_emails", "reos_table_last_write_age_seconds"} for name, _ in samples)


def test_the_collector_knows_the_real_statuses_and_tables(database_url: str) -> None:
    from realestate_assets.definitions import CATALOG

    wh = Warehouse(database_url)
    check = wh.scalar("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'emails_status_check'")
    tables = set(wh.frame("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
                 ["table_name"])
    wh.dispose()
    assert sorted(EMAIL_STATUSES) == sorted(re.findall(r"'(\w+)'", check))
    assert set(PIPELINE_TABLES) <= set(CATALOG) and set(PIPELINE_TABLES) <= tables


def test_no_more_database_requests_in_flight_than_connections() -> None:
    """DatabaseSlots: 50 concurrent API requests with 16 connections once stalled every request until
    the pool's 30 s timeout (worker threads waiting for connections held by requests that needed a
    thread to finish; bench/bench_api.py). Requests wait in the event loop instead."""
    import asyncio

    inside, most = [0], [0]

    async def app(scope, receive, send) -> None:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        await asyncio.sleep(0.01)
        inside[0] -= 1

    layer = RequestLayer(app, metrics=ApiMetrics(lambda: None), slots=DatabaseSlots(lambda: 2),
                         limit_for=lambda path: 1024)

    def get(path: str) -> Any:
        return layer({"type": "http", "http_version": "1.1", "method": "GET", "path": path, "headers": []}, None, None)

    async def main() -> None:
        await asyncio.gather(*(get("/api/v1/properties") for _ in range(10)))
        assert most[0] == 2
        most[0] = 0
        await asyncio.gather(*(get(path) for path in ["/healthz", "/assets/index.js", "/properties/3"] * 3))
        assert most[0] == 9  # the probe and the dashboard's files never wait

    asyncio.run(main())
