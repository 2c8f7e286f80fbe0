"""Recipients, segments and campaigns (/api/v1) on real PostgreSQL, and a send launched through
Dagster's GraphQL API — answered by a small local server that speaks that protocol (the
dagster-graphql client's real requests, over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from werkzeug import Response

from tests.api.helpers_api import api_client, bearer, login, owner_cursor
from tests.fake_dagster import FakeDagster
from tests.local_http import base_url, serve

API = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def people(client: TestClient, world: dict[str, Any]) -> dict[str, dict[str, str]]:
    def as_(tenant: str, role: str) -> dict[str, str]:
        return bearer(login(client, world[tenant].users[role]["email"])["access_token"])

    return {"a_analyst": as_("a", "analyst"), "a_viewer": as_("a", "viewer"), "b_analyst": as_("b", "analyst")}


def _audit(database_url: str, tenant: str, entity: str) -> list[tuple[str, Any]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT action, after FROM audit_log WHERE tenant_id = %s AND entity = %s ORDER BY id",
                    (tenant, entity))
        return cur.fetchall()


def test_recipients_crud_roles_and_isolation(client: TestClient, world: dict[str, Any],
                                             people: dict[str, dict[str, str]], database_url: str) -> None:
    body = {"name": "Casey Buyer", "email": "Casey@Example.com", "counties": [world["ca"]], "min_score": 80,
            "campaigns": ["daily_digest"], "budget_max": 900000}
    assert client.post(f"{API}/recipients", json=body, headers=people["a_viewer"]).status_code == 403
    made = client.post(f"{API}/recipients", json=body, headers=people["a_analyst"])
    assert made.status_code == 201, made.text
    casey = made.json()
    assert (casey["email"], casey["suppressed"], casey["min_score"]) == ("casey@example.com", False, 80)
    again = client.post(f"{API}/recipients", json=body, headers=people["a_analyst"])
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    bad = client.post(f"{API}/recipients", json={**body, "email": "nobody"}, headers=people["a_analyst"])
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    bad = client.post(f"{API}/recipients", json={**body, "email": "x@example.com", "budget_min": 950000},
                      headers=people["a_analyst"])
    assert bad.status_code == 422, bad.text  # budget_min above budget_max: the pipeline's own rule

    url = f"{API}/recipients/{casey['id']}"
    assert client.get(url, headers=people["a_viewer"]).json()["name"] == "Casey Buyer"
    assert client.get(url, headers=people["b_analyst"]).status_code == 404  # another tenant: not found
    assert client.patch(url, json={"min_score": 60}, headers=people["b_analyst"]).status_code == 404
    changed = client.patch(url, json={"min_score": 60, "property_types": ["sfr"]}, headers=people["a_analyst"])
    assert changed.status_code == 200 and changed.json()["min_score"] == 60
    assert client.patch(url, json={"min_score": 60}, headers=people["a_analyst"]).status_code == 200
    assert client.patch(url, json={"min_score": 101}, headers=people["a_analyst"]).status_code == 422
    other = client.post(f"{API}/recipients", json={"name": "Other", "email": "other@example.com"},
                        headers=people["a_analyst"]).json()
    taken = client.patch(f"{API}/recipients/{other['id']}", json={"email": "CASEY@example.com"},
                         headers=people["a_analyst"])
    assert taken.status_code == 409 and taken.headers["content-type"] == PROBLEM
    client.delete(f"{API}/recipients/{other['id']}", headers=people["a_analyst"])
    # A page at a time: the seeded recipient, then Casey; the cursor walks them in id order.
    first = client.get(f"{API}/recipients", params={"limit": 1}, headers=people["a_viewer"]).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = client.get(f"{API}/recipients", params={"limit": 1, "cursor": first["next_cursor"]},
                      headers=people["a_viewer"]).json()
    assert rest["items"][0]["id"] > first["items"][0]["id"]
    nonsense = client.get(f"{API}/recipients", params={"cursor": "nonsense!"}, headers=people["a_viewer"])
    assert nonsense.status_code == 422
    found = client.get(f"{API}/recipients", params={"q": "casey"}, headers=people["a_viewer"]).json()["items"]
    assert [r["email"] for r in found] == ["casey@example.com"]
    assert client.delete(url, headers=people["a_analyst"]).status_code == 204
    assert client.get(url, headers=people["a_viewer"]).status_code == 404
    # One audit row per change: the repeated PATCH that changed nothing wrote none.
    assert [a for a, _ in _audit(database_url, world["a"].id, "recipients")] == [
        "create", "update", "create", "delete", "delete"]


def test_csv_import_keeps_good_rows_lists_bad_ones_and_is_idempotent(
        client: TestClient, world: dict[str, Any], people: dict[str, dict[str, str]]) -> None:
    csv_text = ("Name,Email ,counties,min_score,campaigns\n"
                "Dana Fund,dana@example.com,king_wa;cook_il,70,new_opportunity|weekly_summary\n"
                "No Address,not-an-address,,,\n"
                "Eli Estates,eli@example.org,,200,\n"
                "Dana Again,DANA@example.com,,,\n"
                "Finn Homes,finn@example.net,,,daily_digest\n")
    headers = {**people["a_analyst"], "content-type": "text/csv"}
    result = client.post(f"{API}/recipients/import", content=csv_text.encode(), headers=headers)
    assert result.status_code == 200, result.text
    report = result.json()
    assert (report["rows"], report["created"], report["updated"], report["unchanged"]) == (5, 2, 0, 0)
    rejected = {r["line"]: r for r in report["rejected"]}
    assert set(rejected) == {3, 4, 5}
    assert rejected[3]["errors"][0].startswith("email:") and rejected[3]["email"] == "not-an-address"
    assert rejected[4]["errors"][0].startswith("min_score")
    assert "already on line 2" in rejected[5]["errors"][0]
    dana = client.get(f"{API}/recipients", params={"q": "dana"}, headers=people["a_viewer"]).json()["items"][0]
    assert dana["counties"] == ["king_wa", "cook_il"] and dana["campaigns"] == ["new_opportunity", "weekly_summary"]
    # The same file again changes nothing; a changed row updates the recipient of that address.
    again = client.post(f"{API}/recipients/import", content=csv_text.encode(), headers=headers).json()
    assert (again["created"], again["updated"], again["unchanged"], len(again["rejected"])) == (0, 0, 2, 3)
    changed = client.post(f"{API}/recipients/import", headers=headers,
                          content=b"name,email,min_score\nDana Fund,dana@example.com,90\n").json()
    assert (changed["created"], changed["updated"]) == (0, 1)
    unknown = client.post(f"{API}/recipients/import", headers=headers, content=b"name,email,phone\nA,a@example.com,1\n")
    assert unknown.status_code == 422 and "phone" in unknown.json()["detail"]
    viewer = client.post(f"{API}/recipients/import", content=csv_text.encode(),
                         headers={**people["a_viewer"], "content-type": "text/csv"})
    assert viewer.status_code == 403


def test_segments_count_live_and_campaigns_keep_their_segment(
        client: TestClient, world: dict[str, Any], people: dict[str, dict[str, str]]) -> None:
    h = people["a_analyst"]
    for i in range(3):
        client.post(f"{API}/recipients", json={"name": f"Seg {i}", "email": f"seg{i}@segment.example",
                                               "counties": ["king_wa"] if i else ["cook_il"]}, headers=h)
    preview = client.post(f"{API}/segments/preview", json={"email_domains": ["segment.example"]},
                          headers=people["a_viewer"]).json()
    assert preview["recipient_count"] == 3 and len(preview["sample"]) == 3
    made = client.post(f"{API}/segments", json={"name": "King buyers", "criteria": {
        "counties": ["king_wa"], "email_domains": ["segment.example"]}}, headers=h)
    assert made.status_code == 201, made.text
    segment = made.json()
    assert segment["recipient_count"] == 2
    assert client.post(f"{API}/segments", json={"name": "King buyers"}, headers=h).status_code == 409
    assert client.post(f"{API}/segments", json={"name": "x", "criteria": {"bogus": 1}}, headers=h).status_code == 422
    # Live: one more recipient in King County is counted at once.
    client.post(f"{API}/recipients", json={"name": "Seg 3", "email": "seg3@segment.example",
                                           "counties": ["king_wa"]}, headers=h)
    count = client.get(f"{API}/segments/{segment['id']}/count", headers=people["a_viewer"]).json()
    assert count["recipient_count"] == 3
    assert client.get(f"{API}/segments/{segment['id']}/count", headers=people["b_analyst"]).status_code == 404

    campaign = client.post(f"{API}/campaigns", headers=h, json={
        "key": "king_deals", "type": "new_opportunity", "segment_id": segment["id"],
        "subjects": ["Parcel {parcel_id} scores {score}", "{first_name}: a {score}/100 deal"]})
    assert campaign.status_code == 201, campaign.text
    detail = campaign.json()
    assert (detail["status"], detail["segment_name"], detail["recipient_count"]) == ("draft", "King buyers", 3)
    blocked = client.delete(f"{API}/segments/{segment['id']}", headers=h)
    assert blocked.status_code == 409 and "king_deals" in blocked.json()["detail"]
    everyone = client.patch(f"{API}/campaigns/{detail['id']}", json={"everyone": True}, headers=h).json()
    assert everyone["segment_id"] is None
    assert client.delete(f"{API}/segments/{segment['id']}", headers=h).status_code == 204


def test_campaigns_list_counts_what_the_emails_became(
        client: TestClient, world: dict[str, Any], people: dict[str, dict[str, str]], database_url: str) -> None:
    h = people["a_analyst"]
    bad = client.post(f"{API}/campaigns", headers=h, json={"key": "typo", "type": "daily_digest",
                                                            "subjects": ["{cuont} leads"]})
    assert bad.status_code == 422 and "cuont" in json.dumps(bad.json())
    assert client.post(f"{API}/campaigns", headers=people["a_viewer"], json={
        "key": "v", "type": "daily_digest", "subjects": ["x"]}).status_code == 403
    made = client.post(f"{API}/campaigns", headers=h, json={
        "key": "digest_ab", "type": "daily_digest", "subjects": ["{count} leads", "{first_name}, {count} leads"],
        "max_items": 5, "status": "active"}).json()
    tenant = world["a"].id
    with owner_cursor(database_url) as cur:
        outcomes = [("sent", True, True, "A"), ("sent", True, False, "B"), ("sent", False, False, "A"),
                    ("bounced", False, False, "B"), ("pending", False, False, None)]
        for i, (status, opened, clicked, variant) in enumerate(outcomes):
            cur.execute("INSERT INTO emails (tenant_id, county, campaign, recipient_email, subject, provider, "
                        "send_key, status, variant, opened_at, clicked_at, delivered_at, unsubscribed_at) VALUES "
                        "(%s, 'king_wa', 'digest_ab', %s, 'leads', 'outbox', 'daily:king_wa:2026-12-03', %s, %s, "
                        "CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END, "
                        "CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END)",
                        (tenant, f"r{i}@example.com", status, variant, opened, clicked, status == "sent", i == 1))
    listed = {c["key"]: c for c in client.get(f"{API}/campaigns", headers=people["a_viewer"]).json()}
    stats = listed["digest_ab"]["stats"]
    assert (stats["sent"], stats["delivered"], stats["opened"], stats["clicked"], stats["bounced"],
            stats["unsubscribed"]) == (4, 3, 2, 1, 1, 1)
    assert stats["opened_rate"] == 0.5
    assert listed["new_opportunity"]["stats"]["sent"] == 0  # the seeded campaign, its email still pending
    detail = client.get(f"{API}/campaigns/{made['id']}", headers=people["a_viewer"]).json()
    assert {v["variant"]: v["sent"] for v in detail["variants"]} == {"A": 2, "B": 2}
    assert detail["by_status"] == {"sent": 3, "bounced": 1, "pending": 1}
    active = client.get(f"{API}/campaigns", params={"status": "active"}, headers=people["a_viewer"]).json()
    assert [c["key"] for c in active] == ["digest_ab"]
    # Tenant B sees none of it, even by id.
    assert "digest_ab" not in {c["key"] for c in client.get(f"{API}/campaigns", headers=people["b_analyst"]).json()}
    assert client.get(f"{API}/campaigns/{made['id']}", headers=people["b_analyst"]).status_code == 404
    assert client.patch(f"{API}/campaigns/{made['id']}", json={"status": "paused"},
                        headers=people["b_analyst"]).status_code == 404


def test_send_launches_the_emails_step_through_dagster_graphql(
        client: TestClient, world: dict[str, Any], people: dict[str, dict[str, str]],
        database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    h = people["a_analyst"]
    campaign = client.post(f"{API}/campaigns", headers=h, json={
        "key": "send_me", "type": "new_opportunity", "subjects": ["Parcel {parcel_id}"]}).json()
    url = f"{API}/campaigns/{campaign['id']}/send"
    # Not configured: 503, nothing pretended (the draft is refused first: it would send nothing).
    assert client.post(url, headers=h).status_code == 409
    client.patch(f"{API}/campaigns/{campaign['id']}", json={"status": "active"}, headers=h)
    unconfigured = client.post(url, headers=h)
    assert unconfigured.status_code in (409, 503), unconfigured.text
    assert unconfigured.headers["content-type"] == PROBLEM

    fake = FakeDagster()
    with serve(fake) as server, api_client(database_url, tmp_path_factory.mktemp("send"),
                                           dagster_url=base_url(server)) as api:
        headers = bearer(login(api, world["a"].users["analyst"]["email"])["access_token"])
        viewer = bearer(login(api, world["a"].users["viewer"]["email"])["access_token"])
        assert api.post(url, headers=viewer).status_code == 403
        sent = api.post(url, headers={**headers, "Idempotency-Key": "send-1"})
        assert sent.status_code == 202, sent.text
        accepted = sent.json()
        assert accepted["counties"] == sorted([world["ca"], "king_wa"]) and len(accepted["run_ids"]) == 2
        launch = fake.launches[0]
        assert launch["selector"]["pipelineName"] == "__ASSET_JOB"
        assert launch["selector"]["assetSelection"] == [{"path": ["emails"]}]
        assert launch["selector"]["repositoryLocationName"] == "realestate_assets"
        tags = {t["key"]: t["value"] for t in launch["executionMetadata"]["tags"]}
        # The (county, tenant) partition: the tenant is the run's partition key, not the deployment's.
        assert tags["dagster/partition"] == f"{accepted['counties'][0]}|{world['a'].id}"
        assert tags["dagster/partition/tenant"] == tags["reos/tenant"] == world["a"].id
        assert tags["reos/campaign"] == "send_me"
        # The same Idempotency-Key again: the same runs, nothing launched.
        repeat = api.post(url, headers={**headers, "Idempotency-Key": "send-1"})
        assert repeat.status_code == 202 and repeat.headers["Idempotent-Replayed"] == "true"
        assert repeat.json() == accepted and len(fake.launches) == 2
        progress = api.get(f"{API}/campaigns/{campaign['id']}/progress", headers=viewer).json()
        assert [r["status"] for r in progress["runs"]] == ["SUCCESS", "SUCCESS"] and progress["finished"]
        # Another tenant's campaign: not found; its own campaign launches on its own partitions (the
        # API's default tenant no longer decides whose emails a deployment sends).
        b = bearer(login(api, world["b"].users["analyst"]["email"])["access_token"])
        assert api.post(url, headers=b).status_code == 404
        other = api.post(f"{API}/campaigns", headers=b, json={"key": "b_send", "type": "new_opportunity",
                                                              "subjects": ["x"], "status": "active"}).json()
        theirs = api.post(f"{API}/campaigns/{other['id']}/send", headers=b)
        assert theirs.status_code == 202, theirs.text
        b_tags = {t["key"]: t["value"] for t in fake.launches[-1]["executionMetadata"]["tags"]}
        assert b_tags["dagster/partition"] == f"{theirs.json()['counties'][-1]}|{world['b'].id}"
        # Each tenant's key was added before its first launch (a brand-new tenant does not wait for
        # the tenant sensor's tick); a key already there is not an error.
        assert fake.dynamic_keys["tenant"] == [world["a"].id, world["b"].id]
    with serve(lambda r: Response("down", status=502)) as broken, api_client(
            database_url, tmp_path_factory.mktemp("send2"), dagster_url=base_url(broken)) as api:
        headers = bearer(login(api, world["a"].users["analyst"]["email"])["access_token"])
        failed = api.post(url, headers=headers)
        assert failed.status_code == 503 and "Dagster did not" in failed.json()["detail"]
    assert [a for a, _ in _audit(database_url, world["a"].id, "campaigns") if a == "send"] == ["send"]
