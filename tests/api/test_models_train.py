"""Training and activation through /api/v1/models on real PostgreSQL: train launches `ml_model`
for a followed county through Dagster's GraphQL API (a small local server speaking it, the real
dagster-graphql client), with the Idempotency-Key honoured; activation is a platform admin's,
recorded in the model's promotion and the audit log, and visible to every follower."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from tests.api.helpers_api import PASSWORD, api_client, bearer, login, owner_cursor
from tests.fake_dagster import FakeDagster
from tests.local_http import base_url, serve

API = "/api/v1"


@pytest.fixture(scope="module")
def operator(database_url: str) -> dict[str, Any]:
    with owner_cursor(database_url) as cur:
        return store.create_user(cur, "models-operator@reos.example", PASSWORD, platform_admin=True, verified=True)


@pytest.fixture(scope="module")
def versions(database_url: str, world: dict[str, Any]) -> dict[str, int]:
    ids = {}
    with owner_cursor(database_url) as cur:
        for version, active in (("avm-old", False), ("avm-new", True)):
            cur.execute("INSERT INTO ml_models (county, model_name, version, kind, artifact_path, artifact_sha256, "
                        "is_active, status, promotion) VALUES (%s, 'avm', %s, 'lightgbm', 'k', 's', %s, %s, %s) "
                        "RETURNING id", (world["ca"], version, active, "active" if active else "retired",
                                         json.dumps({"promote": active, "reason": "the rule"})))
            ids[version] = cur.fetchone()[0]
    return ids


def _audit(database_url: str, tenant: str, action: str) -> list[tuple[Any, Any]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT entity_key, after FROM audit_log WHERE tenant_id = %s AND action = %s ORDER BY id",
                    (tenant, action))
        return cur.fetchall()


def test_train_launches_ml_model_for_a_followed_county(world: dict[str, Any], database_url: str,
                                                       operator: dict[str, Any],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    fake = FakeDagster()
    with serve(fake) as server, api_client(database_url, tmp_path_factory.mktemp("train"),
                                           dagster_url=base_url(server)) as api:
        admin = bearer(login(api, world["a"].users["admin"]["email"])["access_token"])
        analyst = bearer(login(api, world["a"].users["analyst"]["email"])["access_token"])
        assert api.post(f"{API}/models/train", json={"county": "king_wa"}, headers=analyst).status_code == 403
        # A county the tenant does not follow (tenant B's, and not configured here): not found, nothing launched.
        assert api.post(f"{API}/models/train", json={"county": world["cb"]}, headers=admin).status_code == 404
        assert fake.launches == []

        accepted = api.post(f"{API}/models/train", json={"county": "king_wa"},
                            headers={**admin, "Idempotency-Key": "train-1"})
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["county"] == "king_wa" and body["run_id"]
        launch = fake.launches[0]
        assert launch["selector"]["assetSelection"] == [{"path": ["ml_model"]}]
        tags = {t["key"]: t["value"] for t in launch["executionMetadata"]["tags"]}
        assert tags["dagster/partition"] == "king_wa" and tags["reos/requested_by_tenant"] == world["a"].id

        viewer = bearer(login(api, world["a"].users["viewer"]["email"])["access_token"])
        run = api.get(f"{API}/models/train/{body['run_id']}", headers=viewer).json()
        assert run["status"] == "SUCCESS" and run["finished"] and run["county"] == "king_wa"
        b_viewer = bearer(login(api, world["b"].users["viewer"]["email"])["access_token"])
        assert api.get(f"{API}/models/train/{body['run_id']}", headers=b_viewer).status_code == 404

        repeat = api.post(f"{API}/models/train", json={"county": "king_wa"},
                          headers={**admin, "Idempotency-Key": "train-1"})
        assert repeat.headers["Idempotent-Replayed"] == "true"
        assert repeat.json()["run_id"] == body["run_id"] and len(fake.launches) == 1
        # Another tenant's key of the same name is its own (idempotency keys are per tenant).
        b_admin = bearer(login(api, world["b"].users["admin"]["email"])["access_token"])
        other = api.post(f"{API}/models/train", json={"county": "king_wa"},
                         headers={**b_admin, "Idempotency-Key": "train-1"})
        assert "Idempotent-Replayed" not in other.headers and len(fake.launches) == 2
        # A platform admin trains any configured county, followed or not.
        op = bearer(login(api, operator["email"], world["a"].id)["access_token"])
        assert api.post(f"{API}/models/train", json={"county": "no_such_county"}, headers=op).status_code == 404
    assert [(k, a["run_id"]) for k, a in _audit(database_url, world["a"].id, "train")] == [
        ("king_wa", body["run_id"])]


def test_train_without_dagster_is_503_not_pretended(client: TestClient, world: dict[str, Any]) -> None:
    admin = bearer(login(client, world["a"].users["admin"]["email"])["access_token"])
    refused = client.post(f"{API}/models/train", json={"county": "king_wa"}, headers=admin)
    assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"


def test_activate_is_a_platform_admins_with_the_reason_recorded(
        client: TestClient, world: dict[str, Any], versions: dict[str, int], operator: dict[str, Any],
        database_url: str) -> None:
    url = f"{API}/models/{versions['avm-old']}/activate"
    owner = bearer(login(client, world["a"].users["owner"]["email"])["access_token"])
    assert client.post(url, json={"reason": "because"}, headers=owner).status_code == 403
    op = bearer(login(client, operator["email"], world["b"].id)["access_token"])  # acting in a non-follower
    assert client.post(url, json={"reason": ""}, headers=op).status_code == 422
    done = client.post(url, json={"reason": "the new one overvalues condos"}, headers=op)
    assert done.status_code == 200, done.text
    model = done.json()
    assert model["is_active"] and model["status"] == "active"
    promotion = model["promotion"]
    assert promotion["metric"] == "manual" and promotion["promote"]
    assert promotion["reason"] == ("activated by models-operator@reos.example in place of avm-new: "
                                   "the new one overvalues condos")
    # Every follower sees the change: one active AVM for the county, the other retired.
    viewer = bearer(login(client, world["a"].users["viewer"]["email"])["access_token"])
    listed = {m["version"]: m for m in client.get(f"{API}/models", params={"county": world["ca"]},
                                                   headers=viewer).json()}
    assert listed["avm-old"]["is_active"] and listed["avm-new"]["status"] == "retired"
    # Again: already active, nothing changes and the recorded reason stays.
    again = client.post(url, json={"reason": "another reason"}, headers=op).json()
    assert again["promotion"]["reason"] == promotion["reason"]
    assert client.post(f"{API}/models/999999999/activate", json={"reason": "x y z"}, headers=op).status_code == 404
    rows = _audit(database_url, world["b"].id, "activate")
    assert [k for k, _ in rows] == [str(versions["avm-old"])] and rows[0][1]["is_active"]


def test_the_api_role_cannot_activate_without_the_platform_setting(database_url: str, world: dict[str, Any],
                                                                   versions: dict[str, int]) -> None:
    """Row-level security, directly: a tenant's transaction sees its county's models but updates none."""
    from realestate_assets.db.tenancy import act_as_api

    with owner_cursor(database_url) as cur:
        act_as_api(cur, world["a"].id)
        cur.execute("SELECT count(*) FROM ml_models WHERE county = %s", (world["ca"],))
        assert cur.fetchone()[0] >= 2
        cur.execute("UPDATE ml_models SET is_active = false WHERE county = %s", (world["ca"],))
        assert cur.rowcount == 0
        cur.execute("ROLLBACK")
