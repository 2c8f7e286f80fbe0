"""Provider events and opt-outs applied to the warehouse. No Dagster, no web framework.

`record_events` takes the SendGrid event webhook's JSON array (already signature-checked by
the API): each event is stored once (`sg_event_id` is unique), then moves its email along
(`sending` → `sent` on the first sign of life, `bounced`), stamps delivered/opened/clicked, and
turns bounce, spamreport, unsubscribe and group_unsubscribe into a suppression — which the
next send checks before it calls the provider.

A signed batch is the provider's, but one event in it can still be malformed (no id, a
timestamp that is NaN, 1e30, negative or far in the future, a NUL byte): that event lands in
`rejects` (asset `email_events`, source `sendgrid_webhook`) with its reason and payload, inside
its own savepoint, while the rest of the batch applies.

Both entry points run as the API role (`db.tenancy.act_as_api`), scoped to one tenant at a time,
so they work when the API's login is a bare `reos_api` role: the webhook learns each event's
tenant first through SECURITY DEFINER functions (migration 0016: the email's tenant, else the
tenant the event names when it exists), the unsubscribe link names its tenant in its signed token.

An event that names neither an email of ours nor a tenant that exists (another sender's mail on
the same SendGrid account, an email whose tenant was deleted) is *unplaced*: it is recorded under
no tenant — no event row, no suppression, no reject in some tenant's name — but in `rejects` with
tenant_id NULL and the reason (UNPLACED), and the batch is still answered 2xx so SendGrid does not
retry it (row-level security admits that one tenant-less row for the API role: migration 0048).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from realestate_assets.db.tenancy import TENANT_ID, act_as_api, set_tenant
from realestate_assets.db.warehouse import to_json

SUPPRESSING = {"bounce", "spamreport", "unsubscribe", "group_unsubscribe"}
ALIVE = {"processed", "delivered", "deferred", "open", "click"}
# Event timestamps outside [EARLIEST_EVENT_TIME, now + MAX_EVENT_SKEW_S] are refused: SendGrid
# stamps an event when it happens (retries resend the original time, for up to 24 h), so a time
# before the provider could have sent our mail or a day ahead of our clock is not a real event.
EARLIEST_EVENT_TIME = 946_684_800.0  # 2000-01-01T00:00:00Z
MAX_EVENT_SKEW_S = 86_400.0
# `sg_event_id` is "a string up to 100 characters" (SendGrid Event Webhook docs); `event` is a short name.
MAX_EVENT_ID_CHARS = 100
MAX_EVENT_NAME_CHARS = 64
REJECT_ASSET, REJECT_SOURCE = "email_events", "sendgrid_webhook"
UNPLACED = ("no tenant: the event names no email of ours (reos_email_id) and no tenant that exists "
            "(reos_tenant); recorded under none")
STAMPS = {"delivered": "delivered_at", "open": "opened_at", "click": "clicked_at", "bounce": "bounced_at",
          "unsubscribe": "unsubscribed_at", "group_unsubscribe": "unsubscribed_at", "spamreport": "unsubscribed_at"}


def suppress(cur: Any, tenant_id: str, email: str, reason: str, source: str) -> bool:
    """Add an address to the tenant's suppression list; True when it was not there yet."""
    cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (tenant_id, email) DO NOTHING RETURNING id",
                (tenant_id, email.strip().lower(), reason, source))
    return cur.fetchone() is not None


def unsubscribe(conn: Any, tenant_id: str, email: str, source: str) -> bool:
    """One-click or link unsubscribe, scoped to the token's tenant (False: no such tenant)."""
    with conn.cursor() as cur:
        act_as_api(cur, tenant_id)
        cur.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant_id,))
        if cur.fetchone() is None:
            return False
        added = suppress(cur, tenant_id, email, "unsubscribe", source)
        cur.execute("UPDATE emails SET unsubscribed_at = now() "
                    "WHERE tenant_id = %s AND recipient_email = %s AND unsubscribed_at IS NULL",
                    (tenant_id, email.strip().lower()))
        # A repeated click (or the scanner and the person both posting) changes nothing: no
        # second audit row. Same rule as accounts.store.audit: the trail records changes.
        if added or cur.rowcount:
            cur.execute("INSERT INTO audit_log (tenant_id, actor, action, entity, entity_key, details) "
                        "VALUES (%s, 'recipient', 'unsubscribe', 'suppressions', %s, %s)",
                        (tenant_id, email.strip().lower(), json.dumps({"source": source})))
    return added


