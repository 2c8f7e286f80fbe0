"""Two tenants with a little of everything, written through the account store as the owner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.enrich.provenance import compact
from realestate_assets.enrich.stored_provenance import ProvenanceIds

PASSWORD = "correct horse battery"
JWT_SECRET = "api-test-secret-0123456789abcdef0123456789"


def dsn(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg2", "postgresql")


@contextmanager
def owner_cursor(database_url: str) -> Iterator[Any]:
    """The pipeline's connection: the table owner, committed on success."""
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@dataclass
class Tenant:
    id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> user row
    keys: dict[str, str] = field(default_factory=dict)  # scope -> key string


def make_tenant(database_url: str, label: str) -> Tenant:
    """A tenant with one user per role, one key per scope, a subscription, a session and an
    audit row, plus one row in each outreach table (packets, emails, events, suppressions), a note,
    a saved search (and a match it emailed), a review mark, its settings row, a billing account
    (no customer) and a property received; on the unlimited plan."""
    tenant = Tenant(id=f"{label}-{uuid.uuid4().hex[:8]}")
    with owner_cursor(database_url) as cur:
        store.create_tenant(cur, tenant.id, f"Tenant {label}")
        # Unlimited, as the rate limits below: tests not about plans never meet a quota (test_quotas.py).
        cur.execute("UPDATE tenants SET plan = 'enterprise' WHERE id = %s", (tenant.id,))
        for role in ("owner", "admin", "analyst", "viewer"):
            user = store.create_user(cur, f"{role}.{tenant.id}@example.com", PASSWORD, verified=True)
            store.set_membership(cur, tenant.id, user["id"], role)
            tenant.users[role] = user
        for scope in ("read", "write", "admin"):
            _, key = store.create_api_key(cur, tenant.id, tenant.users["owner"]["id"], f"{scope} key", [scope])
            tenant.keys[scope] = key
        store.subscribe(cur, tenant.id, "king_wa")
        store.audit(cur, None, tenant.id, "seed", "tenants", tenant.id)
        cur.execute("INSERT INTO refresh_tokens (tenant_id, user_id, family_id, token_hash, expires_at) "
                    "VALUES (%s, %s, %s, %s, now() + interval '1 day')",
                    (tenant.id, tenant.users["viewer"]["id"], str(uuid.uuid4()), uuid.uuid4().hex))
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                    "(%s, 'king_wa', 'p1', 'memo', '1', 'h', %s, 's', 10, 80, now()) RETURNING id",
                    (tenant.id, f"tenants/{tenant.id}/packets/king_wa/p1.pdf"))
        packet_id = cur.fetchone()[0]
        # packet_ids as the pipeline writes it: its trigger lists the packet in email_packets (0051).
        cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, packet_ids, recipient_email, subject, "
                    "provider, send_key) VALUES (%s, 'king_wa', 'new_opportunity', %s, %s, 'r@example.com', 'Deal', "
                    "'outbox', %s) RETURNING id", (tenant.id, packet_id, [packet_id], f"packet:{packet_id}"))
        email_id = cur.fetchone()[0]
        cur.execute("INSERT INTO email_events (tenant_id, email_id, sg_event_id, event, occurred_at, payload) "
                    "VALUES (%s, %s, %s, 'delivered', now(), '{}')", (tenant.id, email_id, uuid.uuid4().hex))
        cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) "
                    "VALUES (%s, 'gone@example.com', 'unsubscribe', 'test')", (tenant.id,))
        cur.execute("INSERT INTO notes (tenant_id, county, prospect_key, user_id, author, body) "
                    "VALUES (%s, 'king_wa', 'p1', %s, 'seed', 'a note')", (tenant.id, tenant.users["analyst"]["id"]))
        cur.execute("INSERT INTO saved_searches (tenant_id, user_id, name, filters) VALUES (%s, %s, 'seed', '{}') "
                    "RETURNING id", (tenant.id, tenant.users["viewer"]["id"]))
        cur.execute("INSERT INTO search_alert_emails (tenant_id, search_id, county, prospect_key, status, sent_at) "
                    "VALUES (%s, %s, 'king_wa', 'p1', 'sent', now())", (tenant.id, cur.fetchone()[0]))
        cur.execute("INSERT INTO packet_requests (tenant_id, county, prospect_key, requested_by) "
                    "VALUES (%s, 'king_wa', 'p1', 'seed')", (tenant.id,))
        # Switched off: other tests' webhook ticks must not try to deliver to it.
        cur.execute("INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret, is_active) "
                    "VALUES (%s, 'https://hooks.example.com/seed', '{ping}', 'whsec_c2VlZA==', false) RETURNING id",
                    (tenant.id,))
        cur.execute("INSERT INTO webhook_deliveries (tenant_id, endpoint_id, message_id, event_type, event_key, "
                    "payload, status) VALUES (%s, %s, %s, 'ping', 'ping:seed', '{}', 'delivered')",
                    (tenant.id, cur.fetchone()[0], f"msg_{uuid.uuid4().hex}"))
        cur.execute("INSERT INTO property_reviews (tenant_id, county, prospect_key, reviewed_by) "
                    "VALUES (%s, 'king_wa', 'p1', 'seed')", (tenant.id,))
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "VALUES (%s, date_trunc('month', now())::date, 'king_wa', 'p1', 'detail')", (tenant.id,))
        # Long past: today's API calls and this month's notices stay the tests' own.
        cur.execute("INSERT INTO api_call_days (tenant_id, day, calls) VALUES (%s, '2000-01-01', 1)", (tenant.id,))
        cur.execute("INSERT INTO quota_notices (tenant_id, quota, period_start, plan, used, quota_limit) "
                    "VALUES (%s, 'emails', '2000-01-01', 'free', 400, 500)", (tenant.id,))
        cur.execute("INSERT INTO recipients (tenant_id, name, email) VALUES (%s, 'Seed Recipient', 'r@example.com')",
                    (tenant.id,))
        cur.execute("INSERT INTO tenant_settings (tenant_id, display_name) VALUES (%s, %s)",
                    (tenant.id, f"Tenant {label}"))
        cur.execute("INSERT INTO billing_accounts (tenant_id) VALUES (%s)", (tenant.id,))  # no customer yet
        cur.execute("INSERT INTO segments (tenant_id, name, criteria) VALUES (%s, 'seed', '{}') RETURNING id",
                    (tenant.id,))
        cur.execute("INSERT INTO campaigns (tenant_id, key, type, subjects, segment_id) "
                    "VALUES (%s, 'new_opportunity', 'new_opportunity', ARRAY['Deal'], %s) RETURNING id",
                    (tenant.id, cur.fetchone()[0]))
        cur.execute("INSERT INTO campaign_properties (tenant_id, campaign_id, county, prospect_key, added_by) "
                    "VALUES (%s, %s, 'king_wa', 'p1', 'seed')", (tenant.id, cur.fetchone()[0]))
        cur.execute("INSERT INTO idempotency_keys (tenant_id, key, request_hash, method, path, status_code, "
                    "response_body, content_type) VALUES (%s, 'seed', 'h', 'POST', '/api/v1/notes', 201, '{}', "
                    "'application/json')", (tenant.id,))
    return tenant


