"""The API logged in as a bare `reos_api` member (production shape: a login role that owns nothing
and has no grant but `reos_api`): the SendGrid webhook and the unsubscribe routes find their tenant
through SECURITY DEFINER functions (migration 0016) and scope themselves, so they still work."""

from __future__ import annotations

import json
import time
import uuid

import psycopg2
import pytest
from fastapi.testclient import TestClient
from psycopg2 import sql
from sqlalchemy.engine import make_url

from realestate_assets.api.app import SIGNATURE_HEADER, TIMESTAMP_HEADER, ApiSettings, create_app
from realestate_assets.outreach.messages import unsubscribe_token
from tests.api.helpers_api import JWT_SECRET, dsn, make_tenant, owner_cursor
from tests.outreach.helpers_outreach import WebhookKeys

UNSUBSCRIBE_SECRET = "u" * 32


@pytest.fixture(scope="module")
def bare_url(database_url: str):
    """The test database reached as a fresh LOGIN role whose only privilege is membership of reos_api."""
    login = f"reos_api_login_{uuid.uuid4().hex[:8]}"
    with owner_cursor(database_url) as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE reos_api").format(sql.Identifier(login)))
    yield make_url(database_url).set(username=login).render_as_string(hide_password=False)
    with owner_cursor(database_url) as cur:
        cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def _email_id(cur, tenant_id: str) -> int:
    cur.execute("SELECT id FROM emails WHERE tenant_id = %s", (tenant_id,))
    return cur.fetchone()[0]


def test_the_bare_login_sees_nothing_unscoped(bare_url: str) -> None:
    conn = psycopg2.connect(dsn(bare_url))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (False, False)
            cur.execute("SELECT count(*) FROM emails")  # no app.tenant_id: row-level security shows nothing
            assert cur.fetchone()[0] == 0
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT count(*) FROM rejects")  # it may add its tenant's rejects, never read them
    finally:
        conn.close()


