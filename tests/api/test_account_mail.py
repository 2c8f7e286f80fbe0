"""Account email through the real API on real PostgreSQL, delivered to the outbox: password reset,
invitations and address verification with one-time links; and the same notices through SendGrid's
protocol (a local server)."""

from __future__ import annotations

import email
import re
import uuid
from email import policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.accounts.notices import compose
from realestate_assets.outreach.sendgrid import SendGridMailer
from tests.api.helpers_api import PASSWORD, api_client, bearer, login, make_tenant, owner_cursor
from tests.outreach.helpers_outreach import ScriptedServer

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("account-mail")


@pytest.fixture(scope="module")
def client(database_url: str, state: Path):
    with api_client(database_url, state) as c:
        yield c


@pytest.fixture(scope="module")
def tenant(database_url: str):
    return make_tenant(database_url, "mail")


def messages(state: Path, to: str) -> list[email.message.EmailMessage]:
    found = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted((state / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)]
    return [m for m in found if m["To"] == to]


def token_in(message: Any, page: str) -> str:
    text = message.get_content()
    match = re.search(rf"https?://\S+/{page}#token=(\S+)", text)
    assert match, text
    return match.group(1)


def fresh_user(database_url: str, tenant_id: str, *, verified: bool = True, password: str | None = PASSWORD) -> str:
    address = f"u{uuid.uuid4().hex[:8]}@example.com"
    with owner_cursor(database_url) as cur:
        user = store.create_user(cur, address, password, verified=verified)
        store.set_membership(cur, tenant_id, user["id"], "analyst")
    return address


def test_password_reset_sets_the_password_once_and_ends_every_session(
        client: TestClient, database_url: str, state: Path, tenant: Any) -> None:
    address = fresh_user(database_url, tenant.id)
    session = login(client, address)
    answer = client.post("/api/v1/auth/password-reset", json={"email": address.upper()})
    assert answer.status_code == 202
    (message,) = messages(state, address)
    assert "Reset your" in message["Subject"] and message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None  # transactional, not marketing
    token = token_in(message, "reset-password")

    done = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 204, done.text
    assert client.post("/api/v1/auth/login", json={"email": address, "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": address, "password": NEW_PASSWORD}).status_code == 200
    # The session started with the old password is over.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    again = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "yet another one!"})
    assert again.status_code == 400 and "not valid" in again.json()["detail"]


def test_reset_answers_the_same_for_an_unknown_address_and_sends_nothing(
        client: TestClient, state: Path) -> None:
    address = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answer = client.post("/api/v1/auth/password-reset", json={"email": address})
    assert answer.status_code == 202 and address in answer.json()["detail"]
    assert messages(state, address) == []


def test_a_newer_link_replaces_the_older_and_links_expire(
        client: TestClient, database_url: str, state: Path, tenant: Any) -> None:
    address = fresh_user(database_url, tenant.id)
    for _ in range(2):
        assert client.post("/api/v1/auth/password-reset", json={"email": address}).status_code == 202
    first, second = (token_in(m, "reset-password") for m in messages(state, address))
    confirm = "/api/v1/auth/password-reset/confirm"
    assert client.post(confirm, json={"token": first, "password": NEW_PASSWORD}).status_code == 400
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second' "
                    "WHERE user_id = (SELECT id FROM users WHERE email = %s) AND used_at IS NULL", (address,))
    assert client.post(confirm, json={"token": second, "password": NEW_PASSWORD}).status_code == 400
    too_short = client.post(confirm, json={"token": second, "password": "short"})
    assert too_short.status_code == 422