# A test app holds a few database connections, not production's 16 (app.DB_POOL_SIZE): the suite keeps
# several apps open at once on two workers, under the server's max_connections (100 by default).
TEST_POOL = {"db_pool_size": 4}

# Every TestClient request comes from one address: tests that are not about rate limits must not meet them.
UNLIMITED = "1000000/minute"


@contextmanager
def api_client(database_url: str, state_dir: Any, rate_limits: Any = None,
               redis_url: str | None = None, qdrant_path: str | None = None,
               **settings: Any) -> Iterator[TestClient]:
    """The API app on the test database, through FastAPI's TestClient (`settings`: more ApiSettings)."""
    from realestate_assets.api.app import ApiSettings, create_app
    from realestate_assets.api.v1.throttle import RateLimits
    from realestate_assets.settings import repo_root

    limits = rate_limits or RateLimits(ip=UNLIMITED, principal=UNLIMITED, login=UNLIMITED)
    settings.setdefault("config_dir", str(repo_root() / "config"))
    app = create_app(ApiSettings(database_url=database_url, jwt_secret=JWT_SECRET,
                                 objects_dir=str(state_dir / "objects"),
                                 unsubscribe_secret="u" * 32, link_secret="l" * 32, rate_limits=limits,
                                 redis_url=redis_url, outbox_dir=str(state_dir / "outbox"),
                                 qdrant_path=qdrant_path or str(state_dir / "no-qdrant"), **{**TEST_POOL, **settings}))
    with TestClient(app) as client:
        yield client


