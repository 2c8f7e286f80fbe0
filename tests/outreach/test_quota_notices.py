"""Notices before a quota is used up (issue #11), on real PostgreSQL: a tenant past 80 % of a
monthly limit gets one email to each owner and admin (outbox) and one `quota.warning` webhook
delivery to an endpoint that takes it — once per quota and month, whatever ticks follow."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import psycopg2

from realestate_assets.accounts import quotas
from realestate_assets.accounts.notices import AccountMail
from realestate_assets.accounts.plans import PLANS, plan
from realestate_assets.accounts.quota_notices import due, send_quota_notices
from realestate_assets.outreach.mailer import OutboxMailer
from realestate_assets.outreach.webhooks import enqueue
from tests.api.helpers_api import dsn, make_tenant, owner_cursor

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def test_due_at_the_threshold_of_a_limited_monthly_quota_only() -> None:
    free = plan("free")
    assert not due(quotas.usage_of(free, "properties", 79, NOW))
    assert due(quotas.usage_of(free, "properties", 80, NOW)) and due(quotas.usage_of(free, "emails", 400, NOW))
    assert not due(quotas.usage_of(plan("enterprise"), "properties", 10 ** 6, NOW))
    assert not due(quotas.usage_of(free, "storage", 2 * PLANS["free"].storage, NOW))  # no period: no notice


def _fill(database_url: str, tenant_id: str, n: int) -> None:
    """`n` properties received this month elsewhere (k1..kn: a second fill adds only the new ones)."""
    with owner_cursor(database_url) as cur:
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "SELECT %s, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 'elsewhere', 'k' || i, 'packet' "
                    "FROM generate_series(1, %s) i ON CONFLICT DO NOTHING", (tenant_id, n))


def _tick(database_url: str, outbox: Path) -> int:
    mail = AccountMail(OutboxMailer(outbox), from_email="billing@reos.example", from_name="REOS")
    conn = psycopg2.connect(dsn(database_url))
    try:
        return send_quota_notices(conn, mail, enqueue=enqueue, base_url="https://app.example.com")
    finally:
        conn.close()


def _mail_to(outbox: Path, to: str) -> list[Any]:
    found = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in found if m["To"] == to]


def test_a_tenant_past_80_percent_is_noticed_once_per_quota_and_month(database_url: str, tmp_path: Path) -> None:
    tenant = make_tenant(database_url, "qnotice")
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant.id,))
        cur.execute("INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret) VALUES "
                    "(%s, 'https://hooks.example.com/q', '{quota.warning}', 'whsec_c2VlZA==')", (tenant.id,))
    _fill(database_url, tenant.id, 78)  # with make_tenant's own receipt: 79 of 100
    _tick(database_url, tmp_path)
    owner, admin = (tenant.users[r]["email"] for r in ("owner", "admin"))
    assert _mail_to(tmp_path, owner) == []

    _fill(database_url, tenant.id, 79)  # 80 of 100: the threshold
    assert _tick(database_url, tmp_path) >= 1
    (notice,) = _mail_to(tmp_path, owner)
    assert len(_mail_to(tmp_path, admin)) == 1
    for role in ("analyst", "viewer"):  # owners and admins only: they can change the plan
        assert _mail_to(tmp_path, tenant.users[role]["email"]) == []
    assert "80 % of this month's properties" in notice["Subject"]
    body = notice.get_content()
    assert "80 of the 100 properties its free plan allows this month" in body and "resets on" in body
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT quota, used, quota_limit, recipients FROM quota_notices WHERE tenant_id = %s "
                    "AND period_start = date_trunc('month', now() AT TIME ZONE 'UTC')::date", (tenant.id,))
        assert cur.fetchall() == [("properties", 80, 100, 2)]
        cur.execute("SELECT event_key, payload FROM webhook_deliveries WHERE tenant_id = %s "
                    "AND event_type = 'quota.warning'", (tenant.id,))
        ((key, payload),) = cur.fetchall()
    assert key.startswith("quota.warning:properties:")
    data = payload["data"]
    assert data["quota"] == "properties" and data["used"] == 80 and data["limit"] == 100

    # More usage, more ticks: nothing again this month (the emails quota has its own notice, not due).
    _fill(database_url, tenant.id, 95)
    _tick(database_url, tmp_path)
    _tick(database_url, tmp_path)
    assert len(_mail_to(tmp_path, owner)) == 1
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM webhook_deliveries WHERE tenant_id = %s AND event_type = 'quota.warning'",
                    (tenant.id,))
        assert cur.fetchone()[0] == 1
