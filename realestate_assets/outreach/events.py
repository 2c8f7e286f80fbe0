"""Provider events and opt-outs applied to the warehouse. No Dagster, no web framework.

`record_events` takes the SendGrid event webhook's JSON array (already signature-checked by
the API): each event is stored once (`sg_event_id` is unique), then moves its email along
(`sending` → `sent` on the first sign of life, `bounced`), stamps delivered/opened/clicked, and
turns bounce, spamreport, unsubscribe and group_unsubscribe into a suppression — which the
next send checks before it calls the provider.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

SUPPRESSING = {"bounce", "spamreport", "unsubscribe", "group_unsubscribe"}
ALIVE = {"processed", "delivered", "deferred", "open", "click"}
STAMPS = {"delivered": "delivered_at", "open": "opened_at", "click": "clicked_at", "bounce": "bounced_at",
          "unsubscribe": "unsubscribed_at", "group_unsubscribe": "unsubscribed_at", "spamreport": "unsubscribed_at"}


def suppress(cur: Any, tenant_id: str, email: str, reason: str, source: str) -> bool:
    """Add an address to the tenant's suppression list; True when it was not there yet."""
    cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (tenant_id, email) DO NOTHING RETURNING id",
                (tenant_id, email.strip().lower(), reason, source))
    return cur.fetchone() is not None


def unsubscribe(conn: Any, tenant_id: str, email: str, source: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant_id,))
        if cur.fetchone() is None:
            return False
        added = suppress(cur, tenant_id, email, "unsubscribe", source)
        cur.execute("UPDATE emails SET unsubscribed_at = coalesce(unsubscribed_at, now()) "
                    "WHERE tenant_id = %s AND recipient_email = %s", (tenant_id, email.strip().lower()))
        cur.execute("INSERT INTO audit_log (tenant_id, actor, action, entity, entity_key, details) "
                    "VALUES (%s, 'recipient', 'unsubscribe', 'suppressions', %s, %s)",
                    (tenant_id, email.strip().lower(), json.dumps({"source": source})))
    return added


def _email_id(event: dict[str, Any]) -> int | None:
    value = event.get("reos_email_id") or (event.get("custom_args") or {}).get("reos_email_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def record_events(conn: Any, events: list[dict[str, Any]], default_tenant: str = "default") -> Counter:
    counts: Counter = Counter()
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM tenants")
        tenants = {r[0] for r in cur.fetchall()}
        for event in events:
            if not isinstance(event, dict) or not event.get("sg_event_id") or not event.get("event"):
                counts["invalid"] += 1
                continue
            kind = str(event["event"])
            email_id = _email_id(event)
            row = None
            if email_id is not None:
                cur.execute("SELECT tenant_id, county, campaign, recipient_email, status FROM emails WHERE id = %s",
                            (email_id,))
                row = cur.fetchone()
            tenant = row[0] if row else str(event.get("reos_tenant") or default_tenant)
            if tenant not in tenants:
                tenant = default_tenant
            try:
                occurred = datetime.fromtimestamp(float(event.get("timestamp")), UTC)
            except (TypeError, ValueError):
                occurred = datetime.now(UTC)
            address = str(event.get("email") or (row[3] if row else "")).strip().lower() or None
            cur.execute(
                "INSERT INTO email_events (tenant_id, email_id, sg_event_id, event, recipient_email, occurred_at, "
                "payload, provider, campaign, county) VALUES (%s, %s, %s, %s, %s, %s, %s, 'sendgrid', %s, %s) "
                "ON CONFLICT (sg_event_id) DO NOTHING RETURNING id",
                (tenant, email_id if row else None, str(event["sg_event_id"]), kind, address, occurred,
                 json.dumps(event), row[2] if row else None, row[1] if row else None))
            if cur.fetchone() is None:
                counts["duplicate"] += 1
                continue
            counts["recorded"] += 1
            if row is not None:
                if kind in ALIVE:
                    cur.execute("UPDATE emails SET status = 'sent', sent_at = coalesce(sent_at, %s), error = NULL "
                                "WHERE id = %s AND status = 'sending'", (occurred, email_id))
                    counts["reconciled"] += cur.rowcount
                if kind == "bounce":
                    cur.execute("UPDATE emails SET status = 'bounced', error = %s WHERE id = %s",
                                (str(event.get("reason") or "bounced")[:500], email_id))
                if kind == "dropped":
                    cur.execute("UPDATE emails SET status = 'failed', retryable = false, error = %s "
                                "WHERE id = %s AND status <> 'bounced'",
                                (f"dropped: {event.get('reason') or ''}"[:500], email_id))
                if kind in STAMPS:
                    column = STAMPS[kind]  # fixed names from STAMPS, not from the payload
                    cur.execute(f"UPDATE emails SET {column} = coalesce({column}, %s) WHERE id = %s",
                                (occurred, email_id))
            if kind in SUPPRESSING and address:
                counts["suppressed"] += suppress(cur, tenant, address, kind, "sendgrid_webhook")
    return counts


CAMPAIGN_RATES_SQL = """
SELECT campaign,
       count(*) FILTER (WHERE status IN ('sent', 'bounced')) AS sent,
       count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
       count(*) FILTER (WHERE opened_at IS NOT NULL) AS opened,
       count(*) FILTER (WHERE clicked_at IS NOT NULL) AS clicked,
       count(*) FILTER (WHERE status = 'bounced') AS bounced,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_events v WHERE v.email_id = e.id
                                      AND v.event = 'spamreport')) AS spam_reports,
       count(*) FILTER (WHERE unsubscribed_at IS NOT NULL) AS unsubscribed
FROM emails e WHERE tenant_id = %s AND county = %s GROUP BY campaign ORDER BY campaign
"""


def campaign_rates(conn: Any, tenant_id: str, county: str) -> dict[str, dict[str, float]]:
    """Per campaign: counts and open / click / bounce rates over the emails sent."""
    with conn.cursor() as cur:
        cur.execute(CAMPAIGN_RATES_SQL, (tenant_id, county))
        columns = [d[0] for d in cur.description]
        out = {}
        for values in cur.fetchall():
            row = dict(zip(columns, values, strict=True))
            sent = row["sent"] or 0
            out[row["campaign"]] = {
                **{k: int(v) for k, v in row.items() if k != "campaign"},
                **{f"{k}_rate": (round(row[k] / sent, 4) if sent else 0.0)
                   for k in ("opened", "clicked", "bounced", "delivered", "unsubscribed", "spam_reports")}}
        cur.execute("SELECT variant, count(*) FILTER (WHERE status IN ('sent', 'bounced')), "
                    "count(*) FILTER (WHERE opened_at IS NOT NULL) FROM emails WHERE tenant_id = %s AND county = %s "
                    "AND variant IS NOT NULL GROUP BY variant ORDER BY variant", (tenant_id, county))
        variants = {v: {"sent": int(s), "open_rate": round(o / s, 4) if s else 0.0} for v, s, o in cur.fetchall()}
    if variants:
        out["_subject_variants"] = variants
    return out
