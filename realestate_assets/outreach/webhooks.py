"""Outgoing webhooks: a tenant's endpoints hear about new deals and sent campaigns.

Signed per the Standard Webhooks spec (the `standardwebhooks` package): headers `webhook-id` (the
same on every attempt of one delivery, for the receiver to de-duplicate), `webhook-timestamp` and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the endpoint's
`whsec_…` secret). Body: `{"type", "timestamp", "data"}`.

Durable, not in-process, retries: every event is a `webhook_deliveries` row per endpoint (unique on
the event key: a re-run never enqueues twice) that `deliver_due` sends when due. A failed attempt
(no answer, a timeout, any non-2xx) is logged on the row and rescheduled along `RETRY_SCHEDULE`;
after the last one the delivery is `failed`. A 410 Gone switches the endpoint off (its other
deliveries wait, pending, until an admin switches it back on). Each attempt has
a short timeout and each tick a time budget, so a dead endpoint never holds anything up. Runs as
the database owner (the sensor), across tenants; the API's routes see one tenant's rows only.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

# search.match: outreach/search_alerts.py; quota.warning: accounts/quota_notices.py
EVENT_TYPES = ("deal.new", "campaign.sent", "search.match", "quota.warning", "ping")
# Wait after attempt n (1-based) before attempt n+1: Svix's schedule, the Standard Webhooks
# reference implementation's, shortened at the tail — about a day from first try to giving up.
RETRY_SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                  timedelta(hours=5), timedelta(hours=10))
ATTEMPT_TIMEOUT_S = 10.0
USER_AGENT = "RealEstateOS-Webhooks/1"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def url_problem(url: str, *, local: bool) -> str | None:
    """Why an endpoint URL is refused (None: fine). Outside a plain local installation only HTTPS
    to a public host: a webhook must not become a way to reach the cluster's own addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "an http(s) URL with a host"
    if local:
        return None
    if parts.scheme != "https":
        return "https only"
    host = parts.hostname.lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".svc", ".cluster.local")):
        return f"{host} is not a public host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return f"{host} is not a public address"
    return None


def payload(event_type: str, data: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    return {"type": event_type, "timestamp": (now or datetime.now(UTC)).isoformat(), "data": data}


def signed_headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, now, body),
            "content-type": "application/json", "user-agent": USER_AGENT}


# ---- enqueueing -------------------------------------------------------------------------------

ENQUEUE_SQL = """
INSERT INTO webhook_deliveries (tenant_id, endpoint_id, message_id, event_type, event_key, payload, next_attempt_at)
SELECT e.tenant_id, e.id, 'msg_' || md5(e.id::text || ':' || %(key)s), %(type)s, %(key)s, %(payload)s::jsonb, now()
FROM webhook_endpoints e
WHERE e.tenant_id = %(tenant)s AND e.is_active AND {which}
ON CONFLICT (endpoint_id, event_key) DO NOTHING
"""


def enqueue(cur: Any, tenant_id: str, event_type: str, event_key: str, data: dict[str, Any],
            endpoint_id: int | None = None) -> int:
    """One pending delivery per active endpoint of the tenant that takes `event_type` (or to
    `endpoint_id` alone, whatever it takes: a ping); an event key already enqueued for an endpoint
    is not enqueued again. The message id is derived from endpoint and key, so it is stable too.
    Rows enqueued."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    which = "e.id = %(endpoint)s" if endpoint_id is not None else "%(type)s = ANY(e.event_types)"
    cur.execute(ENQUEUE_SQL.format(which=which), {"tenant": tenant_id, "type": event_type, "key": event_key,
                                                "payload": json.dumps(payload(event_type, data)),
                                                "endpoint": endpoint_id})
    return cur.rowcount


# Rows are read from a while before the cursor: a write transaction stamps its rows with its start
# time, so one that commits after a later one has already moved the cursor would otherwise be
# missed. Re-reading costs little (the event keys make a second enqueue a no-op).
LOOKBACK = timedelta(hours=1)

# New deals: scores at or above the packet threshold in a county the tenant follows, written after
# the endpoint was created (a new endpoint is not flooded with history) and after the cursor.
NEW_DEALS_SQL = """
SELECT sub.tenant_id, s.county, s.prospect_key, p.id, p.address, p.city, p.state, p.zip,
       s.bird_dog_score, s.estimated_value, s.value_gap_pct, s.updated_at
