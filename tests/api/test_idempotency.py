"""Idempotency-Key on every authenticated POST (api/v1/idempotency.py), on real PostgreSQL: a retry
gets the first answer and runs nothing; the key reused for another request is a 422; a key still
being answered is a 409; keys are per tenant; an expired key is free again."""

from __future__ import annotations

from pathlib import Path

from tests.api.helpers_api import api_client, bearer, login, make_tenant, owner_cursor

API = "/api/v1"
PROBLEM = "application/problem+json"


def _count(database_url: str, sql: str, *params: object) -> int:
    with owner_cursor(database_url) as cur:
        cur.execute(sql, params)
        return int(cur.fetchone()[0])


def test_a_retry_with_the_same_key_gets_the_first_answer_and_runs_nothing(database_url: str, tmp_path: Path) -> None:
    a, b = make_tenant(database_url, "idem-a"), make_tenant(database_url, "idem-b")
    with api_client(database_url, tmp_path) as client:
        h = bearer(login(client, a.users["analyst"]["email"])["access_token"])
        body = {"name": "Retry Rita", "email": "rita@example.com"}
        first = client.post(f"{API}/recipients", headers={**h, "Idempotency-Key": "k-1"}, json=body)
        assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
        again = client.post(f"{API}/recipients", headers={**h, "Idempotency-Key": "k-1"}, json=body)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json() and again.headers["content-type"] == first.headers["content-type"]
        assert _count(database_url, "SELECT count(*) FROM recipients WHERE tenant_id = %s AND email = %s",
                      a.id, "rita@example.com") == 1
        assert _count(database_url, "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND entity = 'recipients' "
                                    "AND action = 'create'", a.id) == 1
        # Without a key, the same POST runs (and meets the route's own rule: the address exists).
        assert client.post(f"{API}/recipients", headers=h, json=body).status_code == 409
        # The same key for another request: refused, nothing written.
        other = client.post(f"{API}/recipients", headers={**h, "Idempotency-Key": "k-1"},
                            json={"name": "Other", "email": "other@example.com"})
        assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
        assert "another request" in other.json()["detail"]
        assert client.post(f"{API}/segments", headers={**h, "Idempotency-Key": "k-1"},
                           json={"name": "s", "criteria": {}}).status_code == 422
        # An answer that was an error is kept too: a retry does not turn it into a success later.
        dup = client.post(f"{API}/recipients", headers={**h, "Idempotency-Key": "k-dup"}, json=body)
        assert dup.status_code == 409
        replayed = client.post(f"{API}/recipients", headers={**h, "Idempotency-Key": "k-dup"}, json=body)
        assert replayed.status_code == 409 and replayed.headers["Idempotent-Replayed"] == "true"

        # Keys are the tenant's own: tenant b's "k-1" is another key.
        hb = bearer(login(client, b.users["analyst"]["email"])["access_token"])
        assert client.post(f"{API}/recipients", headers={**hb, "Idempotency-Key": "k-1"}, json=body).status_code == 201

        # A request still being answered (its claim has no answer yet): 409, retry later.
        with owner_cursor(database_url) as cur:
            cur.execute("INSERT INTO idempotency_keys (tenant_id, key, request_hash, method, path) "
                        "VALUES (%s, 'k-busy', 'x', 'POST', '/api/v1/segments')", (a.id,))
        busy = client.post(f"{API}/segments", headers={**h, "Idempotency-Key": "k-busy"},
                           json={"name": "busy", "criteria": {}})
        assert busy.status_code == 409 and "still being answered" in busy.json()["detail"]
        # After 24 hours a key is free again.
        with owner_cursor(database_url) as cur:
            cur.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                        "WHERE tenant_id = %s AND key = 'k-busy'", (a.id,))
        fresh = client.post(f"{API}/segments", headers={**h, "Idempotency-Key": "k-busy"},
                            json={"name": "busy", "criteria": {}})
        assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers

        # A malformed key is refused before anything runs; a refused principal claims nothing.
        assert client.post(f"{API}/segments", headers={**h, "Idempotency-Key": "x" * 256},
                           json={"name": "long", "criteria": {}}).status_code == 400
        viewer = bearer(login(client, a.users["viewer"]["email"])["access_token"])
        assert client.post(f"{API}/segments", headers={**viewer, "Idempotency-Key": "k-viewer"},
                           json={"name": "v", "criteria": {}}).status_code == 403
        assert _count(database_url, "SELECT count(*) FROM idempotency_keys WHERE key = 'k-viewer'") == 0

        # Documented on every authenticated POST.
        spec = client.get("/openapi.json").json()
        for path, operations in spec["paths"].items():
            post = operations.get("post")
            if post and post.get("x-permission"):
                assert "Idempotency-Key" in [p["name"] for p in post.get("parameters", [])], path
