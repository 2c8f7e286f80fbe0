"""Plans and quotas (issue #11): a property counts once a month when the tenant first receives it,
402 past the plan's properties, emails or storage, 429 with Retry-After past its API calls of the
day; each refusal says which quota, the usage, the limit and when it resets. Only a platform admin
changes a tenant's plan. Real PostgreSQL, the app through TestClient."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import quotas, store
from realestate_assets.accounts.plans import PLANS
from realestate_assets.config_models import PacketSettings
from tests.api.helpers_api import (
    PASSWORD,
    api_client,
    bearer,
    dsn,
    login,
    make_tenant,
    owner_cursor,
    seed_county,
)

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def operator(database_url: str) -> str:
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    with owner_cursor(database_url) as cur:
        store.create_user(cur, email, PASSWORD, platform_admin=True, verified=True)
    return email


def free_tenant(database_url: str, label: str, n_properties: int = 0) -> tuple[Any, str, list[int]]:
    """A tenant on the free plan following a county of its own with `n_properties` properties."""
    tenant = make_tenant(database_url, label)
    county = f"q_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
        seed_county(cur, county, n_properties)
        store.subscribe(cur, tenant.id, county)
        cur.execute("SELECT id FROM prospects WHERE county = %s ORDER BY id", (county,))
        ids = [r[0] for r in cur.fetchall()]
    return tenant, county, ids


def receipts(database_url: str, tenant_id: str) -> int:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s", (tenant_id,))
        return cur.fetchone()[0]


def fill_receipts(database_url: str, tenant_id: str, n: int) -> None:
    """`n` properties already received this month (elsewhere than the tenant's county)."""
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "SELECT %s, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 'elsewhere', 'k' || i, 'packet' "
                    "FROM generate_series(1, %s) i", (tenant_id, n))


def test_periods_reset_at_the_next_utc_month_and_day() -> None:
    assert quotas.period_bounds("month", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert quotas.period_bounds("month", datetime(2026, 3, 1, tzinfo=UTC))[1] == datetime(2026, 4, 1, tzinfo=UTC)
    assert quotas.period_bounds("day", NOW) == (datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC))
    assert quotas.period_bounds(None, NOW) == (None, None)
    full = quotas.usage_of(PLANS["free"], "properties", 100, NOW)
    assert full.exhausted and full.remaining == 0 and full.status == 402
    assert full.members() == {"quota": "properties", "plan": "free", "usage": 100, "limit": 100,
                              "resets_at": "2027-01-01T00:00:00+00:00"}
    assert "100 properties per month" in full.reason()
    unlimited = quotas.usage_of(PLANS["enterprise"], "properties", 10 ** 6, NOW)
    assert not unlimited.exhausted and unlimited.remaining is None
    assert quotas.usage_of(PLANS["free"], "api_calls", 1000, NOW).status == 429
    storage = quotas.usage_of(PLANS["free"], "storage", 2 * 1024 ** 3, NOW)
    assert storage.exhausted and storage.resets_at is None
    assert storage.reason() == ("quota storage: the free plan allows 1.00 GiB of stored documents and "
                                "2.00 GiB of stored documents are used")


def test_a_detail_view_counts_a_property_once_and_402_past_the_plan(client: TestClient, database_url: str) -> None:
    tenant, county, ids = free_tenant(database_url, "qprop", 3)
    viewer = {"X-API-Key": tenant.keys["read"]}
    seeded = receipts(database_url, tenant.id)  # make_tenant's own receipt
    fill_receipts(database_url, tenant.id, 98)
    assert client.get(f"/api/v1/properties/{ids[0]}", headers=viewer).status_code == 200  # the 100th
    assert client.get(f"/api/v1/properties/{ids[0]}", headers=viewer).status_code == 200  # again: free
    assert receipts(database_url, tenant.id) == seeded + 98 + 1  # counted once

    refused = client.get(f"/api/v1/properties/{ids[1]}", headers=viewer)
    assert refused.status_code == 402 and refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["title"] == "Payment Required" and body["quota"] == "properties" and body["plan"] == "free"
    assert body["usage"] == 100 and body["limit"] == 100
    assert datetime.fromisoformat(body["resets_at"]) == quotas.period_bounds("month", datetime.now(UTC))[1]
    assert "100 properties per month" in body["detail"]
    assert receipts(database_url, tenant.id) == seeded + 99  # a refused view counts nothing
    assert client.get(f"/api/v1/properties/{ids[0]}", headers=viewer).status_code == 200  # received: still free
    # The list shows the county's properties whatever the quota: only receiving one counts.
    assert client.get("/api/v1/properties", headers=viewer, params={"county": county}).status_code == 200

    usage = client.get("/api/v1/usage", headers=viewer).json()
    found = {q["quota"]: q for q in usage["quotas"]}
    assert usage["plan"] == "free" and found["properties"]["used"] == 100 and found["properties"]["exhausted"]
    assert found["properties"]["limit"] == 100 and found["properties"]["remaining"] == 0
    assert found["emails"]["limit"] == PLANS["free"].emails and found["storage"]["period"] is None
    assert found["api_calls"]["used"] >= 6 and found["api_calls"]["period"] == "day"