def test_webhook_and_unsubscribe_work_as_a_bare_api_login(database_url: str, bare_url: str) -> None:
    a, b = make_tenant(database_url, "hook-a"), make_tenant(database_url, "hook-b")
    with owner_cursor(database_url) as cur:
        email_a, email_b = _email_id(cur, a.id), _email_id(cur, b.id)
    keys = WebhookKeys()
    app = create_app(ApiSettings(database_url=bare_url, webhook_public_key=keys.public_b64,
                                 unsubscribe_secret=UNSUBSCRIBE_SECRET, link_secret="l" * 32, jwt_secret=JWT_SECRET))
    now = int(time.time())
    events = [
        {"event": "delivered", "email": "r@example.com", "timestamp": now, "sg_event_id": f"ev-{uuid.uuid4().hex}",
         "reos_email_id": str(email_a)},
        {"event": "bounce", "email": "r@example.com", "timestamp": now, "sg_event_id": f"ev-{uuid.uuid4().hex}",
         "reos_email_id": str(email_b), "reason": "550 no such user"},
        # Malformed (no timestamp), naming tenant B: rejected into B's rejects.
        {"event": "open", "email": "r@example.com", "sg_event_id": f"ev-{uuid.uuid4().hex}", "reos_tenant": b.id},
        # Naming no tenant we know (a NUL in it): unplaced, recorded under no tenant; the batch still applies.
        {"event": "open", "email": "r@example.com", "sg_event_id": f"ev-{uuid.uuid4().hex}", "timestamp": now,
         "reos_tenant": "b\u0000" + "x" * 5000},
        # Well-formed, but neither its email nor its tenant is ours (another sender's, or a deleted
        # tenant's): no event row, no suppression, in no tenant's name.
        {"event": "bounce", "email": "stranger@example.com", "timestamp": now, "sg_event_id": f"ev-{uuid.uuid4().hex}",
         "reos_email_id": "999999999", "reos_tenant": "gone-tenant", "reason": "550 no such user"},
    ]
    body = json.dumps(events)
    stamp = str(now)
    with TestClient(app) as client:
        answer = client.post("/webhooks/sendgrid", content=body, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: keys.sign(body, stamp)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["recorded"] == 2 and answer.json()["rejected"] == 3 and answer.json()["unplaced"] == 2
        token = unsubscribe_token(UNSUBSCRIBE_SECRET, a.id, "leaver@example.com")
        gone = client.post(f"/unsubscribe?token={token}", content="List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert gone.status_code == 200, gone.text
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {a.keys['read']}"})
        assert me.status_code == 200 and me.json()["tenant_id"] == a.id

    with owner_cursor(database_url) as cur:
        cur.execute("SELECT tenant_id, email_id, event FROM email_events WHERE sg_event_id = ANY(%s) ORDER BY id",
                    ([e["sg_event_id"] for e in events],))
        assert cur.fetchall() == [(a.id, email_a, "delivered"), (b.id, email_b, "bounce")]
        cur.execute("SELECT id, status, delivered_at IS NOT NULL FROM emails WHERE id IN (%s, %s) ORDER BY id",
                    (email_a, email_b))
        assert {r[0]: r[1:] for r in cur.fetchall()} == {email_a: ("pending", True), email_b: ("bounced", False)}
        cur.execute("SELECT tenant_id, email, source FROM suppressions WHERE email IN "
                    "('r@example.com', 'leaver@example.com') ORDER BY tenant_id, email")
        assert cur.fetchall() == sorted([(b.id, "r@example.com", "sendgrid_webhook"),
                                         (a.id, "leaver@example.com", "one_click")])
        cur.execute("SELECT tenant_id, reason FROM rejects WHERE source_ref = %s", (events[2]["sg_event_id"],))
        assert cur.fetchall() == [(b.id, "timestamp missing")]
        unplaced = [events[3]["sg_event_id"], events[4]["sg_event_id"]]
        # Recorded under no tenant (migration 0048's policy), with the reason; nothing in a tenant's name.
        cur.execute("SELECT tenant_id FROM rejects WHERE source_ref = ANY(%s)", (unplaced,))
        assert [r[0] for r in cur.fetchall()] == [None, None]
        cur.execute("SELECT count(*) FROM email_events WHERE sg_event_id = ANY(%s)", (unplaced,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM suppressions WHERE email = 'stranger@example.com'")
        assert cur.fetchone()[0] == 0


def test_an_unplaced_event_is_a_tenantless_reject(database_url: str) -> None:
    """The API role records an unplaced event in `rejects` with no tenant and its reason (migration
    0048's policy), and still nothing under any tenant; the transaction is rolled back."""
    from realestate_assets.outreach.events import UNPLACED, record_events

    now = int(time.time())
    stranger = {"event": "bounce", "email": "stranger2@example.com", "timestamp": now,
                "sg_event_id": f"ev-{uuid.uuid4().hex}", "reos_tenant": "gone-tenant"}
    malformed = {"event": "open", "sg_event_id": f"ev-{uuid.uuid4().hex}"}  # no time, no tenant
    conn = psycopg2.connect(dsn(database_url))
    try:
        counts = record_events(conn, [stranger, malformed], now=now)
        assert counts == {"rejected": 2, "unplaced": 2}
        with conn.cursor() as cur:
            cur.execute("RESET ROLE")  # the test's owner login reads what the API role wrote
            cur.execute("SELECT source_ref, tenant_id, asset, source, reason FROM rejects WHERE source_ref = ANY(%s)",
                        ([stranger["sg_event_id"], malformed["sg_event_id"]],))
            found = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute("SELECT count(*) FROM suppressions WHERE email = 'stranger2@example.com'")
            assert cur.fetchone()[0] == 0
    finally:
        conn.rollback()
        conn.close()
    assert found == {stranger["sg_event_id"]: (None, "email_events", "sendgrid_webhook", UNPLACED),
                     malformed["sg_event_id"]: (None, "email_events", "sendgrid_webhook",
                                                f"timestamp missing; {UNPLACED}")}