FROM scores s
JOIN subscriptions sub ON sub.county = s.county
JOIN prospects p ON p.county = s.county AND p.prospect_key = s.prospect_key
WHERE s.bird_dog_score >= %(threshold)s AND s.updated_at > %(since)s
  AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.tenant_id = sub.tenant_id AND e.is_active
              AND 'deal.new' = ANY(e.event_types) AND e.created_at <= s.updated_at)
"""

# Campaign sends: a (tenant, county, campaign, day) whose emails are all settled, changed since the cursor.
CAMPAIGN_SENDS_SQL = """
SELECT tenant_id, county, campaign, created_at::date AS day, max(updated_at) AS changed,
       count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'suppressed') AS suppressed,
       count(*) FILTER (WHERE status = 'bounced') AS bounced
FROM emails
WHERE updated_at > %(since)s
  AND tenant_id IN (SELECT tenant_id FROM webhook_endpoints WHERE is_active AND 'campaign.sent' = ANY(event_types))
GROUP BY 1, 2, 3, 4
HAVING count(*) FILTER (WHERE status IN ('pending', 'sending')) = 0
"""


def enqueue_events(cur: Any, *, threshold: float, since: datetime | None,
                   public_base_url: str | None) -> tuple[int, datetime | None]:
    """Enqueue deal.new, campaign.sent and search.match events for what changed after `since` (None: ever);
    the number enqueued and the new cursor (the newest change seen)."""
    cursor = since
    enqueued = 0
    read_from = since - LOOKBACK if since is not None else datetime(1970, 1, 1, tzinfo=UTC)
    cur.execute(NEW_DEALS_SQL, {"threshold": threshold, "since": read_from})
    for (tenant, county, key, property_id, address, city, state, zip_code, score, value, gap,
         changed) in cur.fetchall():
        data = {"county": county, "property_id": property_id, "prospect_key": key, "address": address,
                "city": city, "state": state, "zip": zip_code, "bird_dog_score": score,
                "estimated_value": value, "value_gap_pct": gap,
                "url": f"{public_base_url.rstrip('/')}/properties/{property_id}" if public_base_url else None}
        enqueued += enqueue(cur, tenant, "deal.new", f"deal.new:{county}:{key}", data)
        cursor = changed if cursor is None else max(cursor, changed)
    cur.execute(CAMPAIGN_SENDS_SQL, {"since": read_from})
    for tenant, county, campaign, day, changed, sent, failed, suppressed, bounced in cur.fetchall():
        data = {"county": county, "campaign": campaign, "date": day.isoformat(), "sent": sent, "failed": failed,
                "suppressed": suppressed, "bounced": bounced}
        # Keyed by the counts too: emails added to the same day later make a new event.
        key = f"campaign.sent:{county}:{campaign}:{day.isoformat()}:{sent}:{failed}:{suppressed}:{bounced}"
        enqueued += enqueue(cur, tenant, "campaign.sent", key, data)
        cursor = changed if cursor is None else max(cursor, changed)
    from realestate_assets.outreach.search_alerts import enqueue_search_matches  # reads the API's filter parser

    matched, changed = enqueue_search_matches(cur, since=read_from, public_base_url=public_base_url, enqueue=enqueue)
    enqueued += matched
    if changed is not None:
        cursor = changed if cursor is None else max(cursor, changed)
    return enqueued, cursor


# ---- delivering -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


DUE_SQL = """
SELECT d.id, d.message_id, d.payload, d.attempts, e.url, e.secret, e.id
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.is_active
ORDER BY d.next_attempt_at, d.id
LIMIT %s
FOR UPDATE OF d SKIP LOCKED
"""


def post(client: httpx.Client, url: str, body: str, headers: dict[str, str]) -> tuple[int | None, str | None]:
    try:
        response = client.post(url, content=body.encode(), headers=headers, timeout=ATTEMPT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:300]}"


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When attempt `attempts + 1` is due, None when the schedule is spent."""
    return now + RETRY_SCHEDULE[attempts - 1] if attempts <= len(RETRY_SCHEDULE) else None