def test_emails_and_storage_quotas_refuse_with_402(client: TestClient, database_url: str) -> None:
    tenant, _, ids = free_tenant(database_url, "qmail", 2)
    writer = {"X-API-Key": tenant.keys["write"]}
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT id FROM packets WHERE tenant_id = %s", (tenant.id,))
        packet_id = cur.fetchone()[0]
        cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, recipient_email, subject, provider, "
                    "send_key, status, sent_at) SELECT %s, 'king_wa', 'new_opportunity', %s, "
                    "'r' || i || '@example.com', 'Deal', 'outbox', 'k' || i, 'sent', now() "
                    "FROM generate_series(1, %s) i",
                    (tenant.id, packet_id, PLANS["free"].emails))
        cur.execute("UPDATE campaigns SET status = 'active' WHERE tenant_id = %s RETURNING id", (tenant.id,))
        campaign_id = cur.fetchone()[0]
    send = client.post(f"/api/v1/campaigns/{campaign_id}/send", headers=writer)
    assert send.status_code == 402, send.text
    assert send.json()["quota"] == "emails" and send.json()["usage"] == send.json()["limit"] == 500

    with owner_cursor(database_url) as cur:  # the stored documents fill the plan's storage
        cur.execute("UPDATE packets SET size_bytes = %s WHERE tenant_id = %s", (PLANS["free"].storage, tenant.id))
    memo = client.get(f"/api/v1/properties/{ids[0]}/memo", headers=writer, follow_redirects=False)
    assert memo.status_code == 402 and memo.json()["quota"] == "storage" and memo.json()["resets_at"] is None
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM packet_requests WHERE tenant_id = %s AND county <> 'king_wa'", (tenant.id,))
        assert cur.fetchone()[0] == 0  # nothing asked of the pipeline


def _storage_left(database_url: str, tenant_id: str, left: int) -> None:
    """The tenant's stored documents take all of the free plan's storage but `left` bytes (its one
    seeded packet, a template the memo does not make, so the estimate is the default)."""
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE packets SET size_bytes = %s WHERE tenant_id = %s",
                    (PLANS["free"].storage - left, tenant_id))


def _requests(database_url: str, tenant_id: str, county: str) -> int:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM packet_requests WHERE tenant_id = %s AND county = %s", (tenant_id, county))
        return cur.fetchone()[0]


