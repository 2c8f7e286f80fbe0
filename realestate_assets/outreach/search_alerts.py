"""Saved-search alerts (issues #11, #12): a new property matching a saved search with `alert` on
becomes a `search.match` event for the tenant's webhook endpoints that take it, and a line in the
digest emailed to the search's owner (below).

The events go the outgoing-webhook path (outreach/webhooks.py, run by the webhooks sensor every 30 s),
durable (a row per endpoint and event, retried on a schedule across ticks, signed per Standard
Webhooks) and idempotent: the event key is
`search.match:<search id>:<county>:<prospect key>`, unique per endpoint, so a property is announced
once per saved search and endpoint whatever re-runs or rescoring happen. A receiver (Slack, Zapier,
the tenant's CRM) turns it into the notification its people read.

"New" means first seen after the saved search was created (an alert never floods with what the
search already showed), and "matching" means the search's own filters, read by the property list's
one parser (`api/v1/property_query.where`), confined to the counties the tenant follows. Properties
are looked at when their score changes (after the sensor's cursor): a property discovered before it
was scored is announced once its score makes it match.

Each match is also emailed to the search's owner (issue #11): a `search_alert_emails` row per search
and property (unique: the same idempotency as the event key) waits as `pending`, and
`send_search_digests` sends one digest per search per sensor tick listing what waits, best score
first, through the account mailer (accounts/notices.py, the one that sends verification links).
The owner's `search_alert` notification preference (GET/PATCH /me/profile) decides whether it goes;
an owner who turned it off, is inactive, unverified or no longer a member gets the rows `skipped`
with the reason (turning it on later does not flood them with old matches). A digest the mailer
refuses stays pending for the next tick.

Both count against the tenant's `properties` quota (accounts/quotas.py, issue #11): a property
counts when the tenant first receives it in the month, through the quotas' one rule. A `search.match`
event is the tenant receiving it (`quotas.receive_property`, via `alert`), so once the month's
properties are used up a new property is not announced by webhook (logged; the event is not
retried: the digest row keeps it). A digest lists what the headroom allows, best-scored first,
properties already received this month free (`quotas.cap`); the rest stay pending and go in a later
digest once there is room (next month, or a bigger plan). Each property listed is then recorded
(`quotas.record_properties`).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from pydantic import ValidationError

from realestate_assets.accounts import quotas
from realestate_assets.accounts.profile import wants
from realestate_assets.api.v1.property_query import FROM, PropertyFilters, where
from realestate_assets.db.tenancy import set_tenant
from realestate_assets.db.warehouse import dict_rows

log = logging.getLogger(__name__)

EVENT = "search.match"

# Every search with alerts on: its owner is emailed whether or not the tenant has webhook endpoints
# (`enqueue` finds no endpoint to deliver to and writes nothing for a tenant without them).
SEARCHES_SQL = """
SELECT ss.id, ss.tenant_id, ss.name, ss.user_id, ss.filters, ss.created_at
FROM saved_searches ss
WHERE ss.alert
ORDER BY ss.tenant_id, ss.id
"""

# A match waits for the owner's next digest; ON CONFLICT: once per search and property, ever.
PENDING_SQL = """
INSERT INTO search_alert_emails (tenant_id, search_id, county, prospect_key) VALUES (%s, %s, %s, %s)
ON CONFLICT (search_id, county, prospect_key) DO NOTHING
"""

MATCH_COLUMNS = ("p.id, p.county, p.prospect_key, p.address, p.city, p.state, p.zip, s.bird_dog_score, "
                 "s.estimated_value, s.value_gap_pct, s.updated_at")


def event_key(search_id: int, county: str, prospect_key: str) -> str:
    return f"{EVENT}:{search_id}:{county}:{prospect_key}"


def matches_sql(filters: PropertyFilters, tenant_id: str, created_at: datetime, since: datetime
                ) -> tuple[str, list[Any]]:
    """New properties (first seen after `created_at`, scored after `since`) matching `filters` in
    the tenant's counties."""
    params: list[Any] = []
    condition = where(filters, params)
    query = (f"SELECT {MATCH_COLUMNS} {FROM} WHERE {condition} "
             "AND p.county IN (SELECT county FROM subscriptions WHERE tenant_id = %s) "
             "AND p.first_seen_at >= %s AND s.updated_at > %s ORDER BY s.updated_at, p.id")
    return query, [*params, tenant_id, created_at, since]


