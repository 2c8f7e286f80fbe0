"""Suspending, resuming and deleting a tenant, through the API (platform admin) and the CLI
(operator), on real PostgreSQL and a real local object directory."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from realestate_assets.accounts import store
from realestate_assets.cli import app
from realestate_assets.db.tenancy import tenant_column_tables
from realestate_assets.objects import LocalObjectStore, tenant_key
from tests.api.helpers_api import PASSWORD, api_client, bearer, login, make_tenant, owner_cursor


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    with api_client(database_url, tmp_path_factory.mktemp("lifecycle-api")) as c:
        yield c


@pytest.fixture(scope="module")
def operator(database_url: str) -> str:
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    with owner_cursor(database_url) as cur:
        store.create_user(cur, email, PASSWORD, platform_admin=True, verified=True)
    return email


def test_a_suspended_tenant_is_refused_until_resumed(client: TestClient, database_url: str, operator: str) -> None:
    tenant = make_tenant(database_url, "susp")
    analyst = login(client, tenant.users["analyst"]["email"])
    ops = login(client, operator)
    suspend = client.patch(f"/api/v1/tenants/{tenant.id}", headers=bearer(ops["access_token"]),
                           json={"suspended": True, "reason": "invoice 2026-11 unpaid"})
    assert suspend.status_code == 200 and suspend.json()["suspended_reason"] == "invoice 2026-11 unpaid"
    refused = client.get("/api/v1/me", headers=bearer(analyst["access_token"]))
    assert refused.status_code == 403 and "invoice 2026-11 unpaid" in refused.json()["detail"]
    assert client.get("/api/v1/me", headers={"X-API-Key": tenant.keys["read"]}).status_code == 403
    again = client.post("/api/v1/auth/login", json={"email": tenant.users["viewer"]["email"], "password": PASSWORD})
    assert again.status_code == 403 and "suspended" in again.json()["detail"]
    # The platform's operators still reach it.
    assert client.get("/api/v1/tenants", headers=bearer(ops["access_token"])).status_code == 200

    resume = client.patch(f"/api/v1/tenants/{tenant.id}", headers=bearer(ops["access_token"]),
                          json={"suspended": False})
    assert resume.status_code == 200 and resume.json()["suspended_at"] is None
    assert client.get("/api/v1/me", headers=bearer(analyst["access_token"])).status_code == 200
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT action FROM audit_log WHERE tenant_id = %s AND entity = 'tenants' ORDER BY id",
                    (tenant.id,))
        assert [r[0] for r in cur.fetchall()][-2:] == ["suspend", "resume"]
    default = client.patch("/api/v1/tenants/default", headers=bearer(ops["access_token"]), json={"suspended": True})
    assert default.status_code == 409
    missing = client.patch("/api/v1/tenants/no-such-tenant", headers=bearer(ops["access_token"]),
                           json={"suspended": True})
    assert missing.status_code == 404


def counts(database_url: str, tenant_id: str) -> dict[str, int]:
    with owner_cursor(database_url) as cur:
        found = {}
        for table in tenant_column_tables(cur):
            cur.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id = %s', (tenant_id,))
            found[table] = cur.fetchone()[0]
        return found


def test_reos_tenant_delete_removes_every_row_and_object_of_the_tenant_only(database_url: str,
                                                                            tmp_path: Path) -> None:
    doomed, kept = make_tenant(database_url, "doomed"), make_tenant(database_url, "kept")
    state = tmp_path / "state"
    objects = LocalObjectStore(state / "objects")
    for tenant in (doomed, kept):
        objects.put(tenant_key(tenant.id, "packets", "king_wa", "p1", "memo.pdf"), b"%PDF-1.7", "application/pdf")
    before_kept = counts(database_url, kept.id)
    assert all(before_kept[t] >= 1 for t in ("memberships", "api_keys", "emails", "email_packets", "email_events",
                                             "notes", "webhook_endpoints", "audit_log"))
    env = {"REOS_ENV": "local", "DATABASE_URL": database_url, "REOS_STATE_DIR": str(state)}
    runner = CliRunner()
    unconfirmed = runner.invoke(app, ["tenant", "delete", doomed.id], env=env)
    assert unconfirmed.exit_code == 2 and counts(database_url, doomed.id)["memberships"] == 4

    done = runner.invoke(app, ["tenant", "delete", doomed.id, "--yes"], env=env)
    assert done.exit_code == 0, done.output
    assert "1 objects" in done.output
    assert set(counts(database_url, doomed.id).values()) == {0}
    assert counts(database_url, kept.id) == before_kept
    assert not (state / "objects" / "tenants" / doomed.id).exists()
    assert (state / "objects" / "tenants" / kept.id).exists()
    with owner_cursor(database_url) as cur:
        assert not store.tenant_exists(cur, doomed.id)
        assert store.find_user(cur, doomed.users["owner"]["email"]) is not None  # people stay
        cur.execute("SELECT before FROM audit_log WHERE tenant_id = 'default' AND entity = 'tenants' "
                    "AND entity_key = %s AND action = 'delete'", (doomed.id,))
        (trail,) = cur.fetchone()
    assert trail["rows"]["memberships"] == 4
    assert runner.invoke(app, ["tenant", "delete", "default", "--yes"], env=env).exit_code == 1


def test_suspension_rules_in_the_store(database_url: str) -> None:
    tenant = make_tenant(database_url, "rules")
    with owner_cursor(database_url) as cur:
        assert store.suspension(cur, tenant.id) is None
        before, after = store.set_suspension(cur, tenant.id, "audit")
        assert (before["suspended"], after["suspended"]) == (False, True)
        assert store.suspension(cur, tenant.id) == "audit"
        before, after = store.set_suspension(cur, tenant.id, "audit")
        assert before == after  # nothing changed: store.audit writes no row for it
        with pytest.raises(store.AccountError):
            store.set_suspension(cur, f"nope-{uuid.uuid4().hex[:4]}", None)




def test_a_suspended_tenant_plans_and_sends_nothing(database_url: str) -> None:
    """The pipeline's one outreach loader gives a suspended tenant no active campaign, with the
    reason (the emails asset reports it as `tenant_suspended`)."""
    import psycopg2

    from realestate_assets.outreach.tenant_data import load_tenant_outreach
    from tests.api.helpers_api import dsn
    from tests.databases import create_tenant

    tenant_id = create_tenant(database_url)  # recipients and campaigns seeded from config/
    conn = psycopg2.connect(dsn(database_url))
    try:
        active = load_tenant_outreach(conn, tenant_id)
        assert active.campaigns and active.recipients and active.suspended is None
        with conn.cursor() as cur:
            store.set_suspension(cur, tenant_id, "invoice unpaid")
        suspended = load_tenant_outreach(conn, tenant_id)
        assert suspended.campaigns == [] and suspended.suspended == "invoice unpaid"
        assert suspended.recipients == active.recipients  # nothing of its data changes
    finally:
        conn.rollback()
        conn.close()