def login(client: TestClient, email: str, tenant_id: str | None = None) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD, "tenant_id": tenant_id})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


N_A, N_B = 37, 9
PROVENANCE = {"living_sqft": {"source": "county_assessor", "fetched_at": "2026-12-01T04:00:00+00:00",
                              "confidence": 1.0}}


def seed_county(cur: Any, county: str, n: int) -> None:
    """`n` properties as the pipeline writes them: every fourth only discovered (no enrichment, no
    score); scores tie in fives; a third without asking price; addresses on MAIN or OAK street;
    provenance in its stored, grouped form for odd i, in the per-field form of older rows for even."""
    ensure_county_partitions(cur, county)
    for i in range(1, n + 1):
        key = f"{county}-{i:04d}"
        scored = i % 4 != 0
        cur.execute(
            "INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, zip, use_type, "
            "list_price) VALUES (%s, %s, %s, %s, 'SEATTLE', 'WA', '98103', %s, %s)",
            (county, key, f"{i:010d}", f"{100 + i} {'OAK' if i % 3 == 0 else 'MAIN'} ST",
             "condo" if i % 2 == 0 else "single_family",
             None if i % 3 == 0 else 300000.0 + 1000 * i))
        if not scored:
            continue
        # The provenance as its county's document (migration 0063), in either stored form.
        (provenance_id,) = ProvenanceIds(cur.connection, county).ids(
            [json.dumps(compact(PROVENANCE) if i % 2 else PROVENANCE)])
        cur.execute(
            "INSERT INTO enrichment (county, prospect_key, as_of_date, status, use_type, living_sqft, "
            "year_built, last_sale_price, last_sale_date, provenance_id) "
            "VALUES (%s, %s, '2026-12-01', 'enriched', 'single_family', %s, 1950, 415000, '2014-06-02', %s)",
            (county, key, 1000.0 + i, int(provenance_id)))
        breakdown = {"reasons": [f"reason for {key}"], "value_factors": []} if i == 1 else None
        cur.execute(
            "INSERT INTO scores (county, prospect_key, as_of_date, estimated_value, estimated_value_low, "
            "estimated_value_high, value_gap_pct, bird_dog_score, score_rank, equity_percentile, tenure_percentile, "
            "score_breakdown, model_version) VALUES (%s, %s, '2026-12-01', %s, %s, %s, 10.0, %s, %s, %s, %s, %s, 'v1')",
            (county, key, 500000.0 + i, 430000.0 + i, 605000.0 + i, 50.0 + (i % 5) * 10, i, 91.0, 40.0,
             json.dumps(breakdown) if breakdown else None))
    # The county's component names (and no model versions), as the scores step records them (0060).
    cur.execute("INSERT INTO score_model_versions (county, components) VALUES (%s, '{equity,tenure}') "
                "ON CONFLICT (county) DO NOTHING", (county,))
