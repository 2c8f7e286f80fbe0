"""Outgoing webhooks on real PostgreSQL and a real local HTTP receiver: endpoints through the API,
events enqueued once, Standard Webhooks signatures a stock verifier accepts, durable retries, a
dead endpoint that costs one short attempt, 410 Gone switching an endpoint off, and the sensor
doing it all in Dagster."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest
from standardwebhooks import Webhook

from realestate_assets.accounts import store
from realestate_assets.outreach import webhooks
from tests.api.helpers_api import api_client, bearer, dsn, login, make_tenant, owner_cursor, seed_county
from tests.outreach.helpers_outreach import ScriptedServer

THRESHOLD = 75.0
N = 12  # seed_county: scores 50..90 in steps of 10; 80 and 90 are deals (i % 5 in 3, 4; i % 4 != 0)


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    with api_client(database_url, tmp_path_factory.mktemp("webhooks-api")) as c:
        yield c


@pytest.fixture
def world(database_url: str) -> dict[str, Any]:
    """A tenant following a fresh county whose scores the pipeline wrote, and an admin session."""
    tenant = make_tenant(database_url, "hooks")
    county = f"wh_{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        store.subscribe(cur, tenant.id, county)
        # A tick serves every tenant in the database: endpoints other tests left on (the API tests
        # and the fuzzer register some) are switched off, so each test counts its own deliveries.
        cur.execute("UPDATE webhook_endpoints SET is_active = false WHERE is_active")
    return {"tenant": tenant, "county": county}


def seed_scores(database_url: str, world: dict[str, Any]) -> None:
    with owner_cursor(database_url) as cur:
        seed_county(cur, world["county"], N)


def deals(n: int = N) -> int:
    return sum(1 for i in range(1, n + 1) if i % 4 != 0 and 50 + (i % 5) * 10 >= THRESHOLD)


def create_endpoint(client: Any, world: dict[str, Any], url: str, events: list[str]) -> dict[str, Any]:
    admin = login(client, world["tenant"].users["admin"]["email"])
    answer = client.post("/api/v1/webhook-endpoints", headers=bearer(admin["access_token"]),
                         json={"url": url, "description": "test", "event_types": events})
    assert answer.status_code == 201, answer.text
    return {**answer.json(), "token": admin["access_token"]}


def run_tick(database_url: str, since: datetime | None = None) -> tuple[int, list[webhooks.Attempt]]:
    conn = psycopg2.connect(dsn(database_url))
    try:
        with conn.cursor() as cur:
            enqueued, _ = webhooks.enqueue_events(cur, threshold=THRESHOLD, since=since,
                                                  public_base_url="https://app.example.com")
        conn.commit()
        return enqueued, webhooks.deliver_due(conn, budget_s=30)
    finally:
        conn.close()


def deliveries(database_url: str, endpoint_id: int) -> list[dict[str, Any]]:
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT event_type, event_key, status, attempts, last_status_code, last_error, "
                    "next_attempt_at, message_id FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY id",
                    (endpoint_id,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_url_rules_outside_a_local_installation() -> None:
    production = {"local": False}
    assert webhooks.url_problem("https://crm.example.com/hook", **production) is None
    assert webhooks.url_problem("http://crm.example.com/hook", **production) == "https only"
    for inside in ("https://127.0.0.1/x", "https://10.0.0.5/x", "https://169.254.169.254/latest",
                   "https://localhost/x", "https://reos-api.reos.svc/x"):
        assert webhooks.url_problem(inside, **production), inside
    assert webhooks.url_problem("http://127.0.0.1:9000/x", local=True) is None
    assert webhooks.url_problem("ftp://example.com/x", local=True)


def test_new_deals_are_delivered_once_signed_as_standard_webhooks(client, database_url: str, world) -> None:
    with ScriptedServer() as receiver:
        endpoint = create_endpoint(client, world, receiver.url + "/hook", ["deal.new"])
        assert endpoint["secret"].startswith("whsec_")
        listed = client.get("/api/v1/webhook-endpoints", headers=bearer(endpoint["token"])).json()
        assert all("secret" not in e and e["secret_hint"].endswith("…") for e in listed)
        seed_scores(database_url, world)
        enqueued, attempts = run_tick(database_url)
        assert enqueued == deals() and all(a.ok for a in attempts)
        again, _ = run_tick(database_url)  # a second tick (a re-run, a re-read) enqueues nothing new
        assert again == 0
    assert len(receiver.requests) == deals()
    verifier = Webhook(endpoint["secret"])
    for request in receiver.requests:
        body = verifier.verify(request.body, request.headers)  # raises on a bad signature
        assert body["type"] == "deal.new" and body["data"]["county"] == world["county"]
        assert body["data"]["bird_dog_score"] >= THRESHOLD
        assert body["data"]["url"].startswith("https://app.example.com/properties/")
    assert len({r.headers["Webhook-Id"] for r in receiver.requests}) == deals()
    rows = deliveries(database_url, endpoint["id"])
    assert {r["status"] for r in rows} == {"delivered"} and {r["attempts"] for r in rows} == {1}


def test_a_failing_endpoint_is_retried_on_schedule_with_the_same_message_id(client, database_url: str,
                                                                              world) -> None:
    error = (500, {}, b"down for maintenance")
    with ScriptedServer(script=[error] * deals()) as receiver:
        endpoint = create_endpoint(client, world, receiver.url + "/hook", ["deal.new"])
        seed_scores(database_url, world)
        started = datetime.now(UTC)
        _, attempts = run_tick(database_url)
        assert attempts and not any(a.ok for a in attempts)
        rows = deliveries(database_url, endpoint["id"])
        assert {(r["status"], r["attempts"], r["last_status_code"]) for r in rows} == {("pending", 1, 500)}
        assert "down for maintenance" in rows[0]["last_error"]
        assert all(r["next_attempt_at"] >= started + timedelta(seconds=4) for r in rows)
        _, nothing_due = run_tick(database_url)
        assert nothing_due == []  # not due yet: the schedule is kept
        with owner_cursor(database_url) as cur:
            cur.execute("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = %s",
                        (endpoint["id"],))
        _, retried = run_tick(database_url)
        assert retried and all(a.ok for a in retried)
    first_ids = [r.headers["Webhook-Id"] for r in receiver.requests[:deals()]]
    second_ids = [r.headers["Webhook-Id"] for r in receiver.requests[deals():]]
    assert sorted(first_ids) == sorted(second_ids)
    assert {(r["status"], r["attempts"]) for r in deliveries(database_url, endpoint["id"])} == {("delivered", 2)}


def test_a_dead_endpoint_costs_one_attempt_and_the_schedule_ends_in_failed(client, database_url: str,
                                                                          world) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    endpoint = create_endpoint(client, world, dead, ["deal.new"])
    seed_scores(database_url, world)
    _, attempts = run_tick(database_url)
    # One attempt per call for an endpoint that does not answer; its other deliveries wait.
    assert len(attempts) == 1 and attempts[0].status_code is None and attempts[0].error
    assert sum(r["attempts"] for r in deliveries(database_url, endpoint["id"])) == 1
    with owner_cursor(database_url) as cur:  # the last attempt of the schedule
        cur.execute("UPDATE webhook_deliveries SET attempts = %s, next_attempt_at = now() WHERE endpoint_id = %s",
                    (len(webhooks.RETRY_SCHEDULE), endpoint["id"]))
    run_tick(database_url)
    rows = deliveries(database_url, endpoint["id"])
    assert sorted(r["status"] for r in rows) == ["failed"] + ["pending"] * (deals() - 1)
    assert next(r for r in rows if r["status"] == "failed")["next_attempt_at"] is None


def test_410_gone_switches_the_endpoint_off(client, database_url: str, world) -> None:
    with ScriptedServer(script=[(410, {}, b"")] * 50) as receiver:
        endpoint = create_endpoint(client, world, receiver.url + "/hook", ["deal.new"])
        seed_scores(database_url, world)
        run_tick(database_url)
    listed = client.get("/api/v1/webhook-endpoints", headers=bearer(endpoint["token"])).json()
    after = next(e for e in listed if e["id"] == endpoint["id"])
    assert after["is_active"] is False and "410" in after["disabled_reason"]
    assert len(receiver.requests) == 1  # the rest were not sent to a gone endpoint


def test_ping_campaign_sent_and_another_tenant_sees_nothing(client, database_url: str, world) -> None:
    other = make_tenant(database_url, "hooks-b")
    with ScriptedServer() as receiver:
        endpoint = create_endpoint(client, world, receiver.url + "/hook", ["campaign.sent"])
        ping = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/ping", headers=bearer(endpoint["token"]))
        assert ping.status_code == 202 and ping.json()["status"] == "pending"
        # make_tenant wrote one sent email for its tenant: a settled campaign day.
        with owner_cursor(database_url) as cur:
            cur.execute("UPDATE emails SET status = 'sent', tenant_id = tenant_id WHERE tenant_id = %s",
                        (world["tenant"].id,))
        run_tick(database_url)
    kinds = sorted(json.loads(r.body)["type"] for r in receiver.requests)
    assert kinds == ["campaign.sent", "ping"]
    log = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=bearer(endpoint["token"]))
    assert {d["status"] for d in log.json()} == {"delivered"}
    b_admin = login(client, other.users["admin"]["email"])
    seen_by_b = client.get("/api/v1/webhook-endpoints", headers=bearer(b_admin["access_token"])).json()
    assert endpoint["id"] not in {e["id"] for e in seen_by_b}
    assert client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/ping",
                       headers=bearer(b_admin["access_token"])).status_code == 404
    analyst = login(client, world["tenant"].users["analyst"]["email"])
    assert client.get("/api/v1/webhook-endpoints", headers=bearer(analyst["access_token"])).status_code == 403


def test_the_sensor_enqueues_and_delivers(client, database_url: str, world, tmp_path: Path) -> None:
    from realestate_assets.settings import repo_root
    from resources import MailerResource, ObjectStoreResource, PlatformResource, WarehouseResource
    from sensors.webhooks import webhooks_sensor

    with ScriptedServer() as receiver:
        create_endpoint(client, world, receiver.url + "/hook", ["deal.new"])
        seed_scores(database_url, world)
        resources = {"platform": PlatformResource(config_dir=str(repo_root() / "config"), state_dir=str(tmp_path)),
                     "warehouse": WarehouseResource(database_url=database_url),
                     "object_store": ObjectStoreResource(backend="local", local_dir=str(tmp_path / "objects"),
                                                         link_secret="l" * 32),
                     "mailer": MailerResource(backend="outbox", outbox_dir=str(tmp_path / "outbox"))}
        with dg.build_sensor_context(resources=resources) as context:
            result = webhooks_sensor(context)
    assert isinstance(result, dg.SensorResult) and result.cursor
    assert f"{deals()} deliveries enqueued" in result.skip_reason.skip_message
    assert len(receiver.requests) == deals()