def deliver_due(conn: Any, *, client: httpx.Client | None = None, budget_s: float = 20.0, batch: int = 50,
                clock: Callable[[], float] = time.monotonic) -> list[Attempt]:
    """Send what is due, a batch per transaction, until nothing is due or the time budget is
    spent. Each row is locked while it is sent (SKIP LOCKED: two sensors never send one twice)."""
    own = client is None
    client = client or httpx.Client(follow_redirects=False)
    started = clock()
    done: list[Attempt] = []
    # Endpoints that answered 410 or did not answer at all in this call: their other rows wait for
    # a later call, so one dead endpoint costs one attempt (≤ ATTEMPT_TIMEOUT_S) per call and never
    # the budget of every other tenant's deliveries.
    skip: set[int] = set()
    try:
        while clock() - started < budget_s:
            with conn.cursor() as cur:
                cur.execute(DUE_SQL, (batch,))
                rows = cur.fetchall()
                for delivery_id, message_id, body_json, attempts, url, secret, endpoint_id in rows:
                    if endpoint_id in skip:
                        continue
                    body = json.dumps(body_json)
                    now = datetime.now(UTC)
                    status, error = post(client, url, body, signed_headers(secret, message_id, body, now))
                    done.append(Attempt(delivery_id, status, error))
                    _record(cur, delivery_id, endpoint_id, attempts + 1, status, error, now)
                    if status is None or status == 410:
                        skip.add(endpoint_id)
                    if clock() - started >= budget_s:
                        break
            conn.commit()
            if len(rows) < batch or all(row[6] in skip for row in rows):
                break
    finally:
        if own:
            client.close()
    return done


def _record(cur: Any, delivery_id: int, endpoint_id: int, attempts: int, status: int | None, error: str | None,
            now: datetime) -> None:
    if status is not None and 200 <= status < 300:
        cur.execute("UPDATE webhook_deliveries SET status = 'delivered', attempts = %s, last_status_code = %s, "
                    "last_error = NULL, delivered_at = %s, next_attempt_at = NULL WHERE id = %s",
                    (attempts, status, now, delivery_id))
        return
    due = None if status == 410 else next_attempt(attempts, now)
    cur.execute("UPDATE webhook_deliveries SET status = %s, attempts = %s, last_status_code = %s, last_error = %s, "
                "next_attempt_at = %s WHERE id = %s",
                ("pending" if due else "failed", attempts, status, error, due, delivery_id))
    if status == 410:  # the receiver says the endpoint is gone for good
        cur.execute("UPDATE webhook_endpoints SET is_active = false, disabled_reason = %s WHERE id = %s",
                    ("the endpoint answered 410 Gone", endpoint_id))


def message_id_for(endpoint_id: int, event_key: str) -> str:
    """The id ENQUEUE_SQL gives a delivery (md5 in SQL; the same here, for tests and tools)."""
    import hashlib

    return "msg_" + hashlib.md5(f"{endpoint_id}:{event_key}".encode()).hexdigest()


def ping_key() -> str:
    return f"ping:{uuid.uuid4().hex}"


def delivery_summary(attempts: Iterable[Attempt]) -> dict[str, int]:
    attempts = list(attempts)
    return {"attempted": len(attempts), "delivered": sum(a.ok for a in attempts),
            "failed": sum(not a.ok for a in attempts)}
