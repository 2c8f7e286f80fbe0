"""SendGrid backend through the official SDK against a local server: 202, 429 + reset, 500, batching."""

from __future__ import annotations

from realestate_assets.outreach.messages import Attachment, Content, OutgoingEmail
from resources.mailer import MailerResource, ProviderError, SendGridMailer
from tests.outreach.helpers_outreach import ScriptedServer, rate_limited


def emails(n: int, group: str = "g1", attachments: tuple[Attachment, ...] = (),
           first_id: int = 100) -> list[OutgoingEmail]:
    content = Content(group_key=group, html="<p>Hello [%first_name%]</p><a href='[%unsubscribe_url%]'>u</a>",
                      text="Hello [%first_name%] [%unsubscribe_url%]", attachments=attachments,
                      categories=("new_opportunity", "king_wa"))
    return [OutgoingEmail(email_id=first_id + i, tenant_id="default", campaign="new_opportunity",
                          to_email=f"r{i}@example.com", to_name=f"Reader {i}", from_email="deals@example.com",
                          from_name="Deals", subject=f"Lead {i}", content=content,
                          unsubscribe_url=f"https://deals.example.com/unsubscribe?token=t{i}",
                          extra_args={"reos_county": "king_wa"}) for i in range(n)]


def test_202_request_carries_ids_attachments_categories_group_and_one_click_headers() -> None:
    with ScriptedServer() as server:
        mailer = MailerResource(backend="sendgrid", api_key="SG.test-key", api_host=server.url,
                                unsubscribe_group_id=4242).get()
        assert isinstance(mailer, SendGridMailer)
        batch = emails(2, attachments=(Attachment("memo.pdf", "application/pdf", b"%PDF-1.7"),))
        outcomes = mailer.send_batch(batch)
    (request,) = server.requests
    assert request.path == "/v3/mail/send" and request.headers["Authorization"] == "Bearer SG.test-key"
    body = request.json()
    assert body["asm"] == {"group_id": 4242} and body["categories"] == ["new_opportunity", "king_wa"]
    assert body["attachments"][0]["filename"] == "memo.pdf" and body["attachments"][0]["type"] == "application/pdf"
    first = body["personalizations"][0]
    assert first["custom_args"] == {"reos_email_id": "100", "reos_tenant": "default",
                                    "reos_campaign": "new_opportunity", "reos_county": "king_wa"}
    assert all(isinstance(v, str) for p in body["personalizations"] for v in p["custom_args"].values())
    assert first["substitutions"]["[%first_name%]"] == "Reader"
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["headers"]["List-Unsubscribe"].startswith("<https://deals.example.com/unsubscribe?token=t0>")
    assert {c["type"] for c in body["content"]} == {"text/plain", "text/html"}
    assert {i: o.provider_message_id for i, o in outcomes.items()} == {100: "msg-1", 101: "msg-1"}


def test_429_waits_until_the_reset_header_then_resends_the_same_request() -> None:
    waits: list[float] = []
    with ScriptedServer(script=[rate_limited(reset_in_s=3)]) as server:
        mailer = SendGridMailer("SG.k", server.url, sleep=waits.append)
        outcomes = mailer.send_batch(emails(1))
    assert len(server.requests) == 2 and server.requests[0].body == server.requests[1].body
    assert len(waits) == 1 and 1.5 <= waits[0] <= 3.5
    assert outcomes[100].provider_message_id == "msg-2"


def test_500_is_retried_then_reported_as_a_retryable_failure_of_its_emails_only() -> None:
    error = (500, {}, b'{"errors":[{"message":"internal"}]}')
    with ScriptedServer(script=[error, error, error]) as server:
        mailer = SendGridMailer("SG.k", server.url, sleep=lambda _: None, server_error_retries=2)
        outcomes = mailer.send_batch(emails(2, group="a") + emails(1, group="b", first_id=200))
    # group a: 3 attempts, all 500; group b: its own request, accepted.
    assert len(server.requests) == 4
    failed = [o for o in outcomes.values() if isinstance(o, ProviderError)]
    assert len(failed) == 2 and all(f.status == 500 and f.retryable for f in failed)
    assert isinstance(outcomes[100], ProviderError) and isinstance(outcomes[101], ProviderError)
    assert outcomes[200].provider_message_id == "msg-4"


def test_at_most_1000_personalizations_per_request() -> None:
    with ScriptedServer() as server:
        mailer = SendGridMailer("SG.k", server.url)
        outcomes = mailer.send_batch(emails(2345))
    sizes = [len(r.json()["personalizations"]) for r in server.requests]
    assert sizes == [1000, 1000, 345] and len(outcomes) == 2345


def test_429_reset_further_off_than_we_wait_fails_at_once_and_may_retry_later() -> None:
    waits: list[float] = []
    with ScriptedServer(script=[rate_limited(reset_in_s=3600)]) as server:
        mailer = SendGridMailer("SG.k", server.url, sleep=waits.append, max_rate_limit_wait_s=120)
        outcomes = mailer.send_batch(emails(1))
    assert len(server.requests) == 1 and waits == []
    assert outcomes[100].status == 429 and outcomes[100].retryable and "more than the 120s" in str(outcomes[100])


def test_400_is_rejected_with_its_reason_and_not_retried() -> None:
    bad = (400, {}, b'{"errors":[{"message":"The from address does not match a verified Sender Identity"}]}')
    with ScriptedServer(script=[bad]) as server:
        outcomes = SendGridMailer("SG.k", server.url, sleep=lambda _: None).send_batch(emails(1))
    assert len(server.requests) == 1
    failure = outcomes[100]
    assert isinstance(failure, ProviderError) and failure.status == 400 and not failure.retryable
    assert "HTTP 400" in str(failure) and "verified Sender Identity" in str(failure)