def test_a_memo_whose_expected_bytes_do_not_fit_is_refused_before_it_is_asked_for(
        client: TestClient, database_url: str) -> None:
    """Storage not used up, but less left than the memo's documents (config/campaigns.yaml: an
    investor memo and an executive summary, each expected the default 48 KiB): 402 with the
    storage quota's members, nothing asked of the pipeline (which would skip it with reason
    `quota` and leave it asked for). With room for both: 202."""
    tenant, county, ids = free_tenant(database_url, "qmemo", 2)
    reader = {"X-API-Key": tenant.keys["read"]}
    templates = client.app.state.reos.campaigns.packets.templates
    assert templates == ["investor_memo", "executive_summary"]
    left = quotas.DEFAULT_DOCUMENT_BYTES * 3 // 2  # room for one of the two
    _storage_left(database_url, tenant.id, left)
    base = receipts(database_url, tenant.id)
    memo = client.get(f"/api/v1/properties/{ids[0]}/memo", headers=reader, follow_redirects=False)
    assert memo.status_code == 402, memo.text
    assert memo.headers["content-type"] == "application/problem+json"
    body = memo.json()
    assert {k: body[k] for k in ("quota", "plan", "usage", "limit", "resets_at")} == {
        "quota": "storage", "plan": "free", "usage": PLANS["free"].storage - left, "limit": PLANS["free"].storage,
        "resets_at": None}
    assert body["detail"].startswith("quota storage: the memo's documents (investor_memo, executive_summary) "
                                     f"are expected to take {2 * quotas.DEFAULT_DOCUMENT_BYTES:,} bytes more "
                                     f"and {left:,} bytes are left"), body["detail"]
    assert _requests(database_url, tenant.id, county) == 0
    assert receipts(database_url, tenant.id) == base  # the refused request's receipt is rolled back with it

    _storage_left(database_url, tenant.id, 2 * quotas.DEFAULT_DOCUMENT_BYTES)  # exactly room for both
    asked = client.get(f"/api/v1/properties/{ids[0]}/memo", headers=reader, follow_redirects=False)
    assert asked.status_code == 202, asked.text
    assert _requests(database_url, tenant.id, county) == 1


def test_a_memo_replacing_documents_at_least_as_large_adds_nothing(database_url: str) -> None:
    """quotas.memo_refusal weighs what the memo adds: a property whose documents are stored already
    at the tenant's usual sizes costs nothing more to render again, even with one byte left;
    nothing left at all refuses, as the run makes nothing then (`blocked`)."""
    tenant, county, _ = free_tenant(database_url, "qmemo2", 1)
    templates = ["investor_memo", "executive_summary"]
    documents_of = PacketSettings(templates=templates).for_property
    with owner_cursor(database_url) as cur:
        for template in templates:
            cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, "
                        "inputs_hash, object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                        "(%s, %s, 'x1', %s, '1', 'h', %s, 's', 60000, 80, now())",
                        (tenant.id, county, template, f"tenants/{tenant.id}/x1-{template}.pdf"))
        cur.execute("UPDATE packets SET size_bytes = %s WHERE tenant_id = %s AND prospect_key = 'p1'",
                    (PLANS["free"].storage - 120_000 - 1, tenant.id))
    conn = psycopg2.connect(dsn(database_url))
    try:
        assert quotas.memo_refusal(conn, tenant.id, county, "x1", [], documents_of) is None
        refused = quotas.memo_refusal(conn, tenant.id, county, "x2", [], documents_of)  # a first: 2 × 60,000 more
        assert refused is not None and refused.usage.remaining == 1
        assert "expected to take 120,000 bytes more" in refused.reason
        with conn.cursor() as cur:
            cur.execute("UPDATE packets SET size_bytes = size_bytes + 1 WHERE tenant_id = %s AND prospect_key = 'p1'",
                        (tenant.id,))
        used_up = quotas.memo_refusal(conn, tenant.id, county, "x1", [], documents_of)
        assert used_up is not None and used_up.usage.exhausted and used_up.reason == used_up.usage.reason()
    finally:
        conn.rollback()
        conn.close()


def _memo(client: TestClient, tenant: Any, property_id: int) -> Any:
    return client.get(f"/api/v1/properties/{property_id}/memo", headers={"X-API-Key": tenant.keys["read"]},
                      follow_redirects=False)


