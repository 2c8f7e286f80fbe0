"""Exactly once, on real PostgreSQL: crashes between send and commit, opt-outs, compliance gates."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient

from realestate_assets.config_models import Sender
from realestate_assets.outreach.compliance import ComplianceError, require_sendable, sending_problems
from realestate_assets.outreach.delivery import Deliverer, choose_variant
from realestate_assets.outreach.events import record_events
from resources.mailer import OutboxMailer, SendGridMailer
from tests.outreach.helpers_outreach import ScriptedServer, deliverer, email_rows, plan, recipient


def crash(*_: object) -> None:
    raise RuntimeError("process killed between the provider's answer and our commit")


def test_outbox_crash_after_send_is_reconciled_not_resent(database_url: str, tenant: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    people = [recipient("avery@example.com"), recipient("blake@example.org", "Blake Capital")]
    outbox = OutboxMailer(tmp_path)
    monkeypatch.setattr(Deliverer, "_mark_sent", crash)
    with pytest.raises(RuntimeError, match="killed"):
        deliverer(database_url, tenant, outbox).deliver(plan("daily:king_wa:2026-11-29", people))
    assert {r["status"] for r in email_rows(database_url, tenant)} == {"sending"}
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 2
    monkeypatch.undo()
    restarted = deliverer(database_url, tenant, outbox)
    assert restarted.reconcile()["reconciled"] == 2
    counts = restarted.deliver(plan("daily:king_wa:2026-11-29", people))
    assert counts["sent"] == 0 and counts["already_sent"] == 2
    assert sorted(tmp_path.glob("*.eml")) == files and all(f.stat().st_mtime for f in files)
    assert {r["status"] for r in email_rows(database_url, tenant)} == {"sent"}


def test_outbox_crash_before_the_send_is_sent_once_on_restart(database_url: str, tenant: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = OutboxMailer(tmp_path)
    monkeypatch.setattr(OutboxMailer, "send_batch", crash)
    with pytest.raises(RuntimeError):
        deliverer(database_url, tenant, outbox).deliver(plan("weekly:king_wa:2026-W48", [recipient("a@example.com")]))
    monkeypatch.undo()
    restarted = deliverer(database_url, tenant, outbox)
    assert restarted.reconcile()["reconciled_not_sent"] == 1  # no .eml: it was never sent
    assert restarted.deliver(plan("weekly:king_wa:2026-W48", [recipient("a@example.com")]))["sent"] == 1
    assert len(list(tmp_path.glob("*.eml"))) == 1
    (row,) = email_rows(database_url, tenant)
    assert row["status"] == "sent" and row["attempts"] == 2


def test_sendgrid_crash_after_202_never_sends_twice(database_url: str, tenant: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    people = [recipient("avery@example.com")]
    with ScriptedServer() as server:
        mailer = SendGridMailer("SG.k", server.url)
        monkeypatch.setattr(Deliverer, "_mark_sent", crash)
        with pytest.raises(RuntimeError):
            deliverer(database_url, tenant, mailer).deliver(plan("daily:king_wa:2026-11-30", people))
        monkeypatch.undo()
        restarted = deliverer(database_url, tenant, mailer)
        assert restarted.reconcile()["possibly_sent"] == 1
        assert restarted.deliver(plan("daily:king_wa:2026-11-30", people))["possibly_sent"] == 1
        assert len(server.requests) == 1  # the restart did not send again
        (row,) = email_rows(database_url, tenant)
        assert row["status"] == "sending"
        # SendGrid's event (custom_args carry our id) settles it.
        sent_id = server.requests[0].json()["personalizations"][0]["custom_args"]["reos_email_id"]
        conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
        with conn:
            record_events(conn, [{"event": "processed", "sg_event_id": f"ev-{tenant}-1", "email": "avery@example.com",
                                  "timestamp": int(time.time()), "reos_email_id": sent_id}])
        conn.close()
        assert email_rows(database_url, tenant)[0]["status"] == "sent"
        assert restarted.deliver(plan("daily:king_wa:2026-11-30", people))["already_sent"] == 1
        assert len(server.requests) == 1


def test_sendgrid_unconfirmed_send_is_marked_failed_and_not_retried(database_url: str, tenant: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    people = [recipient("avery@example.com")]
    with ScriptedServer() as server:
        mailer = SendGridMailer("SG.k", server.url)
        monkeypatch.setattr(Deliverer, "_mark_sent", crash)
        with pytest.raises(RuntimeError):
            deliverer(database_url, tenant, mailer).deliver(plan("d:1", people))
        monkeypatch.undo()
        later = deliverer(database_url, tenant, mailer, unconfirmed_after=timedelta(seconds=0))
        assert later.reconcile()["unconfirmed"] == 1
        assert later.deliver(plan("d:1", people))["gave_up"] == 1
        assert len(server.requests) == 1
    (row,) = email_rows(database_url, tenant)
    assert row["status"] == "failed" and not row["retryable"] and row["error"].startswith("unconfirmed")


def test_provider_500_marks_failed_then_a_later_run_retries(database_url: str, tenant: str) -> None:
    error = (500, {}, b"{}")
    with ScriptedServer(script=[error, error]) as server:
        mailer = SendGridMailer("SG.k", server.url, sleep=lambda _: None, server_error_retries=1)
        first = deliverer(database_url, tenant, mailer).deliver(plan("d:2", [recipient("a@example.com")]))
        assert first["failed"] == 1 and email_rows(database_url, tenant)[0]["status"] == "failed"
        second = deliverer(database_url, tenant, mailer).deliver(plan("d:2", [recipient("a@example.com")]))
        assert second["sent"] == 1 and len(server.requests) == 3
    (row,) = email_rows(database_url, tenant)
    assert row["status"] == "sent" and row["attempts"] == 2


def test_unsubscribe_by_link_and_by_one_click_stops_the_next_campaign(database_url: str, tenant: str,
                                                                      tmp_path: Path) -> None:
    from realestate_assets.api.app import ApiSettings, create_app

    avery, blake, casey = (recipient("avery@example.com"), recipient("blake@example.org", "Blake"),
                           recipient("casey@example.net", "Casey"))
    outbox = OutboxMailer(tmp_path)
    send = deliverer(database_url, tenant, outbox)
    assert send.deliver(plan("daily:king_wa:day1", [avery, blake, casey]))["sent"] == 3
    urls = {e.to_email: e.unsubscribe_url for e in (send.outgoing(1, p) for p in plan("x", [avery, blake]))}
    client = TestClient(create_app(ApiSettings(database_url=database_url, unsubscribe_secret="unsubscribe-secret")))
    path = {k: v.replace("https://deals.example.com", "") for k, v in urls.items()}
    # The link: a GET shows a confirmation page and changes nothing (mail scanners prefetch links) …
    page = client.get(path["avery@example.com"])
    assert page.status_code == 200 and "<form method='post'" in page.text
    # … its button POSTs the form.
    done = client.post(path["avery@example.com"], data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert done.status_code == 200 and "unsubscribed" in done.text
    # RFC 8058 one-click: a bare POST with the standard body; no cookie, no login, no redirect.
    one_click = client.post(path["blake@example.org"], content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert one_click.status_code == 200 and "location" not in one_click.headers
    assert "set-cookie" not in one_click.headers
    assert client.post("/unsubscribe?token=forged.token").status_code == 400
    counts = deliverer(database_url, tenant, outbox).deliver(plan("daily:king_wa:day2", [avery, blake, casey]))
    assert counts["sent"] == 1 and counts["suppressed"] == 2
    sent_day2 = [r["recipient_email"] for r in email_rows(database_url, tenant)
                 if r["send_key"] == "daily:king_wa:day2" and r["status"] == "sent"]
    assert sent_day2 == ["casey@example.net"]


def test_an_opt_out_between_claim_and_send_still_stops_the_email(database_url: str, tenant: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    claim = Deliverer._claim

    def claim_then_unsubscribe(self: Deliverer, planned: list) -> dict:
        claimed = claim(self, planned)
        conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) VALUES (%s, %s, 'unsubscribe', "
                        "'test')", (tenant, "avery@example.com"))
        conn.close()
        return claimed

    monkeypatch.setattr(Deliverer, "_claim", claim_then_unsubscribe)
    mailer = OutboxMailer(tmp_path)
    counts = deliverer(database_url, tenant, mailer).deliver(plan("d:3", [recipient("avery@example.com")]))
    assert counts["suppressed"] == 1 and counts["sent"] == 0 and not list(tmp_path.glob("*.eml"))
    assert email_rows(database_url, tenant)[0]["status"] == "suppressed"


def test_sending_refuses_without_postal_address_or_sender_identity() -> None:
    good = Sender(name="Deals", email="deals@example.com", postal_address="1301 Second Avenue, Seattle, WA 98101",
                  unsubscribe_base_url="https://deals.example.com/unsubscribe")
    require_sendable(good)
    vague = good.model_copy(update={"postal_address": "Address to be announced (TBD)"})
    with pytest.raises(ComplianceError, match="postal_address"):
        require_sendable(vague)
    nameless = good.model_copy(update={"name": " ", "unsubscribe_base_url": "http://insecure.example.com/u"})
    problems = sending_problems(nameless)
    assert any("sender.name" in p for p in problems) and any("https" in p for p in problems)


def test_ab_subject_variant_is_deterministic_and_spread() -> None:
    subjects = ["Subject A", "Subject B"]
    picks = [choose_variant(subjects, "new_opportunity", f"packet:{i}", "a@example.com") for i in range(200)]
    assert picks == [choose_variant(subjects, "new_opportunity", f"packet:{i}", "a@example.com") for i in range(200)]
    assert 60 < sum(v == "A" for v, _ in picks) < 140
