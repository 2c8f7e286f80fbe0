"""/api/v1 through FastAPI's TestClient on real PostgreSQL: sessions, keys, the route × role
table generated from the OpenAPI document, problem+json errors and audit rows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.accounts.roles import role_permissions, scope_permissions
from realestate_assets.api.v1.security import PERMISSION_KEY
from tests.api.helpers_api import PASSWORD, bearer, login, make_tenant, owner_cursor

MISSING = {"user_id": "999999999", "key_id": "999999999", "county": "no_such_county", "property_id": "999999999",
           "note_id": "999999999", "search_id": "999999999", "model_id": "999999999", "endpoint_id": "999999999",
           "tenant_id": "no-such-tenant", "recipient_id": "999999999", "segment_id": "999999999",
           "campaign_id": "999999999", "name": "no_such_schedule",
           "run_id": "no-such-run"}


@pytest.fixture(scope="module")
def tenants(database_url: str):
    return make_tenant(database_url, "api-a"), make_tenant(database_url, "api-b")


@pytest.fixture(scope="module")
def platform_admin(database_url: str) -> dict[str, Any]:
    with owner_cursor(database_url) as cur:
        return store.create_user(cur, "operator@reos.example", PASSWORD, platform_admin=True, verified=True)


def audit_rows(database_url: str, tenant_id: str, action: str, entity: str) -> list[dict[str, Any]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT actor, entity_key, user_id, api_key_id, before, after, request_id, ip FROM audit_log "
                    "WHERE tenant_id = %s AND action = %s AND entity = %s ORDER BY id", (tenant_id, action, entity))
        names = [c.name for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_login_refresh_reuse_and_logout(client: TestClient, tenants, database_url: str) -> None:
    a, _ = tenants
    email = a.users["viewer"]["email"]
    bad = client.post("/api/v1/auth/login", json={"email": email, "password": "not the password"})
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["title"] == "Unauthorized" and "WWW-Authenticate" in bad.headers

    pair = login(client, email)
    assert pair["tenant_id"] == a.id and pair["role"] == "viewer" and pair["expires_in"] == 900
    me = client.get("/api/v1/me", headers=bearer(pair["access_token"])).json()
    assert me["actor"] == email and me["permissions"] == ["read"] and me["memberships"] == [
        {"tenant_id": a.id, "role": "viewer"}]

    new = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert new.status_code == 200 and new.json()["refresh_token"] != pair["refresh_token"]
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["detail"] == "refresh token reused"
    # The thief's replay revoked the family: the legitimate newest token is dead too.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": new.json()["refresh_token"]}).status_code == 401
    assert audit_rows(database_url, a.id, "refresh_reuse_revoked_session", "sessions")

    second = login(client, email)
    request_id = "req-logout-1"
    out = client.post("/api/v1/auth/logout", json={"refresh_token": second["refresh_token"]},
                      headers={"X-Request-ID": request_id})
    assert out.status_code == 204 and out.headers["X-Request-ID"] == request_id
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert [r["request_id"] for r in audit_rows(database_url, a.id, "logout", "sessions")] == [request_id]
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "unknown"}).status_code == 204


def _principals(client: TestClient, tenants, platform_admin) -> dict[str, tuple[dict[str, str], frozenset[str]]]:
    a, _ = tenants
    found = {}
    for role, user in a.users.items():
        found[f"role:{role}"] = (bearer(login(client, user["email"])["access_token"]), role_permissions(role))
    operator = login(client, platform_admin["email"], a.id)
    found["platform_admin"] = (bearer(operator["access_token"]), role_permissions(None, platform_admin=True))
    for scope, key in a.keys.items():
        found[f"key:{scope}"] = ({"X-API-Key": key}, scope_permissions([scope]))
    found["key:read(bearer)"] = (bearer(a.keys["read"]), scope_permissions(["read"]))
    return found


def _example_body(spec: dict[str, Any], operation: dict[str, Any]) -> Any:
    body = operation.get("requestBody")
    if not body or "application/json" not in body["content"]:
        return None  # a CSV upload: sent without a body, refused or answered 422 — never 401/403 when allowed
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return spec["components"]["schemas"][ref]["examples"][0]


def test_route_by_role_table_from_the_openapi_document(client: TestClient, tenants, platform_admin) -> None:
    spec = client.app.openapi()
    operations = [(path, method, op) for path, ops in spec["paths"].items() if path.startswith("/api/v1")
                  for method, op in ops.items()]
    # Without credentials by design: they are how a person gets credentials; Stripe signs its events instead.
    public = {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/password-reset",
              "/api/v1/auth/password-reset/confirm", "/api/v1/auth/verify-email/confirm",
              "/api/v1/auth/verify-email/resend", "/api/v1/billing/stripe/webhook"}
    assert all(PERMISSION_KEY in op for path, _, op in operations if path not in public)
    principals = _principals(client, tenants, platform_admin)
    checked = []
    for path, method, op in operations:
        if path in public:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: MISSING[m.group(1)], path)
        body = _example_body(spec, op)
        anonymous = client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, path)
        for name, (headers, permissions) in principals.items():
            status = client.request(method, url, json=body, headers=headers).status_code
            allowed = op[PERMISSION_KEY] in permissions
            assert (status not in (401, 403)) if allowed else (status == 403), (method, path, name, status)
            checked.append((method, path, name, allowed))
    assert len({(m, p) for m, p, _, _ in checked}) >= 13
    assert any(allowed for *_, allowed in checked) and not all(allowed for *_, allowed in checked)


def test_problem_details_under_v1_and_old_shapes_elsewhere(client: TestClient) -> None:
    bad = client.post("/api/v1/auth/login", json={"email": 3})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"] and bad.json()["type"].endswith("unprocessable-entity")
    assert client.get("/api/v1/nope").headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/me", headers=bearer("garbage")).status_code == 401
    old = client.get("/objects/x.pdf", params={"expires": 1, "signature": "bad"})
    assert old.status_code == 403 and old.json() == {"error": "link expired or not valid"}
    assert client.get("/objects/x.pdf").json()["detail"][0]["type"] == "missing"  # FastAPI's default shape
    assert client.get("/healthz").json() == {"status": "ok"}


def test_api_keys_shown_once_scoped_and_revocable(client: TestClient, tenants, database_url: str) -> None:
    a, b = tenants
    admin = bearer(login(client, a.users["admin"]["email"])["access_token"])
    created = client.post("/api/v1/api-keys", json={"name": "export bot", "scopes": ["read"]}, headers=admin)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(f"reos_{created.json()['prefix']}_")
    listed = client.get("/api/v1/api-keys", headers=admin).json()
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    assert created.json()["prefix"] in {k["prefix"] for k in listed}
    assert client.get("/api/v1/subscriptions", headers={"X-API-Key": key}).status_code == 200
    write = client.post("/api/v1/subscriptions", json={"county": "king_wa"}, headers={"X-API-Key": key})
    assert write.status_code == 403 and "'admin' permission" in write.json()["detail"]
    [row] = audit_rows(database_url, a.id, "create", "api_keys")[-1:]
    assert row["after"]["prefix"] == created.json()["prefix"] and key not in json.dumps(row["after"])
    assert row["user_id"] == a.users["admin"]["id"] and row["ip"] and row["request_id"]

    # Another tenant's key id is invisible (RLS): 404, not revoked.
    b_admin = bearer(login(client, b.users["admin"]["email"])["access_token"])
    assert client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=b_admin).status_code == 404
    revoked = client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).status_code == 401
    [rev] = audit_rows(database_url, a.id, "revoke", "api_keys")
    assert rev["before"]["revoked_at"] is None and rev["after"]["revoked_at"]


def test_subscriptions_and_members_with_audit(client: TestClient, tenants, database_url: str) -> None:
    a, b = tenants
    owner = bearer(login(client, a.users["owner"]["email"])["access_token"])
    admin = bearer(login(client, a.users["admin"]["email"])["access_token"])
    assert client.post("/api/v1/subscriptions", json={"county": "pierce_wa"}, headers=admin).status_code == 404
    first = client.post("/api/v1/subscriptions", json={"county": "cook_il"}, headers=admin)
    again = client.post("/api/v1/subscriptions", json={"county": "cook_il"}, headers=admin)
    assert (first.status_code, again.status_code) == (201, 200)
    assert {s["county"] for s in client.get("/api/v1/subscriptions", headers=admin).json()} == {"king_wa", "cook_il"}
    assert client.delete("/api/v1/subscriptions/cook_il", headers=admin).status_code == 204
    assert client.delete("/api/v1/subscriptions/cook_il", headers=admin).status_code == 404
    assert [r["entity_key"] for r in audit_rows(database_url, a.id, "delete", "subscriptions")] == ["cook_il"]
    b_admin = bearer(login(client, b.users["admin"]["email"])["access_token"])
    assert {s["county"] for s in client.get("/api/v1/subscriptions", headers=b_admin).json()} == {"king_wa"}

    invited = client.post("/api/v1/members", json={"email": "Invitee@Example.com", "role": "analyst"}, headers=admin)
    assert invited.status_code == 201 and invited.json()["email"] == "invitee@example.com"
    assert client.post("/api/v1/members", json={"email": "x@example.com", "role": "owner"},
                       headers=admin).status_code == 403  # only owners make owners
    owner_id = a.users["owner"]["id"]
    assert client.delete(f"/api/v1/members/{owner_id}", headers=owner).status_code == 409  # the last owner
    assert client.patch(f"/api/v1/members/{owner_id}", json={"role": "viewer"}, headers=owner).status_code == 409
    uid = invited.json()["user_id"]
    assert client.patch(f"/api/v1/members/{uid}", json={"role": "viewer"}, headers=admin).json()["role"] == "viewer"
    assert client.delete(f"/api/v1/members/{uid}", headers=admin).status_code == 204
    emails = {m["email"] for m in client.get("/api/v1/members", headers=admin).json()}
    assert "invitee@example.com" not in emails and a.users["viewer"]["email"] in emails
    assert not emails & {u["email"] for u in b.users.values()}
    [update] = [r for r in audit_rows(database_url, a.id, "update", "memberships") if r["entity_key"] == str(uid)]
    assert (update["before"], update["after"]["role"]) == ({"role": "analyst"}, "viewer")


def test_removed_member_loses_access_at_once(client: TestClient, database_url: str) -> None:
    c = make_tenant(database_url, "api-c")
    viewer = login(client, c.users["viewer"]["email"])
    owner = bearer(login(client, c.users["owner"]["email"])["access_token"])
    assert client.get("/api/v1/me", headers=bearer(viewer["access_token"])).status_code == 200
    assert client.delete(f"/api/v1/members/{c.users['viewer']['id']}", headers=owner).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(viewer["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": viewer["refresh_token"]}).status_code == 401


def test_platform_admin_creates_a_tenant_with_its_owner(client: TestClient, platform_admin, database_url) -> None:
    operator = bearer(login(client, platform_admin["email"])["access_token"])
    created = client.post("/api/v1/tenants", json={"id": "northwind", "name": "Northwind Realty",
                                                   "owner_email": "boss@northwind.example"}, headers=operator)
    assert created.status_code == 201 and created.json()["id"] == "northwind"
    again = client.post("/api/v1/tenants", json={"id": "northwind", "name": "again"}, headers=operator)
    assert again.status_code == 409
    assert client.post("/api/v1/tenants", json={"id": "Bad Id", "name": "x"}, headers=operator).status_code == 422
    assert "northwind" in {t["id"] for t in client.get("/api/v1/tenants", headers=operator).json()}
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id "
                    "WHERE m.tenant_id = 'northwind' AND u.email = 'boss@northwind.example'")
        assert cur.fetchone() == ("owner",)
    assert [r["actor"] for r in audit_rows(database_url, "northwind", "create", "tenants")] == [platform_admin["email"]]


def test_every_v1_operation_is_documented_with_examples_and_problem_errors(client: TestClient) -> None:
    spec = client.app.openapi()
    assert spec["openapi"].startswith("3.1")
    schemas = spec["components"]["schemas"]

    def has_example(schema: dict[str, Any]) -> bool:
        schema = schema.get("items", schema)
        return "$ref" in schema and bool(schemas[schema["$ref"].rsplit("/", 1)[-1]].get("examples"))

    for path, ops in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            if "requestBody" in op:
                body = op["requestBody"]["content"]
                assert (body["text/csv"].get("example") if "text/csv" in body
                        else has_example(body["application/json"]["schema"])), where
            ok = [s for s in op["responses"] if s.startswith("2")]
            assert len(ok) == 1, where
            content = op["responses"][ok[0]].get("content")
            if "application/zip" in (content or {}):  # a download: binary, its parts described in words
                assert content["application/zip"]["schema"]["format"] == "binary", where
            else:
                assert ok[0] == "204" or (content["text/csv"].get("example") if "text/csv" in content
                                          else has_example(content["application/json"]["schema"])), where
            errors = [s for s in op["responses"] if s[0] in "45"]
            assert errors and all("application/problem+json" in op["responses"][s]["content"] for s in errors), where
            if PERMISSION_KEY in op:
                assert {"401", "403"} <= set(errors) and op["security"], where


def test_owners_are_managed_by_owners_and_one_always_remains(client: TestClient, database_url: str) -> None:
    d = make_tenant(database_url, "api-d")
    owner = bearer(login(client, d.users["owner"]["email"])["access_token"])
    admin = bearer(login(client, d.users["admin"]["email"])["access_token"])
    second = client.post("/api/v1/members", json={"email": f"co-owner@{d.id}.example", "role": "owner"}, headers=owner)
    assert second.status_code == 201 and second.json()["role"] == "owner"
    uid = second.json()["user_id"]
    assert client.patch(f"/api/v1/members/{uid}", json={"role": "viewer"}, headers=admin).status_code == 403
    assert client.delete(f"/api/v1/members/{uid}", headers=admin).status_code == 403
    demoted = client.post("/api/v1/members", json={"email": f"co-owner@{d.id}.example", "role": "admin"}, headers=owner)
    assert demoted.status_code == 201 and demoted.json()["role"] == "admin"
    last = client.post("/api/v1/members", json={"email": d.users["owner"]["email"], "role": "viewer"}, headers=owner)
    assert last.status_code == 409
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT role FROM memberships WHERE tenant_id = %s AND user_id = %s",
                    (d.id, d.users["owner"]["id"]))
        assert cur.fetchone() == ("owner",)