def test_memo_requests_still_open_hold_their_room(client: TestClient, database_url: str) -> None:
    """Requests asked before the next run are judged together, not each alone: room for three
    documents, two memos of two each — the first is accepted and holds its documents' expected
    bytes until the run renders it, the second is refused with a 402 that says so. The first asked
    again keeps its place; a request for a property the pipeline has no score for (never rendered)
    holds nothing; once the first is rendered the second is accepted."""
    tenant, county, ids = free_tenant(database_url, "qhold", 4)  # ids[3]: discovered only, no score
    size = quotas.DEFAULT_DOCUMENT_BYTES
    _storage_left(database_url, tenant.id, 3 * size)
    assert _memo(client, tenant, ids[3]).status_code == 202  # fits alone; never rendered, so it holds nothing
    assert _memo(client, tenant, ids[0]).status_code == 202
    second = _memo(client, tenant, ids[1])
    assert second.status_code == 402, second.text
    body = second.json()
    assert {k: body[k] for k in ("quota", "plan", "usage", "limit", "resets_at")} == {
        "quota": "storage", "plan": "free", "usage": PLANS["free"].storage - 3 * size,
        "limit": PLANS["free"].storage, "resets_at": None}
    assert body["detail"].startswith(
        f"quota storage: the memo's documents (investor_memo, executive_summary) are expected to take "
        f"{2 * size:,} bytes more and {3 * size:,} bytes are left of the free plan's 1.00 GiB of stored documents, "
        f"{2 * size:,} of them held for 1 memo request asked for before and not rendered yet "
        "(expected bytes a document: "), body["detail"]
    assert _requests(database_url, tenant.id, county) == 2  # the refused one is not asked for
    assert _memo(client, tenant, ids[0]).status_code == 202  # asked again: its own room, not twice
    assert _requests(database_url, tenant.id, county) == 2
    with owner_cursor(database_url) as cur:  # the run rendered the first (its documents stored)
        cur.execute("UPDATE packet_requests SET rendered_at = now() WHERE tenant_id = %s AND county = %s "
                    "AND prospect_key = %s", (tenant.id, county, f"{county}-0001"))
        cur.execute("UPDATE packets SET size_bytes = size_bytes + %s WHERE tenant_id = %s", (size, tenant.id))
    assert _memo(client, tenant, ids[1]).status_code == 202  # 2 documents' room left, none held
    assert _requests(database_url, tenant.id, county) == 3


def test_memo_requests_are_judged_one_at_a_time_per_tenant(database_url: str) -> None:
    """Two requests at once must not both take the last room: the check holds a per-tenant lock
    until the request is recorded and committed; another tenant is not held up."""
    tenant, county, _ = free_tenant(database_url, "qlock", 1)
    other, other_county, _ = free_tenant(database_url, "qlock2", 1)
    documents_of = PacketSettings().for_property
    first, second = psycopg2.connect(dsn(database_url)), psycopg2.connect(dsn(database_url))
    try:
        assert quotas.memo_refusal(first, tenant.id, county, "a", [], documents_of) is None
        with second.cursor() as cur:
            cur.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg2.errors.LockNotAvailable):
            quotas.memo_refusal(second, tenant.id, county, "b", [], documents_of)
        second.rollback()
        assert quotas.memo_refusal(second, other.id, other_county, "b", [], documents_of) is None
        first.commit()  # the first request recorded: the next one is judged after it
        assert quotas.memo_refusal(second, tenant.id, county, "b", [], documents_of) is None
    finally:
        for conn in (first, second):
            conn.rollback()
            conn.close()


def test_api_calls_of_the_day_429_with_retry_after(database_url: str, tmp_path: Path, operator: str) -> None:
    tenant, _, _ = free_tenant(database_url, "qcalls")
    key = {"X-API-Key": tenant.keys["read"]}
    limit = PLANS["free"].api_calls
    assert limit is not None
    with api_client(database_url, tmp_path) as client:
        throttle = client.app.state.reos.throttle  # the day's calls so far, without making them one by one
        throttle.count_today("api_calls", tenant.id, datetime.now(UTC), add=limit - 1)
        assert client.get("/api/v1/me", headers=key).status_code == 200  # the last call of the day
        refused = client.get("/api/v1/me", headers=key)
        assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["quota"] == "api_calls" and body["usage"] == body["limit"] == limit
        midnight = quotas.period_bounds("day", datetime.now(UTC))[1]
        assert datetime.fromisoformat(body["resets_at"]) == midnight
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 86400 and abs(wait - (midnight - datetime.now(UTC)).total_seconds()) < 120
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert client.get("/api/v1/usage", headers=key).status_code == 429  # every route counts
        # The platform's operators do not spend the tenant's calls; another tenant has its own.
        ops = login(client, operator)
        assert client.get("/api/v1/tenants", headers=bearer(ops["access_token"])).status_code == 200
        other = make_tenant(database_url, "qcalls-other")
        assert client.get("/api/v1/me", headers={"X-API-Key": other.keys["read"]}).status_code == 200
        # A bigger plan takes effect at once.
        moved = client.patch(f"/api/v1/tenants/{tenant.id}", headers=bearer(ops["access_token"]),
                             json={"plan": "professional"})
        assert moved.status_code == 200
        assert client.get("/api/v1/me", headers=key).status_code == 200


