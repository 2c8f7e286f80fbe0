"""Repeated idempotent requests write one audit row, not one per repeat (issue #14 item 8).

The rule (accounts.store.audit): a write that changed nothing it records leaves no row.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from realestate_assets.accounts.store import unchanged
from realestate_assets.outreach.messages import unsubscribe_token
from tests.api.helpers_api import bearer, login, make_tenant, owner_cursor


def audit_count(database_url: str, tenant_id: str, action: str, entity: str, key: Any = None) -> int:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = %s AND entity = %s "
                    "AND (%s::text IS NULL OR entity_key = %s::text)", (tenant_id, action, entity, key, key))
        return cur.fetchone()[0]


def test_repeated_revoke_writes_one_audit_row(client: TestClient, database_url: str) -> None:
    a = make_tenant(database_url, "audit-a")
    admin = bearer(login(client, a.users["admin"]["email"])["access_token"])
    key_id = client.post("/api/v1/api-keys", json={"name": "bot", "scopes": ["read"]}, headers=admin).json()["id"]
    for _ in range(3):
        response = client.delete(f"/api/v1/api-keys/{key_id}", headers=admin)
        assert response.status_code == 200 and response.json()["revoked_at"]
    assert audit_count(database_url, a.id, "revoke", "api_keys", key_id) == 1


def test_setting_the_same_role_again_writes_no_second_row(client: TestClient, database_url: str) -> None:
    a = make_tenant(database_url, "audit-b")
    admin = bearer(login(client, a.users["admin"]["email"])["access_token"])
    for _ in range(3):
        invited = client.post("/api/v1/members", json={"email": "same@example.com", "role": "analyst"}, headers=admin)
        assert invited.status_code == 201
    uid = invited.json()["user_id"]
    assert audit_count(database_url, a.id, "create", "memberships", uid) == 1
    assert audit_count(database_url, a.id, "update", "memberships", uid) == 0
    for _ in range(3):
        assert client.patch(f"/api/v1/members/{uid}", json={"role": "viewer"}, headers=admin).status_code == 200
    assert audit_count(database_url, a.id, "update", "memberships", uid) == 1  # the one real change


def test_repeated_unsubscribe_click_writes_one_audit_row(client: TestClient, database_url: str) -> None:
    a = make_tenant(database_url, "audit-c")
    token = unsubscribe_token("u" * 32, a.id, "reader@example.com")  # the api_client's unsubscribe secret
    for _ in range(3):
        response = client.post(f"/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click")
        assert response.status_code == 200
    assert audit_count(database_url, a.id, "unsubscribe", "suppressions", "reader@example.com") == 1


def test_unchanged_is_a_pure_rule() -> None:
    assert unchanged({"role": "admin"}, {"id": 1, "role": "admin"})
    assert not unchanged({"role": "admin"}, {"id": 1, "role": "viewer"})
    assert not unchanged(None, {"id": 1}) and not unchanged({"id": 1}, None)
    assert not unchanged({"revoked_at": None}, {"revoked_at": "2026-12-03T00:00:00+00:00"})
