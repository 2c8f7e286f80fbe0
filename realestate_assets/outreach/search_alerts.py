"""Saved-search alerts (issues #11, #12): a new property matching a saved search with `alert` on
becomes a `search.match` event for the tenant's webhook endpoints that take it.

Delivery is the outgoing-webhook path (outreach/webhooks.py, run by the webhooks sensor every 30 s),
chosen over email or the WebSocket because it is already durable (a row per endpoint and event,
retried on a schedule across ticks, signed per Standard Webhooks) and idempotent: the event key is
`search.match:<search id>:<county>:<prospect key>`, unique per endpoint, so a property is announced
once per saved search and endpoint whatever re-runs or rescoring happen. A receiver (Slack, Zapier,
the tenant's CRM) turns it into the notification its people read.

"New" means first seen after the saved search was created (an alert never floods with what the
search already showed), and "matching" means the search's own filters, read by the property list's
one parser (`api/v1/property_query.where`), confined to the counties the tenant follows. Properties
are looked at when their score changes (after the sensor's cursor): a property discovered before it
was scored is announced once its score makes it match.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from realestate_assets.api.v1.property_query import FROM, PropertyFilters, where
from realestate_assets.db.tenancy import set_tenant

EVENT = "search.match"

SEARCHES_SQL = """
SELECT ss.id, ss.tenant_id, ss.name, ss.user_id, ss.filters, ss.created_at
FROM saved_searches ss
WHERE ss.alert AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.tenant_id = ss.tenant_id AND e.is_active
                           AND %s = ANY(e.event_types))
ORDER BY ss.tenant_id, ss.id
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
    """`search.match` events for what matched since `since`; (deliveries enqueued, newest score
    change seen). `enqueue` is webhooks.enqueue (passed in: that module calls this one). Runs as
    the table owner across tenants; each search's query is scoped to its tenant (`app.tenant_id`,
    so the tenant-data parts of the filters — review marks, the tenant's status — read its rows)."""
    cur.execute(SEARCHES_SQL, (EVENT,))
    searches = cur.fetchall()
    enqueued, newest = 0, None
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
                enqueued += enqueue(cur, tenant, EVENT, event_key(search_id, county, key), data)
                newest = changed if newest is None else max(newest, changed)
    finally:
        set_tenant(cur, None)
    return enqueued, newest