def test_api_calls_are_shared_through_redis(database_url: str, tmp_path: Path, redis_url: str) -> None:
    tenant, _, _ = free_tenant(database_url, "qredis")
    key = {"X-API-Key": tenant.keys["read"]}
    with api_client(database_url, tmp_path, redis_url=redis_url) as one, \
            api_client(database_url, tmp_path, redis_url=redis_url) as two:
        for client in (one, two, one):
            assert client.get("/api/v1/me", headers=key).status_code == 200
        calls = {q["quota"]: q for q in two.get("/api/v1/usage", headers=key).json()["quotas"]}["api_calls"]
        assert calls["used"] == 4  # three, and this one: both replicas count in the one Redis counter


def api_call_days(database_url: str, tenant_id: str) -> dict[str, int]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT day::text, calls FROM api_call_days WHERE tenant_id = %s", (tenant_id,))
        return dict(cur.fetchall())


def test_api_calls_are_kept_by_day_in_batches_and_shown_as_history(database_url: str, tmp_path: Path) -> None:
    tenant, _, _ = free_tenant(database_url, "qledger")
    key = {"X-API-Key": tenant.keys["read"]}
    today = datetime.now(UTC).date()
    with owner_cursor(database_url) as cur:  # two days ago, as an earlier flush wrote it
        cur.execute("INSERT INTO api_call_days (tenant_id, day, calls) VALUES (%s, %s, 7)",
                    (tenant.id, today - timedelta(days=2)))
    with api_client(database_url, tmp_path) as client:
        ledger = client.app.state.reos.call_ledger
        ledger.flush_s = 3600  # no background flush during the test: the flushes below are the only ones
        for _ in range(5):
            assert client.get("/api/v1/me", headers=key).status_code == 200
        assert ledger.pending()[(tenant.id, today)] == 5  # counted in memory: no write per request
        assert str(today) not in api_call_days(database_url, tenant.id)
        assert ledger.flush() >= 1  # one statement for every (tenant, day) tallied
        assert api_call_days(database_url, tenant.id)[str(today)] == 5
        assert client.get("/api/v1/me", headers=key).status_code == 200
        usage = client.get("/api/v1/usage", headers=key, params={"days": 3})
        assert usage.status_code == 200
        history = usage.json()["api_calls_by_day"]
        # Dense, oldest first, ending today; today is the live count (7 with this call), ahead of the last flush.
        assert [h["day"] for h in history] == [str(today - timedelta(days=n)) for n in (2, 1, 0)]
        assert [h["calls"] for h in history] == [7, 0, 7]
    # The app's shutdown flushed what was counted since: nothing lost on a clean stop.
    assert api_call_days(database_url, tenant.id)[str(today)] == 7
    with owner_cursor(database_url) as cur:  # the API's role reads its own tenant's rows only
        cur.execute("SET LOCAL ROLE reos_api; SELECT set_config('app.tenant_id', %s, true)", ("someone-else",))
        cur.execute("SELECT count(*) FROM api_call_days WHERE tenant_id = %s", (tenant.id,))
        assert cur.fetchone()[0] == 0


def test_a_failed_flush_keeps_the_tally_for_the_next_one() -> None:
    from contextlib import contextmanager

    from realestate_assets.api.v1.call_ledger import CallLedger

    @contextmanager
    def down() -> Any:
        raise ConnectionError("database restarting")
        yield

    ledger = CallLedger(down, flush_s=3600)
    ledger.add("t1", NOW, 3)
    ledger.add("t1", NOW)
    with pytest.raises(ConnectionError):
        ledger.flush()
    assert ledger.pending() == {("t1", NOW.date()): 4}


