"""Notes and saved searches (/api/v1) on real PostgreSQL: who may write, change and delete them,
and that another tenant never sees or touches them, even by guessing ids."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers_api import bearer, login

API = "/api/v1"


@pytest.fixture(scope="module")
def people(client: TestClient, world: dict[str, Any]) -> dict[str, dict[str, str]]:
    def as_(tenant: str, role: str) -> dict[str, str]:
        return bearer(login(client, world[tenant].users[role]["email"])["access_token"])

    return {"a_analyst": as_("a", "analyst"), "a_admin": as_("a", "admin"), "a_viewer": as_("a", "viewer"),
            "b_analyst": as_("b", "analyst"), "a_key": {"X-API-Key": world["a"].keys["write"]}}


def test_notes_are_written_by_analysts_changed_by_their_author_or_an_admin(
        client: TestClient, world: dict[str, Any], people: dict[str, dict[str, str]]) -> None:
    pid = world["ids"][world["ca"]][0]
    url = f"{API}/properties/{pid}/notes"
    assert client.post(url, json={"body": "viewer note"}, headers=people["a_viewer"]).status_code == 403
    made = client.post(url, json={"body": "<b>roof</b> looks new"}, headers=people["a_analyst"])
    assert made.status_code == 201, made.text
    note = made.json()
    assert (note["property_id"], note["county"], note["body"]) == (pid, world["ca"], "<b>roof</b> looks new")
    assert note["author"] == world["a"].users["analyst"]["email"]
    assert client.post(url, json={"body": ""}, headers=people["a_analyst"]).status_code == 422
    assert [n["id"] for n in client.get(url, headers=people["a_viewer"]).json()] == [note["id"]]

    other = client.post(url, json={"body": "by key"}, headers=people["a_key"]).json()
    # Another writer may not change the analyst's note; an admin may.
    assert client.patch(f"{API}/notes/{note['id']}", json={"body": "x"}, headers=people["a_key"]).status_code == 403
    changed = client.patch(f"{API}/notes/{note['id']}", json={"body": "roof replaced 2019"},
                           headers=people["a_admin"])
    assert changed.status_code == 200 and changed.json()["body"] == "roof replaced 2019"
    assert client.delete(f"{API}/notes/{other['id']}", headers=people["a_analyst"]).status_code == 403
    assert client.delete(f"{API}/notes/{other['id']}", headers=people["a_key"]).status_code == 204
    assert client.delete(f"{API}/notes/{other['id']}", headers=people["a_key"]).status_code == 404

    # Tenant B: the property is not in its counties, the note is not in its tenant.
    assert client.get(url, headers=people["b_analyst"]).status_code == 404
    assert client.post(url, json={"body": "x"}, headers=people["b_analyst"]).status_code == 404
    assert client.patch(f"{API}/notes/{note['id']}", json={"body": "x"},
                        headers=people["b_analyst"]).status_code == 404
    assert client.delete(f"{API}/notes/{note['id']}", headers=people["b_analyst"]).status_code == 404
    assert [n["body"] for n in client.get(url, headers=people["a_viewer"]).json()] == ["roof replaced 2019"]


def test_saved_searches_belong_to_their_user_and_run_the_list_filters(
        client: TestClient, world: dict[str, Any], people: dict[str, dict[str, str]]) -> None:
    url = f"{API}/saved-searches"
    body = {"name": "oak street", "filters": {"q": "oak", "sort": "id"}, "alert": True}
    made = client.post(url, json=body, headers=people["a_viewer"])
    assert made.status_code == 201, made.text
    search = made.json()
    assert {k: v for k, v in search["filters"].items() if v is not None} == {"q": "oak", "sort": "id"}
    assert search["alert"] is True
    assert client.post(url, json=body, headers=people["a_viewer"]).status_code == 409
    bad = client.post(url, json={"name": "bad", "filters": {"sort": "password_hash"}}, headers=people["a_viewer"])
    assert bad.status_code == 422
    assert client.post(url, json={"name": "k", "filters": {}}, headers=people["a_key"]).status_code == 409

    page = client.get(f"{url}/{search['id']}/properties", params={"limit": 100}, headers=people["a_viewer"]).json()
    direct = client.get(f"{API}/properties", params={"q": "oak", "sort": "id", "limit": 100},
                        headers=people["a_viewer"]).json()
    assert [p["id"] for p in page["items"]] == [p["id"] for p in direct["items"]] and page["items"]
    assert all("OAK" in p["address"] for p in page["items"])

    main = client.post(url, json={"name": "main", "filters": {"q": "main"}}, headers=people["a_viewer"])
    assert main.status_code == 201
    clash = client.patch(f"{url}/{search['id']}", json={"name": "main"}, headers=people["a_viewer"])
    assert clash.status_code == 409
    renamed = client.patch(f"{url}/{search['id']}", json={"name": "oak st", "alert": False},
                           headers=people["a_viewer"])
    assert renamed.status_code == 200 and (renamed.json()["name"], renamed.json()["alert"]) == ("oak st", False)

    # Another user of the same tenant, and another tenant: not found.
    for who in ("a_analyst", "b_analyst"):
        assert client.get(f"{url}/{search['id']}/properties", headers=people[who]).status_code == 404
        assert client.delete(f"{url}/{search['id']}", headers=people[who]).status_code == 404
    assert {s["name"] for s in client.get(url, headers=people["a_viewer"]).json()} == {"seed", "oak st", "main"}
    assert client.delete(f"{url}/{search['id']}", headers=people["a_viewer"]).status_code == 204
