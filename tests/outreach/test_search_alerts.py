"""Saved-search alerts on real PostgreSQL: a new property matching a saved search with alerts on
becomes one `search.match` webhook delivery per endpoint — never twice, never for a property the
search already showed, never for another tenant's county or a search without alerts — and one
line of the digest emailed to the search's owner (outbox), as their notification preferences say."""

from __future__ import annotations

import email
import json
import re
import uuid
from collections import Counter
from email import policy
from pathlib import Path
from typing import Any

import psycopg2

from realestate_assets.accounts import store
from realestate_assets.accounts.notices import AccountMail
from realestate_assets.outreach.mailer import OutboxMailer, ProviderError
from realestate_assets.outreach.search_alerts import event_key, send_search_digests
from realestate_assets.outreach.webhooks import enqueue_events
from tests.api.helpers_api import dsn, make_tenant, owner_cursor, seed_county

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


# ---- the owner's email digest -----------------------------------------------------------------

def _digests(outbox: Path, to: str) -> list[Any]:
    found = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in found if m["To"] == to]


def _send(database_url: str, outbox: Path) -> Counter[str]:
    mail = AccountMail(OutboxMailer(outbox), from_email="alerts@reos.example", from_name="REOS alerts")
    conn = psycopg2.connect(dsn(database_url))
    try:
        return send_search_digests(conn, mail, public_base_url="https://app.example.com")
    finally:
        conn.close()


def _statuses(database_url: str, search_id: int) -> dict[str, tuple[str, str | None]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT prospect_key, status, reason FROM search_alert_emails WHERE search_id = %s", (search_id,))
        return {k: (s, r) for k, s, r in cur.fetchall()}


def test_the_owner_gets_one_digest_per_search_and_never_a_match_twice(database_url: str, tmp_path: Path) -> None:
    """No webhook endpoint at all: the email does not depend on one."""
    tenant = make_tenant(database_url, "digest")
    county = f"dg_{uuid.uuid4().hex[:6]}"
    owner, analyst = tenant.users["owner"], tenant.users["analyst"]
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, county)
        cur.execute("INSERT INTO saved_searches (tenant_id, user_id, name, filters, alert) VALUES "
                    "(%s, %s, 'good ones', '{\"min_score\": 70}', true), (%s, %s, 'all', '{}', true) RETURNING id",
                    (tenant.id, owner["id"], tenant.id, analyst["id"]))
        good, everything = (r[0] for r in cur.fetchall())
        # The analyst does not want these emails (Settings › Notifications).
        cur.execute("UPDATE users SET notification_preferences = '{\"search_alert\": false}' WHERE id = %s",
                    (analyst["id"],))
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 12)
        cur.execute("SELECT prospect_key, bird_dog_score FROM scores WHERE county = %s AND bird_dog_score >= 70 "
                    "ORDER BY bird_dog_score DESC", (county,))
        expected = cur.fetchall()
    outbox = tmp_path / "outbox"

    _tick(database_url)
    sent = _send(database_url, outbox)
    assert sent["sent"] >= 1 and sent["skipped"] >= 1
    (digest,) = _digests(outbox, owner["email"])
    assert f"{len(expected)} new properties for “good ones”" == digest["Subject"]
    text = digest.get_content()
    # Best first, each with its link; nothing of the analyst's search reaches the owner.
    shown = [int(n) for n in re.findall(r"score (\d+)", text)]
    assert shown == sorted(shown, reverse=True) and len(shown) == len(expected)
    assert text.count("https://app.example.com/properties/") == len(expected)
    assert _digests(outbox, analyst["email"]) == []
    assert {s for s, _ in _statuses(database_url, good).values()} == {"sent"}
    skipped = {r for _, r in _statuses(database_url, everything).values()}
    assert skipped == {"the owner turned search alert emails off"}

    # Again, after a rescoring, and after the analyst turns the emails back on: nothing new to say.
    _tick(database_url)
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE scores SET bird_dog_score = bird_dog_score WHERE county = %s", (county,))
        cur.execute("UPDATE users SET notification_preferences = '{}' WHERE id = %s", (analyst["id"],))
    _tick(database_url)
    assert sum(_send(database_url, outbox).values()) == 0
    assert len(_digests(outbox, owner["email"])) == 1 and _digests(outbox, analyst["email"]) == []

    # A property found later makes a second digest listing it alone.
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, zip, use_type) "
                    "VALUES (%s, %s, 'x', '1 NEW ST', 'SEATTLE', 'WA', '98103', 'condo')",
                    (county, f"{county}-new"))
        cur.execute("INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, value_gap_pct, "
                    "bird_dog_score, score_rank, model_version) VALUES (%s, %s, '2026-12-02', 610000, 12, 95, 1, 'v1')",
                    (county, f"{county}-new"))
    _tick(database_url)
    _send(database_url, outbox)
    later = _digests(outbox, owner["email"])
    assert len(later) == 2
    (analysts,) = _digests(outbox, analyst["email"])  # emails on again: the new match only
    assert analysts["Subject"] == "1 new property for “all”"
    newest = next(m for m in later if m["Subject"].startswith("1 new property"))
    assert "1 NEW ST" in newest.get_content() and "$610,000" in newest.get_content()


