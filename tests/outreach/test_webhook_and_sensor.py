"""SendGrid event webhook (signature, replay, duplicates, effects) and the events sensor."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
from fastapi.testclient import TestClient

from realestate_assets.api.app import SIGNATURE_HEADER, TIMESTAMP_HEADER, ApiSettings, create_app
from realestate_assets.db.warehouse import Warehouse
from tests.outreach.helpers_outreach import WebhookKeys, email_rows


def post(client: TestClient, keys: WebhookKeys, events: list[dict], *, age_s: float = 0,
         signer: WebhookKeys | None = None):
    body = json.dumps(events)
    timestamp = str(int(time.time() - age_s))
    return client.post("/webhooks/sendgrid", content=body, headers={
        "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: (signer or keys).sign(body, timestamp)})


def event(kind: str, email_id: int, address: str, tenant: str, n: int) -> dict:
    return {"event": kind, "email": address, "timestamp": int(time.time()), "sg_event_id": f"{tenant}-{kind}-{n}",
            "sg_message_id": "msg-1.filter", "reos_email_id": str(email_id), "reos_tenant": tenant,
            "reos_campaign": "daily_digest", "category": ["daily_digest"]}


def test_signed_events_are_recorded_once_and_applied(database_url: str, tenant: str, sent: dict[str, int]) -> None:
    keys = WebhookKeys()
    client = TestClient(create_app(ApiSettings(database_url=database_url, webhook_public_key=keys.public_b64,
                                               unsubscribe_secret="s")))
    avery, blake = sent["avery@example.com"], sent["blake@example.org"]
    events = [event("delivered", avery, "avery@example.com", tenant, 1),
              event("open", avery, "avery@example.com", tenant, 2),
              event("click", avery, "avery@example.com", tenant, 3),
              event("bounce", blake, "blake@example.org", tenant, 4),
              event("group_unsubscribe", avery, "avery@example.com", tenant, 5)]
    response = post(client, keys, events)
    assert response.status_code == 200 and response.json()["recorded"] == 5
    # A retried delivery (SendGrid retries until it gets a 2xx) changes nothing.
    again = post(client, keys, events)
    assert again.status_code == 200 and again.json()["duplicate"] == 5 and "recorded" not in again.json()
    wh = Warehouse(database_url)
    assert wh.scalar("SELECT count(*) FROM email_events WHERE tenant_id = :t", {"t": tenant}) == 5
    rows = {r["recipient_email"]: r for r in email_rows(database_url, tenant)}
    assert rows["avery@example.com"]["status"] == "sent" and rows["avery@example.com"]["opened_at"] is not None
    assert rows["blake@example.org"]["status"] == "bounced"
    suppressed = dict(wh.frame("SELECT email, reason FROM suppressions WHERE tenant_id = :t", {"t": tenant})
                      .itertuples(index=False))
    assert suppressed == {"avery@example.com": "group_unsubscribe", "blake@example.org": "bounce"}
    wh.dispose()


def test_forged_replayed_and_unsigned_requests_are_rejected(database_url: str, tenant: str,
                                                            sent: dict[str, int]) -> None:
    keys = WebhookKeys()
    client = TestClient(create_app(ApiSettings(database_url=database_url, webhook_public_key=keys.public_b64,
                                               unsubscribe_secret="s")))
    events = [event("spamreport", sent["avery@example.com"], "avery@example.com", tenant, 9)]
    assert post(client, keys, events, signer=WebhookKeys()).status_code == 403  # signed with another key
    body = json.dumps(events)
    stamp = str(int(time.time()))
    tampered = client.post("/webhooks/sendgrid", content=body.replace("spamreport", "open"),
                           headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: keys.sign(body, stamp)})
    assert tampered.status_code == 403
    assert post(client, keys, events, age_s=600).status_code == 403  # valid signature, outside the 5-minute window
    assert client.post("/webhooks/sendgrid", content=body).status_code == 401
    wh = Warehouse(database_url)
    assert wh.scalar("SELECT count(*) FROM email_events WHERE tenant_id = :t", {"t": tenant}) == 0
    assert wh.scalar("SELECT count(*) FROM suppressions WHERE tenant_id = :t", {"t": tenant}) == 0
    wh.dispose()


def test_sensor_observes_campaign_rates_on_the_emails_asset(database_url: str, tenant: str, sent: dict[str, int],
                                                            tmp_path: Path) -> None:
    from resources import WarehouseResource
    from sensors import email_events_sensor

    resources = {"warehouse": WarehouseResource(database_url=database_url)}
    keys = WebhookKeys()
    client = TestClient(create_app(ApiSettings(database_url=database_url, webhook_public_key=keys.public_b64,
                                               unsubscribe_secret="s")))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("tenant", [tenant])  # what sensors.tenants does
        # Other tests' tenants have events too but no partition key here: nothing observed for them.
        idle = email_events_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert not idle.asset_events
        post(client, keys, [event("open", sent["avery@example.com"], "avery@example.com", tenant, 1),
                            event("bounce", sent["blake@example.org"], "blake@example.org", tenant, 2)])
        result = email_events_sensor(dg.build_sensor_context(instance=instance, cursor=idle.cursor,
                                                             resources=resources))
        (observation,) = result.asset_events
        assert isinstance(observation, dg.AssetObservation) and observation.asset_key == dg.AssetKey("emails")
        assert observation.partition == f"king_wa|{tenant}"  # the (county, tenant) partition
        assert observation.metadata["daily_digest/open_rate"].value == 0.5
        assert observation.metadata["daily_digest/bounce_rate"].value == 0.5
        rates = observation.metadata["campaign_rates"].value
        assert rates["daily_digest"]["sent"] == 2 and rates["daily_digest"]["opened"] == 1
        after = email_events_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                            resources=resources))
        assert after.skip_reason is not None