def enqueue_search_matches(cur: Any, *, since: datetime, public_base_url: str | None,
                           enqueue: Any) -> tuple[int, datetime | None]:
    """`search.match` events (and rows for the owner's email digest) for what matched since
    `since`; (deliveries enqueued, newest score change seen). `enqueue` is webhooks.enqueue (passed
    in: that module calls this one). Runs as the table owner across tenants; each search's query is
    scoped to its tenant (`app.tenant_id`, so the tenant-data parts of the filters — review marks,
    the tenant's status — read its rows)."""
    cur.execute(SEARCHES_SQL, (EVENT,))
    searches = cur.fetchall()
    cur.execute("SELECT DISTINCT tenant_id FROM webhook_endpoints WHERE is_active AND %s = ANY(event_types)", (EVENT,))
    listening = {r[0] for r in cur.fetchall()}
    enqueued, newest, refused = 0, None, Counter[str]()
    try:
        for search_id, tenant, name, user_id, filters_json, created_at in searches:
            try:
                filters = PropertyFilters.model_validate(filters_json or {})
            except ValidationError:
                continue  # saved before a filter changed meaning: the API shows it; nothing to match here
            set_tenant(cur, tenant)
            query, params = matches_sql(filters, tenant, created_at, since)
            cur.execute(query, params)
            for property_id, county, key, address, city, state, zip_code, score, value, gap, changed in cur.fetchall():
                data = {"search_id": search_id, "search_name": name, "user_id": user_id, "county": county,
                        "property_id": property_id, "prospect_key": key, "address": address, "city": city,
                        "state": state, "zip": zip_code, "bird_dog_score": score, "estimated_value": value,
                        "value_gap_pct": gap,
                        "url": f"{public_base_url.rstrip('/')}/properties/{property_id}" if public_base_url else None}
                # An event is the tenant receiving the property: counted, or refused past the quota.
                if tenant in listening and quotas.receive_property(cur, tenant, county, key, "alert") is not None:
                    refused[tenant] += 1
                else:
                    enqueued += enqueue(cur, tenant, EVENT, event_key(search_id, county, key), data)
                cur.execute(PENDING_SQL, (tenant, search_id, county, key))
                newest = changed if newest is None else max(newest, changed)
    finally:
        set_tenant(cur, None)
    for tenant, count in refused.items():
        log.warning("tenant %s: %d search.match events not sent: its properties quota of the month is used up",
                    tenant, count)
    return enqueued, newest


# ---- the owner's email digest -----------------------------------------------------------------

# What waits, with what the owner's digest needs; locked (SKIP LOCKED: two sensors never send one
# twice). Runs as the table owner across tenants.
WAITING_SQL = """
SELECT a.id, a.search_id, a.tenant_id, a.county, a.prospect_key, ss.name AS search_name, ss.alert,
       u.email, u.is_active, u.email_verified_at IS NOT NULL AS verified, u.notification_preferences,
       EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = ss.tenant_id AND m.user_id = u.id) AS member,
       t.suspended_at IS NOT NULL AS suspended,
       p.id AS property_id, p.address, p.city, p.state, p.zip, s.bird_dog_score, s.estimated_value
FROM search_alert_emails a
JOIN saved_searches ss ON ss.id = a.search_id
JOIN users u ON u.id = ss.user_id
JOIN tenants t ON t.id = a.tenant_id
LEFT JOIN prospects p ON p.county = a.county AND p.prospect_key = a.prospect_key
LEFT JOIN scores s ON s.county = a.county AND s.prospect_key = a.prospect_key
WHERE a.status = 'pending'
ORDER BY a.search_id, s.bird_dog_score DESC NULLS LAST, a.county, a.prospect_key
FOR UPDATE OF a SKIP LOCKED
"""