def test_a_refused_digest_waits_for_the_next_tick(database_url: str, tmp_path: Path) -> None:
    tenant = make_tenant(database_url, "digest-retry")
    county = f"dr_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, county)
        cur.execute("INSERT INTO saved_searches (tenant_id, user_id, name, filters, alert) "
                    "VALUES (%s, %s, 'all', '{}', true) RETURNING id", (tenant.id, tenant.users["viewer"]["id"]))
        search_id = cur.fetchone()[0]
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 4)
    _tick(database_url)

    class Refusing(OutboxMailer):
        def send_notice(self, notice: Any) -> Any:
            raise ProviderError("provider down")

    conn = psycopg2.connect(dsn(database_url))
    try:
        refused = send_search_digests(conn, AccountMail(Refusing(tmp_path), from_email="a@reos.example",
                                                        from_name="A"), public_base_url=None)
    finally:
        conn.close()
    assert refused["failed"] >= 1
    assert {s for s, _ in _statuses(database_url, search_id).values()} == {"pending"}
    assert _send(database_url, tmp_path / "outbox")["sent"] >= 1
    assert {s for s, _ in _statuses(database_url, search_id).values()} == {"sent"}
    (digest,) = _digests(tmp_path / "outbox", tenant.users["viewer"]["email"])
    assert "n/a" not in digest["Subject"]


def test_alerts_count_against_the_properties_quota_and_wait_past_it(database_url: str, tmp_path: Path) -> None:
    """A search.match event and a digest line are the tenant receiving a property: counted once a
    month by the quotas' rule; past the plan, no event and the digest's lines wait for room."""
    tenant = make_tenant(database_url, "alert-quota")
    county = f"aq_{uuid.uuid4().hex[:6]}"
    owner = tenant.users["owner"]
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
        # 97 received this month (with make_tenant's own: 98 of 100): room for two more.
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "SELECT %s, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 'elsewhere', 'k' || i, 'packet' "
                    "FROM generate_series(1, 97) i", (tenant.id,))
        store.subscribe(cur, tenant.id, county)
        cur.execute("INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret) VALUES "
                    "(%s, 'https://hooks.example.com/aq', '{search.match}', 'whsec_c2VlZA==')", (tenant.id,))
        cur.execute("INSERT INTO saved_searches (tenant_id, user_id, name, filters, alert) "
                    "VALUES (%s, %s, 'all', '{}', true) RETURNING id", (tenant.id, owner["id"]))
        search_id = cur.fetchone()[0]
    with owner_cursor(database_url) as cur:
        seed_county(cur, county, 6)

    _tick(database_url)
    matched = len(_statuses(database_url, search_id))  # every new match waits for the digest
    assert matched > 2
    announced = {k.rsplit(":", 1)[1] for k, _ in _deliveries(database_url, tenant.id)}
    assert len(announced) == 2  # the two the plan had room for; the others not announced
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT prospect_key, via FROM property_receipts WHERE tenant_id = %s AND county = %s",
                    (tenant.id, county))
        assert dict(cur.fetchall()) == dict.fromkeys(announced, "alert")

    outbox = tmp_path / "outbox"
    _send(database_url, outbox)
    (digest,) = _digests(outbox, owner["email"])
    assert digest["Subject"] == "2 new properties for “all”"  # received already: free; the rest wait
    statuses = _statuses(database_url, search_id)
    assert {k for k, (s, _) in statuses.items() if s == "sent"} == announced
    assert sum(s == "pending" for s, _ in statuses.values()) == matched - 2
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s", (tenant.id,))
        assert cur.fetchone()[0] == 100  # the plan's limit, never past it
        cur.execute("UPDATE tenants SET plan = 'professional' WHERE id = %s", (tenant.id,))  # room again
    _send(database_url, outbox)
    # The outbox's file names do not sort by time: the new digest is the one with another Message-ID.
    (later,) = [m for m in _digests(outbox, owner["email"]) if m["Message-ID"] != digest["Message-ID"]]
    assert later["Subject"] == f"{matched - 2} new properties for “all”"
    assert {s for s, _ in _statuses(database_url, search_id).values()} == {"sent"}
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s AND county = %s", (tenant.id, county))
        assert cur.fetchone()[0] == matched
