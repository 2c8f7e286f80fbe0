"""Prometheus metrics served by the API at `/metrics` — the `reos_*` contract that
deploy/monitoring (PrometheusRule, Grafana dashboard) and docs/deployment/monitoring.md use.

* `reos_http_request_duration_seconds{route, method, status}` — histogram of request latency,
  observed by the API's ASGI layer (api/layer.py). `route` is the route template (`/objects/{key}`),
  never the raw path, so a scanner probing random URLs cannot blow up the series count (unmatched →
  `<unmatched>`).
* `reos_webhook_events_total{provider, event}` — provider events received in signature-checked
  webhook requests (this process, since it started).
* `reos_emails{tenant, provider, status}` and `reos_table_last_write_age_seconds{county, table}` — gauges
  read from the warehouse at scrape time by `WarehouseCollector` (two grouped queries). Every API
  replica reports the same warehouse values, so rules aggregate them with `max`, not `sum`.
* `reos_warehouse_up` — 0 when that read failed, so missing data gauges are not mistaken for
  "nothing is stale".
* `reos_api_response_cache_lookups_total{result}` and `reos_api_response_cache_bytes` — the
  process's response cache of property lists and details (api/v1/response_cache.py): lookups that
  found a body (`hit`) or computed one (`miss`), and the bodies' size now.

Each app gets its own `CollectorRegistry` (not the process-global one): two apps in one process
(tests) never collide. No Dagster here: the API reads the warehouse, the same tables Dagster writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from realestate_assets.outreach.events import ALIVE, SUPPRESSING

log = logging.getLogger(__name__)

# The county-partitioned tables of the pipeline (one per asset, from discovery to outreach).
PIPELINE_TABLES = ("prospects", "enrichment", "features", "scores", "packets", "emails")
# The `emails.status` values (CHECK constraint emails_status_check, migration 0004). Every one is
# reported for every tenant and provider, 0 included, so a status that first appears still shows as an increase.
EMAIL_STATUSES = ("pending", "sending", "sent", "failed", "bounced", "suppressed")
# SendGrid's event types; anything else is counted as `other` (bounded label values).
WEBHOOK_EVENTS = ALIVE | SUPPRESSING | {"dropped", "group_resubscribe"}
UNMATCHED_ROUTE = "<unmatched>"
# A scrape must never hang on a busy warehouse: Prometheus' default scrape timeout is 10 s.
STATEMENT_TIMEOUT_MS = 5000
# Webhooks and unsubscribes should be fast; anything past 10 s is just "too slow".
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

EMAILS_SQL = "SELECT tenant_id, provider, status, count(*) FROM emails GROUP BY tenant_id, provider, status"
# Ages computed by the database clock (no skew between API pod and database). `updated_at` is
# kept by a trigger and is never older than `created_at`; the writes touch only rows whose values
# changed, so this is the age of the newest *change*, not of the last materialization.
AGE_SQL = " UNION ALL ".join(
    f"SELECT '{table}', county, extract(epoch FROM now() - max(updated_at)) FROM {table} GROUP BY county"
    for table in PIPELINE_TABLES)


class WarehouseCollector(Collector):
    """Email counts by status and the age of each county's newest row per table, read at scrape time."""

    def __init__(self, warehouse: Callable[[], Any]) -> None:
        self._warehouse = warehouse  # called per scrape: the API builds its warehouse lazily

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to query when the collector is registered

    def collect(self) -> Iterator[Metric]:
        emails = GaugeMetricFamily("reos_emails", "Emails in the warehouse by current status (all time).",
                                   labels=["tenant", "provider", "status"])
        ages = GaugeMetricFamily(
            "reos_table_last_write_age_seconds",
            "Seconds since a row of this county's partition of this table was last written or changed.",
            labels=["county", "table"])
        up = GaugeMetricFamily("reos_warehouse_up", "1 if this scrape could read the warehouse, else 0.")
        try:
            with self._warehouse().transaction() as conn, conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                cur.execute(EMAILS_SQL)
                email_rows = cur.fetchall()
                cur.execute(AGE_SQL)
                age_rows = cur.fetchall()
        except Exception:  # a broken scrape must not take the request metrics down with it
            log.warning("metrics: could not read the warehouse", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        counts = {(tenant, provider, status): n for tenant, provider, status, n in email_rows}
        for sender in sorted({(tenant, provider) for tenant, provider, _ in counts}):
            for status in EMAIL_STATUSES:
                emails.add_metric([*sender, status], counts.get((*sender, status), 0))
        for table, county, age in age_rows:
            ages.add_metric([county, table], max(float(age), 0.0))
        up.add_metric([], 1)
        yield from (emails, ages, up)


class ResponseCacheCollector(Collector):
    """The response cache's counts, read at scrape time (the cache counts under its own lock)."""

    def __init__(self, responses: Callable[[], Any]) -> None:
        self._responses = responses  # called per scrape: the API builds its cache lazily

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        stats = self._responses().stats()
        lookups = CounterMetricFamily("reos_api_response_cache_lookups",
                                      "Property list/detail lookups in this process's response cache, by result.",
                                      labels=["result"])
        lookups.add_metric(["hit"], stats["hits"])
        lookups.add_metric(["miss"], stats["misses"])
        size = GaugeMetricFamily("reos_api_response_cache_bytes", "Bytes of bodies in this process's response cache.")
        size.add_metric([], stats["bytes"])
        yield from (lookups, size)


def route_template(scope: Scope) -> str:
    """The matched route's template, with any `include_router(prefix=...)` in front of it."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return UNMATCHED_ROUTE
    # The route knows only its own path; recover an include prefix from the real path.
    path = scope.get("path", "")
    try:
        rendered = template.format(**scope.get("path_params", {}))
    except (KeyError, IndexError, ValueError):
        return template
    return path[: len(path) - len(rendered)] + template if path.endswith(rendered) else template


class ApiMetrics:
    """The API's metrics: its own registry, the request histogram, the webhook counter and the
    warehouse collector. `app.py` wires `observe` (through api/layer.py), `endpoint` and `webhook_events`."""

    def __init__(self, warehouse: Callable[[], Any], responses: Callable[[], Any] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.request_duration = Histogram(
            "reos_http_request_duration_seconds", "API request latency by route template, method and status.",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.webhook_events_total = Counter(
            "reos_webhook_events", "Provider events received in signature-checked webhook requests.",
            ["provider", "event"], registry=self.registry)
        self.registry.register(WarehouseCollector(warehouse))
        if responses is not None:
            self.registry.register(ResponseCacheCollector(responses))

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """One HTTP request answered `status` (500 when the app raised before answering) after
        `seconds`; called by the API's ASGI layer (api/layer.py) once the request is done."""
        route = route_template(scope)
        if status == 404 and route.startswith("/{"):
            # A root catch-all (the dashboard's client routes) that found nothing: a path
            # nothing serves, like any unmatched one (scanners' paths stay out of the labels).
            route = UNMATCHED_ROUTE
        self.request_duration.labels(route, scope["method"], str(status)).observe(seconds)

    def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def webhook_events(self, provider: str, events: list[Any]) -> None:
        for event in events:
            kind = event.get("event") if isinstance(event, dict) else None
            self.webhook_events_total.labels(provider, kind if kind in WEBHOOK_EVENTS else "other").inc()