def test_an_invitation_without_a_password_emails_a_link_to_choose_one(
        client: TestClient, database_url: str, state: Path, tenant: Any) -> None:
    admin = login(client, tenant.users["admin"]["email"])
    address = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    member = client.post("/api/v1/members", headers=bearer(admin["access_token"]),
                         json={"email": address, "role": "viewer"})
    assert member.status_code == 201, member.text
    assert member.json()["invitation"] == "sent" and member.json()["email_verified_at"] is None
    (message,) = messages(state, address)
    assert tenant.users["admin"]["email"] in message["Subject"] and "Tenant mail" in message["Subject"]
    assert client.post("/api/v1/auth/login", json={"email": address, "password": NEW_PASSWORD}).status_code == 401
    done = client.post("/api/v1/auth/password-reset/confirm",
                       json={"token": token_in(message, "reset-password"), "password": NEW_PASSWORD})
    assert done.status_code == 204
    session = client.post("/api/v1/auth/login", json={"email": address, "password": NEW_PASSWORD})
    assert session.status_code == 200 and session.json()["role"] == "viewer"
    members = client.get("/api/v1/members", headers=bearer(admin["access_token"])).json()
    assert next(m for m in members if m["email"] == address)["email_verified_at"] is not None


def test_an_unverified_address_cannot_log_in_until_it_follows_a_new_link(
        client: TestClient, database_url: str, state: Path, tenant: Any) -> None:
    address = fresh_user(database_url, tenant.id, verified=False)
    refused = client.post("/api/v1/auth/login", json={"email": address, "password": PASSWORD})
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["code"] == "email_not_verified" and problem["type"].endswith("/email-not-verified")
    assert "verify-email/resend" in problem["detail"]
    # The wrong password still answers the one 401 of every failure (nothing to learn by guessing).
    assert client.post("/api/v1/auth/login", json={"email": address, "password": NEW_PASSWORD}).status_code == 401

    resend = "/api/v1/auth/verify-email/resend"
    answer = client.post(resend, json={"email": address.upper()})
    assert answer.status_code == 202
    # The same answer for an address without an account, and nothing sent.
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    other = client.post(resend, json={"email": nobody})
    assert other.status_code == 202
    assert other.json()["detail"].replace(nobody, address.upper()) == answer.json()["detail"]
    assert messages(state, nobody) == []
    (message,) = messages(state, address)
    token = token_in(message, "verify-email")
    confirm = "/api/v1/auth/verify-email/confirm"
    assert client.post(confirm, json={"token": token}).status_code == 204
    assert client.post(confirm, json={"token": token}).status_code == 400
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT email_verified_at IS NOT NULL FROM users WHERE email = %s", (address,))
        assert cur.fetchone()[0]
    session = login(client, address)
    # Verified: asking again (logged in or not) sends nothing.
    assert client.post("/api/v1/auth/verify-email", headers=bearer(session["access_token"])).status_code == 202
    assert client.post(resend, json={"email": address}).status_code == 202
    assert len(messages(state, address)) == 1


def test_a_reset_token_cannot_verify_and_a_verify_token_cannot_reset(
        client: TestClient, database_url: str, state: Path, tenant: Any) -> None:
    address = fresh_user(database_url, tenant.id)
    client.post("/api/v1/auth/password-reset", json={"email": address})
    token = token_in(messages(state, address)[0], "reset-password")
    assert client.post("/api/v1/auth/verify-email/confirm", json={"token": token}).status_code == 400


def test_the_api_role_cannot_read_account_tokens(database_url: str) -> None:
    import psycopg2

    from realestate_assets.db.tenancy import act_as_api
    from tests.api.helpers_api import dsn

    conn = psycopg2.connect(dsn(database_url))
    try:
        cur = conn.cursor()
        act_as_api(cur, None)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT token_hash FROM account_tokens")
    finally:
        conn.rollback()
        conn.close()


def test_sendgrid_notices_go_without_tracking_unsubscribe_group_or_categories() -> None:
    issued = store.IssuedToken(user_id=1, email="a@example.com", verified=False, token="t0k3n")
    notice = compose("reset", issued, base_url="https://app.example.com/", product="Real Estate OS",
                     from_email="deals@example.com", from_name="Deals")
    with ScriptedServer() as server:
        delivery = SendGridMailer("SG.k", server.url, asm_group_id=7).send_notice(notice)
    (request,) = server.requests
    body = request.json()
    assert request.path == "/v3/mail/send" and delivery.provider == "sendgrid"
    assert "asm" not in body and "categories" not in body
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["personalizations"] == [{"to": [{"email": "a@example.com"}], "subject": notice.subject}]
    assert "https://app.example.com/reset-password#token=t0k3n" in body["content"][0]["value"]
