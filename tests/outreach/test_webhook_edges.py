"""The SendGrid webhook's edges (issue #14 item 5): a replay window that NaN cannot open, one
malformed event of a signed batch rejected while the rest apply, a bad verification key a 503."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from realestate_assets.api.app import SIGNATURE_HEADER, TIMESTAMP_HEADER, ApiSettings, create_app
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.outreach.events import event_problem
from tests.outreach.helpers_outreach import WebhookKeys, email_rows


def signed_post(client: TestClient, keys: WebhookKeys, body: str, timestamp: str | None = None):
    timestamp = timestamp or str(int(time.time()))
    return client.post("/webhooks/sendgrid", content=body, headers={
        "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: keys.sign(body, timestamp)})


def app_for(database_url: str, tenant: str, key: str) -> TestClient:
    return TestClient(create_app(ApiSettings(database_url=database_url, webhook_public_key=key,
                                             unsubscribe_secret="s", link_secret="l")))


def test_nan_timestamp_header_does_not_open_the_replay_window(database_url: str, tenant: str,
                                                             sent: dict[str, int]) -> None:
    keys = WebhookKeys()
    client = app_for(database_url, tenant, keys.public_b64)
    body = json.dumps([{"event": "spamreport", "email": "avery@example.com", "timestamp": int(time.time()),
                        "sg_event_id": f"{tenant}-nan", "reos_email_id": str(sent["avery@example.com"])}])
    for stamp in ("nan", "NaN", "inf", "-inf"):
        assert signed_post(client, keys, body, stamp).status_code == 401, stamp
    wh = Warehouse(database_url)
    assert wh.scalar("SELECT count(*) FROM suppressions WHERE tenant_id = :t", {"t": tenant}) == 0
    wh.dispose()


def test_one_malformed_event_is_rejected_with_its_reason_while_the_others_apply(
        database_url: str, tenant: str, sent: dict[str, int]) -> None:
    keys = WebhookKeys()
    client = app_for(database_url, tenant, keys.public_b64)
    now = int(time.time())
    avery, blake = sent["avery@example.com"], sent["blake@example.org"]

    def ev(n: int, **kw: object) -> str:
        base = {"event": "delivered", "email": "avery@example.com", "timestamp": now, "sg_event_id": f"{tenant}-{n}",
                "reos_email_id": str(avery), "reos_tenant": tenant}
        return json.dumps({**base, **kw})

    # Raw JSON text: Python's json reads NaN and Infinity literals, as the API's parser does.
    bad = [ev(2, timestamp=float("nan")), ev(3, timestamp=1e30), ev(4, timestamp=-5), ev(5, timestamp=now + 864000),
           ev(6, timestamp="soon"), ev(7, sg_event_id=None), ev(8, sg_event_id="x" * 101), '"just a string"',
           ev(9, email="nul\u0000@example.com"), ev(10, note=float("inf")).replace("Infinity", "1e999"),
           ev(11, timestamp=None)]
    good = [ev(1), ev(12, event="bounce", email="blake@example.org", reos_email_id=str(blake))]
    body = "[" + ", ".join([good[0], *bad, good[1]]) + "]"
    response = signed_post(client, keys, body)
    assert response.status_code == 200, response.text
    counts = response.json()
    assert counts["received"] == 13 and counts["recorded"] == 3 and counts["rejected"] == 10
    rows = {r["recipient_email"]: r for r in email_rows(database_url, tenant)}
    assert rows["avery@example.com"]["status"] == "sent" and rows["blake@example.org"]["status"] == "bounced"
    wh = Warehouse(database_url)
    rejects = wh.frame("SELECT source_ref, reason, raw_payload FROM rejects WHERE tenant_id = :t "
                       "AND asset = 'email_events' AND source = 'sendgrid_webhook' ORDER BY id", {"t": tenant})
    reasons = dict(zip(rejects["source_ref"].fillna("-"), rejects["reason"], strict=True))
    assert "not finite" in reasons[f"{tenant}-2"] and "future" in reasons[f"{tenant}-3"]
    assert "before 2000" in reasons[f"{tenant}-4"] and "future" in reasons[f"{tenant}-5"]
    assert "not a number" in reasons[f"{tenant}-6"] and "NUL" in reasons[f"{tenant}-9"]
    assert "missing" in reasons[f"{tenant}-11"]
    assert any("longer than 100" in r for r in rejects["reason"])
    # A bare string names no tenant: unplaced, never this tenant's reject (tests/api/test_bare_api_login.py).
    assert counts["unplaced"] == 1 and not any("not an object" in r for r in rejects["reason"])
    # ev(10): a field of 1e999 (infinity) is stored with that field null: the event itself is fine.
    assert wh.scalar("SELECT count(*) FROM email_events WHERE sg_event_id = :e", {"e": f"{tenant}-10"}) == 1
    # The same batch again: the good events are duplicates, nothing applies twice.
    again = signed_post(client, keys, body).json()
    assert again["duplicate"] == 3 and "recorded" not in again
    wh.dispose()


def test_signed_bodies_python_cannot_parse_are_a_400(database_url: str, tenant: str) -> None:
    keys = WebhookKeys()
    client = app_for(database_url, tenant, keys.public_b64)
    for body in ("[" + "1" * 5000 + "]", "[" * 100_000 + "]" * 100_000, "[{]"):
        assert signed_post(client, keys, body).status_code == 400


def test_event_problem_is_a_pure_rule() -> None:
    now = 1_790_000_000.0
    ok = {"event": "open", "sg_event_id": "a", "timestamp": now}
    assert event_problem(ok, now) is None
    assert event_problem({**ok, "timestamp": str(now)}, now) is None  # SendGrid sends numbers; strings parse
    assert "future" in event_problem({**ok, "timestamp": now + 2 * 86400}, now)
    assert "not a number" in event_problem({**ok, "timestamp": True}, now)
    assert "not a number" in event_problem({**ok, "timestamp": [1]}, now)


@pytest.mark.parametrize("key", ["not-a-key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", "rsa"])
def test_misconfigured_verification_key_is_a_503_with_one_log_line(database_url: str, tenant: str, key: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    if key == "rsa":  # a well-formed public key of the wrong kind
        import base64

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        der = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        key = base64.b64encode(der).decode()
    client = app_for(database_url, tenant, key)
    body = json.dumps([{"event": "open", "sg_event_id": "x", "timestamp": int(time.time())}])
    with caplog.at_level(logging.ERROR):
        for _ in range(3):  # SendGrid retries: one log line, not one per retry
            response = signed_post(client, WebhookKeys(), body)
            assert response.status_code == 503 and "misconfigured" in response.json()["error"]
    lines = [r for r in caplog.records if "SENDGRID_WEBHOOK_PUBLIC_KEY" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR


def test_signed_tokens_naming_what_no_email_carries_are_not_valid_not_a_500(database_url: str,
                                                                             tenant: str) -> None:
    """A NUL byte or control character in a signed token's tenant id, address or object key (found
    by `make chaos`'s hostile corpus: an HTTP 500 from the database driver) is an invalid link."""
    from realestate_assets.outreach.messages import (
        packet_link_token,
        read_packet_link_token,
        unsubscribe_token,
        verify_unsubscribe_token,
    )

    assert verify_unsubscribe_token("s", unsubscribe_token("s", tenant, "a@example.com")) == (tenant, "a@example.com")
    for bad_tenant, bad_email in (("a\x00b", "a@example.com"), (tenant, "a\x00@example.com"),
                                  (tenant, "a@example.com\r\nBcc: x@example.com"), ("../x", "a@example.com")):
        token = unsubscribe_token("s", bad_tenant, bad_email)
        assert verify_unsubscribe_token("s", token) is None
        settings = ApiSettings(database_url=database_url, unsubscribe_secret="s", link_secret="l")
        with TestClient(create_app(settings)) as client:
            assert client.post("/unsubscribe", params={"token": token}).status_code == 400
            assert client.get("/unsubscribe", params={"token": token}).status_code == 400
    expires = int(time.time()) + 600
    assert read_packet_link_token("l", packet_link_token("l", tenant, f"tenants/{tenant}/x.pdf", expires))
    assert read_packet_link_token("l", packet_link_token("l", tenant, "tenants/x/\x00.pdf", expires)) is None