def skip_reason(owner: dict[str, Any]) -> str | None:
    """Why a search's owner gets no digest (None: they do). One place for who is emailed."""
    if not owner["alert"]:
        return "alerts were switched off on the search"
    if owner["suspended"]:
        return "the workspace is suspended"
    if not owner["is_active"] or not owner["member"]:
        return "the search's owner is inactive or no longer a member"
    if not owner["verified"]:
        return "the owner's address is not verified"
    if not wants(owner["notification_preferences"], "search_alert"):
        return "the owner turned search alert emails off"
    return None


def within_quota(conn: Any, tenant_id: str, matches: list[dict[str, Any]]) -> quotas.Capped[dict[str, Any]]:
    """The matches a digest may list within the tenant's properties of the month (best-scored
    first; properties it already received this month are free), and those that wait."""
    already: set[tuple[str, str]] = set()
    for county, rows in groupby(sorted(matches, key=lambda m: m["county"]), key=lambda m: m["county"]):
        already |= {(county, k) for k in quotas.received_this_month(conn, tenant_id, county,
                                                                     [m["prospect_key"] for m in rows])}
    return quotas.cap(matches, quotas.headroom(conn, tenant_id, "properties"),
                      score=lambda m: m["bird_dog_score"] if m["bird_dog_score"] is not None else -1.0,
                      free=lambda m: (m["county"], m["prospect_key"]) in already)


def send_search_digests(conn: Any, mail: Any, *, public_base_url: str | None) -> Counter[str]:
    """One email per saved search listing its pending matches, best first (`mail`:
    accounts.notices.AccountMail); each search's rows are marked sent (or skipped, with the reason)
    and committed right after its email, so a later failure never sends it again; the matches past
    the tenant's properties quota stay pending (`within_quota`). Counts of digests `sent`, `skipped`,
    `failed` (left pending for the next tick) and `held` (some or all matches wait for room)."""
    from realestate_assets.outreach.mailer import ProviderError

    done: Counter[str] = Counter()
    with conn.cursor() as cur:
        cur.execute(WAITING_SQL)
        rows = dict_rows(cur)
        for search_id, group in groupby(rows, key=lambda r: r["search_id"]):
            matches = list(group)
            ids = [m["id"] for m in matches]
            reason = skip_reason(matches[0])
            if reason is not None:
                cur.execute("UPDATE search_alert_emails SET status = 'skipped', reason = %s WHERE id = ANY(%s)",
                            (reason, ids))
                done["skipped"] += 1
                conn.commit()
                continue
            room = within_quota(conn, matches[0]["tenant_id"], matches)
            if room.skipped:
                log.warning("saved-search digest %s: %d matches wait for room: %s", search_id, len(room.skipped),
                            room.reason)
                done["held"] += 1
            if not room.kept:
                continue
            try:
                delivery = mail.send_search_digest(matches[0]["search_name"], matches[0]["email"], room.kept,
                                                   base_url=public_base_url)
            except ProviderError as exc:
                log.error("saved-search digest %s not sent (retried next tick): %s", search_id, exc)
                done["failed"] += 1
                continue
            cur.execute("UPDATE search_alert_emails SET status = 'sent', message_id = %s, sent_at = %s "
                        "WHERE id = ANY(%s)", (delivery.provider_message_id, datetime.now(UTC),
                                               [m["id"] for m in room.kept]))
            for county, listed in groupby(sorted(room.kept, key=lambda m: m["county"]), key=lambda m: m["county"]):
                quotas.record_properties(cur, matches[0]["tenant_id"], county, [m["prospect_key"] for m in listed],
                                         "alert")
            conn.commit()
            done["sent"] += 1
    conn.commit()
    return done