def _email_id(event: dict[str, Any]) -> int | None:
    value = event.get("reos_email_id") or (event.get("custom_args") or {}).get("reos_email_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def event_time(value: Any, now: float) -> datetime:
    """The event's time, or ValueError saying why it is not one (NaN, inf, 1e30, negative, far
    future, not a number). A missing time is an error too: SendGrid always sends one."""
    if value is None:
        raise ValueError("timestamp missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"timestamp is not a number: {type(value).__name__}")
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"timestamp is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"timestamp is not finite: {str(value)[:40]!r}")
    if seconds < EARLIEST_EVENT_TIME:
        raise ValueError(f"timestamp {seconds:.0f} is before 2000-01-01")
    if seconds > now + MAX_EVENT_SKEW_S:
        raise ValueError(f"timestamp {seconds:.0f} is more than {MAX_EVENT_SKEW_S:.0f} s in the future")
    return datetime.fromtimestamp(seconds, UTC)


def event_problem(event: Any, now: float) -> str | None:
    """Why one webhook event cannot be applied, or None. Pure: the reasons land in `rejects`."""
    if not isinstance(event, dict):
        return f"event is a JSON {type(event).__name__}, not an object"
    event_id, kind = event.get("sg_event_id"), event.get("event")
    if not isinstance(event_id, str) or not event_id:
        return "sg_event_id missing or not a string"
    if len(event_id) > MAX_EVENT_ID_CHARS:
        return f"sg_event_id longer than {MAX_EVENT_ID_CHARS} characters"
    if not isinstance(kind, str) or not kind:
        return "event missing or not a string"
    if len(kind) > MAX_EVENT_NAME_CHARS:
        return f"event name longer than {MAX_EVENT_NAME_CHARS} characters"
    if _has_nul(event):
        return "contains a NUL character"
    try:
        event_time(event.get("timestamp"), now)
    except ValueError as exc:
        return str(exc)
    return None


def reject_event(cur: Any, tenant_id: str | None, event: Any, reason: str) -> None:
    """One event of a signed batch that is not applied, kept with its reason (NUL and NaN made
    storable): malformed (its tenant's reject), or unplaced (`tenant_id` None)."""
    ref = event.get("sg_event_id") if isinstance(event, dict) else None
    cur.execute("INSERT INTO rejects (tenant_id, county, asset, source, source_ref, raw_payload, reason) "
                "VALUES (%s, '', %s, %s, %s, %s, %s)",
                (tenant_id, REJECT_ASSET, REJECT_SOURCE,
                 str(ref).replace("\x00", "")[:200] if ref is not None else None, to_json(event), reason[:500]))


def record_events(conn: Any, events: list[Any], now: float | None = None) -> Counter:
    """Apply a batch: `recorded`, `duplicate`, `rejected` (in `rejects`; `unplaced` of them with no
    tenant), `reconciled`, `suppressed`."""
    counts: Counter = Counter()
    now = time.time() if now is None else now
    with conn.cursor() as cur:
        act_as_api(cur, None)
        owners = _email_tenants(cur, events)
        named = {e["reos_tenant"] for e in events if isinstance(e, dict) and isinstance(e.get("reos_tenant"), str)
                 and TENANT_ID.match(e["reos_tenant"])}  # a tenant id, never a NUL or 10 kB of text
        cur.execute("SELECT reos_known_tenants(%s)", (sorted(named),))
        tenants = {r[0] for r in cur.fetchall()}
        for event in events:
            email_id = _email_id(event) if isinstance(event, dict) else None
            # Scoped to the event's tenant before its savepoint: a rollback keeps the scope for the reject.
            scope = owners.get(email_id) or _tenant_of(event, tenants)  # type: ignore[arg-type]
            set_tenant(cur, scope)
            problem = event_problem(event, now)
            if scope is None:
                counts["unplaced"] += 1
                problem = f"{problem}; {UNPLACED}" if problem else UNPLACED
            elif problem is None:
                # Its own savepoint: an event the database still refuses is rejected, not the batch.
                cur.execute("SAVEPOINT reos_event")
                try:
                    _apply_event(cur, event, scope, counts)
                    cur.execute("RELEASE SAVEPOINT reos_event")
                    continue
                except (ValueError, OverflowError, conn.DataError, conn.IntegrityError) as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT reos_event")
                    problem = f"not storable: {type(exc).__name__}: {str(exc).strip()[:300]}"
            counts["rejected"] += 1
            reject_event(cur, scope, event, problem)  # scope None: the tenant-less reject (0048)
    return counts


def _email_tenants(cur: Any, events: list[Any]) -> dict[int, str]:
    """{email id: its tenant} for the emails the batch's events name (a definer function: the
    API role sees no email before it knows the tenant)."""
    ids = sorted({i for e in events if isinstance(e, dict) and (i := _email_id(e)) is not None and abs(i) < 2**63})
    if not ids:
        return {}
    cur.execute("SELECT email_id, tenant_id FROM reos_webhook_email_tenants(%s::bigint[])", (ids,))
    return dict(cur.fetchall())


def _tenant_of(event: Any, tenants: set[str]) -> str | None:
    """The tenant an event names, when it exists; None: the event is not placed by its name."""
    named = event.get("reos_tenant") if isinstance(event, dict) else None
    return named if isinstance(named, str) and named in tenants else None


def _apply_event(cur: Any, event: dict[str, Any], tenant: str, counts: Counter) -> None:
    """Apply one well-formed event in the transaction scoped to `tenant` (its email's, else the
    one it names)."""
    kind = event["event"]
    email_id = _email_id(event)
    row = None
    if email_id is not None:
        cur.execute("SELECT tenant_id, county, campaign, recipient_email, status FROM emails WHERE id = %s",
                    (email_id,))
        row = cur.fetchone()
    tenant = row[0] if row else tenant
    occurred = event_time(event["timestamp"], math.inf)  # checked by event_problem
    address = str(event.get("email") or (row[3] if row else "")).strip().lower() or None
    cur.execute(
        "INSERT INTO email_events (tenant_id, email_id, sg_event_id, event, recipient_email, occurred_at, "
        "payload, provider, campaign, county) VALUES (%s, %s, %s, %s, %s, %s, %s, 'sendgrid', %s, %s) "
        "ON CONFLICT (sg_event_id) DO NOTHING RETURNING id",
        (tenant, email_id if row else None, event["sg_event_id"], kind, address, occurred,
         to_json(event), row[2] if row else None, row[1] if row else None))
    if cur.fetchone() is None:
        counts["duplicate"] += 1
        return
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


# What each campaign's emails became: the one definition, for the asset's metadata and the API.
CAMPAIGN_COUNTS = """
       count(*) FILTER (WHERE status IN ('sent', 'bounced')) AS sent,
       count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
       count(*) FILTER (WHERE opened_at IS NOT NULL) AS opened,
       count(*) FILTER (WHERE clicked_at IS NOT NULL) AS clicked,
       count(*) FILTER (WHERE status = 'bounced') AS bounced,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_events v WHERE v.email_id = e.id
                                      AND v.event = 'spamreport')) AS spam_reports,
       count(*) FILTER (WHERE unsubscribed_at IS NOT NULL) AS unsubscribed"""
RATED = ("opened", "clicked", "bounced", "delivered", "unsubscribed", "spam_reports")
CAMPAIGN_RATES_SQL = f"""
SELECT campaign, {CAMPAIGN_COUNTS}
FROM emails e WHERE tenant_id = %s AND county = %s GROUP BY campaign ORDER BY campaign
"""


def with_rates(counts: dict[str, Any]) -> dict[str, Any]:
    """Counts as integers, and each outcome's rate over the emails sent (0 when none were)."""
    ints = {k: int(v or 0) for k, v in counts.items()}
    sent = ints.get("sent", 0)
    return {**ints, **{f"{k}_rate": (round(ints[k] / sent, 4) if sent else 0.0) for k in RATED}}


def campaign_rates(conn: Any, tenant_id: str, county: str) -> dict[str, dict[str, float]]:
    """Per campaign: counts and open / click / bounce rates over the emails sent."""
    with conn.cursor() as cur:
        cur.execute(CAMPAIGN_RATES_SQL, (tenant_id, county))
        columns = [d[0] for d in cur.description]
        out = {}
        for values in cur.fetchall():
            row = dict(zip(columns, values, strict=True))
            campaign = row.pop("campaign")
            out[campaign] = with_rates(row)
        cur.execute("SELECT variant, count(*) FILTER (WHERE status IN ('sent', 'bounced')), "
                    "count(*) FILTER (WHERE opened_at IS NOT NULL) FROM emails WHERE tenant_id = %s AND county = %s "
                    "AND variant IS NOT NULL GROUP BY variant ORDER BY variant", (tenant_id, county))
        variants = {v: {"sent": int(s), "open_rate": round(o / s, 4) if s else 0.0} for v, s, o in cur.fetchall()}
    if variants:
        out["_subject_variants"] = variants
    return out
