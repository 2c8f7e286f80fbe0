"""Saved-search alerts on real PostgreSQL: a new property matching a saved search with alerts on
becomes one `search.match` webhook delivery per endpoint — never twice, never for a property the
search already showed, never for another tenant's county or a search without alerts."""

from __future__ import annotations

import json
import uuid
from typing import Any

from realestate_assets.accounts import store
from realestate_assets.outreach.search_alerts import event_key
from realestate_assets.outreach.webhooks import enqueue_events
from tests.api.helpers_api import make_tenant, owner_cursor, seed_county

NO_DEALS = 101.0  # above every score: no deal.new events in these tests


def _deliveries(database_url: str, tenant_id: str) -> list[tuple[str, dict[str, Any]]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT event_key, payload FROM webhook_deliveries WHERE tenant_id = %s AND "
                    "event_type = 'search.match' ORDER BY event_key", (tenant_id,))
        return cur.fetchall()


def _tick(database_url: str, since: Any = None) -> int:
    with owner_cursor(database_url) as cur:
        enqueued, _ = enqueue_events(cur, threshold=NO_DEALS, since=since, public_base_url="https://app.example.com")
    return enqueued


def test_new_matches_of_an_alerting_search_are_announced_once(database_url: str) -> None:
    a, b = make_tenant(database_url, "alert-a"), make_tenant(database_url, "alert-b")
    county, other_county = (f"{x}_{uuid.uuid4().hex[:6]}" for x in ("al", "ob"))
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, a.id, county)
        store.subscribe(cur, b.id, other_county)
        cur.execute("INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret) VALUES "
                    "(%s, 'https://hooks.example.com/a', '{search.match}', 'whsec_c2VlZA=='), "
                    "(%s, 'https://hooks.example.com/b', '{search.match}', 'whsec_c2VlZA==')", (a.id, b.id))
        searches = {}
        for tenant, name, filters, alert in ((a, "good ones", {"min_score": 70}, True),
                                             (a, "quiet", {"min_score": 70}, False),
                                             (b, "everything", {}, True)):
            cur.execute("INSERT INTO saved_searches (tenant_id, user_id, name, filters, alert) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                        (tenant.id, tenant.users["viewer"]["id"], name, json.dumps(filters), alert))
            searches[(tenant.id, name)] = cur.fetchone()[0]
    with owner_cursor(database_url) as cur:  # discovered after the searches were saved
        seed_county(cur, county, 12)
        # One property the search already showed (seen before it was saved): not news.
        cur.execute("UPDATE prospects SET first_seen_at = now() - interval '2 days' WHERE county = %s "
                    "AND prospect_key = %s", (county, f"{county}-0002"))
        cur.execute("SELECT prospect_key FROM scores WHERE county = %s AND bird_dog_score >= 70 ORDER BY 1",
                    (county,))
        expected = [k for (k,) in cur.fetchall() if k != f"{county}-0002"]
    assert expected

    assert _tick(database_url) >= len(expected)
    search_id = searches[(a.id, "good ones")]
    delivered = _deliveries(database_url, a.id)
    assert [k for k, _ in delivered] == sorted(event_key(search_id, county, k) for k in expected)
    payload = delivered[0][1]
    assert payload["type"] == "search.match"
    data = payload["data"]
    assert data["search_id"] == search_id and data["search_name"] == "good ones" and data["county"] == county
    assert data["bird_dog_score"] >= 70 and data["url"].startswith("https://app.example.com/properties/")
    # Tenant b follows another county (no properties yet): nothing of a's county reaches it.
    assert _deliveries(database_url, b.id) == []

    # Again, and after a rescoring: never twice for the same search and property.
    _tick(database_url)
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE scores SET bird_dog_score = bird_dog_score WHERE county = %s", (county,))
    _tick(database_url)
    assert len(_deliveries(database_url, a.id)) == len(expected)