def test_only_a_platform_admin_changes_a_plan(client: TestClient, database_url: str, operator: str) -> None:
    tenant, _, _ = free_tenant(database_url, "qplan")
    owner = login(client, tenant.users["owner"]["email"])
    mine = client.patch(f"/api/v1/tenants/{tenant.id}", headers=bearer(owner["access_token"]),
                        json={"plan": "enterprise"})
    assert mine.status_code == 403
    assert client.get("/api/v1/usage", headers=bearer(owner["access_token"])).json()["plan"] == "free"

    ops = bearer(login(client, operator)["access_token"])
    moved = client.patch(f"/api/v1/tenants/{tenant.id}", headers=ops, json={"plan": "professional"})
    assert moved.status_code == 200 and moved.json()["plan"] == "professional"
    assert moved.json()["suspended_at"] is None  # a plan change leaves the suspension alone
    usage = client.get("/api/v1/usage", headers=bearer(owner["access_token"])).json()
    limits = {q["quota"]: q["limit"] for q in usage["quotas"]}
    assert usage["plan"] == "professional" and limits["properties"] == 1000
    assert client.patch(f"/api/v1/tenants/{tenant.id}", headers=ops, json={"plan": "platinum"}).status_code == 422
    assert client.patch(f"/api/v1/tenants/{tenant.id}", headers=ops, json={}).status_code == 422
    assert client.patch("/api/v1/tenants/no-such-tenant", headers=ops, json={"plan": "free"}).status_code == 404
    listed = {t["id"]: t for t in client.get("/api/v1/tenants", headers=ops).json()}
    assert listed[tenant.id]["plan"] == "professional"
    created = client.post("/api/v1/tenants", headers=ops, json={"id": f"qnew-{uuid.uuid4().hex[:6]}", "name": "New"})
    assert created.status_code == 201 and created.json()["plan"] == "free"  # a new tenant starts free
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT before, after FROM audit_log WHERE tenant_id = %s AND entity = 'tenants' "
                    "AND action = 'plan'", (tenant.id,))
        assert cur.fetchall() == [({"plan": "free"}, {"plan": "professional"})]


def test_counting_is_idempotent_and_per_tenant_under_rls(database_url: str) -> None:
    """The pipeline's recording (packets, alerts) and the API's, on the same rows; a tenant's
    receipts are invisible to another tenant's transaction (row-level security)."""
    import psycopg2

    from realestate_assets.db.tenancy import act_as_api

    a, _, _ = free_tenant(database_url, "qidem")
    b, _, _ = free_tenant(database_url, "qidem-b")
    base = receipts(database_url, a.id)
    with owner_cursor(database_url) as cur:
        assert quotas.record_properties(cur, a.id, "c1", ["p1", "p2", "p2"], "packet") == 2
        assert quotas.record_properties(cur, a.id, "c1", ["p1", "p2", "p3"], "packet") == 1
        assert quotas.receive_property(cur, a.id, "c1", "p3", "detail") is None  # already received
    assert receipts(database_url, a.id) == base + 3
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            act_as_api(cur, b.id)
            cur.execute("SELECT count(*) FROM property_receipts")
            assert cur.fetchone()[0] == receipts(database_url, b.id)  # its own rows only
            act_as_api(cur, a.id)
            assert quotas.usage(cur, a.id, "properties").used == base + 3
    finally:
        conn.rollback()
        conn.close()
    fill_receipts(database_url, a.id, 100)
    conn = psycopg2.connect(dsn(database_url))
    try:
        reason = quotas.blocked(conn, a.id, "emails", "properties")
        assert reason is not None and reason.startswith("quota properties: the free plan allows 100")
        assert quotas.blocked(conn, b.id, "emails", "properties", "storage") is None
    finally:
        conn.rollback()
        conn.close()


def test_an_unlimited_plan_records_each_property_once_without_reading_first(database_url: str) -> None:
    """Given the plan (read with the principal), an unlimited tenant's view is one INSERT … ON
    CONFLICT DO NOTHING: recorded once a month whatever the repeats; a limited plan still counts."""
    a, _, _ = free_tenant(database_url, "qunl")
    base = receipts(database_url, a.id)
    with owner_cursor(database_url) as cur:
        for _ in range(2):
            assert quotas.receive_property(cur, a.id, "c1", "u1", "detail", plan_=PLANS["enterprise"]) is None
        assert quotas.receive_property(cur, a.id, "c1", "u2", "detail", plan_=PLANS["free"]) is None
        assert quotas.receive_property(cur, a.id, "c1", "u2", "detail", plan_=PLANS["free"]) is None
    assert receipts(database_url, a.id) == base + 2
