"""Nothing gets stuck (issue #14, item 2): a value that cannot go into an email header or a file
name is sanitized, an email that still cannot be built fails alone with its reason, the rest of
the campaign is sent, no row stays `sending`; a packet that fails to render is skipped, not the
county. On real PostgreSQL and the real outbox / render pool."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from realestate_assets.docs.memo import RenderJob, render_many
from realestate_assets.outreach.delivery import PlannedEmail
from realestate_assets.outreach.messages import Attachment, Content, header_text, safe_filename
from resources.mailer import OutboxMailer, SendGridMailer
from tests.outreach.helpers_outreach import ScriptedServer, deliverer, email_rows, plan, real_contexts, recipient

HOSTILE = "Parcel 12\r\nBcc: victim@example.com\x00\x1b[31m"


def test_header_text_and_file_names_are_inert() -> None:
    assert header_text(HOSTILE) == "Parcel 12 Bcc: victim@example.com [31m"
    assert header_text("a\u2028b\u0085c  d") == "a b c d"
    assert safe_filename(f"memo-{HOSTILE}.pdf") == "memo-Parcel_12_Bcc_victim_example.com_31m.pdf"
    assert safe_filename("memo-../../etc/passwd.pdf") == "memo-.._.._etc_passwd.pdf"
    assert safe_filename("memo-" + "9" * 120_000 + ".pdf").endswith(".pdf")
    assert len(safe_filename("memo-" + "9" * 120_000 + ".pdf")) <= 100
    assert safe_filename("memo-None.pdf") == "memo-None.pdf"
    assert safe_filename("..") == "file" and safe_filename(".hidden") == "hidden"


def test_hostile_subject_and_name_are_sanitized_and_the_campaign_is_sent(database_url: str, tenant: str,
                                                                         tmp_path: Path) -> None:
    people = [recipient("avery@example.com", "Avery\r\nBcc: victim@example.com"), recipient("blake@example.org")]
    planned = [PlannedEmail(**{**p.__dict__, "subject": f"New: {HOSTILE}"}) for p in plan("packet:1", people)]
    counts = deliverer(database_url, tenant, OutboxMailer(tmp_path)).deliver(planned)
    assert counts["sent"] == 2
    rows = email_rows(database_url, tenant)
    assert {r["status"] for r in rows} == {"sent"}
    for path in tmp_path.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert "Bcc" not in message and message["Subject"] == "New: Parcel 12 Bcc: victim@example.com [31m"
        assert "\n" not in str(message["To"])


def test_an_email_that_cannot_be_built_fails_alone_and_nothing_stays_sending(database_url: str, tenant: str,
                                                                             tmp_path: Path) -> None:
    people = [recipient("avery@example.com"), recipient("blake@example.org"), recipient("casey@example.net")]
    planned = plan("packet:2", people)
    broken = Content(group_key="broken", html="<p>x</p>", text="x",
                     attachments=(Attachment("memo.pdf", "not-a-mime-type", b"%PDF"),))
    planned[1] = PlannedEmail(**{**planned[1].__dict__, "content": broken})
    outbox = OutboxMailer(tmp_path)
    counts = deliverer(database_url, tenant, outbox).deliver(planned)
    assert counts["sent"] == 2 and counts["failed"] == 1
    rows = {r["recipient_email"]: r for r in email_rows(database_url, tenant)}
    assert rows["blake@example.org"]["status"] == "failed" and not rows["blake@example.org"]["retryable"]
    assert "could not build the message" in rows["blake@example.org"]["error"]
    assert {r["status"] for r in rows.values()} == {"sent", "failed"}  # none left `sending`
    assert len(list(tmp_path.glob("*.eml"))) == 2
    again = deliverer(database_url, tenant, outbox)
    assert again.reconcile() == {}
    assert again.deliver(planned)["gave_up"] == 1  # recorded, not retried forever


def test_a_packet_that_fails_to_render_is_reported_and_the_others_render() -> None:
    good, bad = real_contexts(2)
    bad = {**bad, "score": None}  # a context the template cannot render
    jobs = [RenderJob("good", "executive_summary", good), RenderJob("bad", "executive_summary", bad)]
    failures: dict[str, str] = {}
    pdfs = render_many(jobs, workers=1, failures=failures)
    assert set(pdfs) == {"good"} and pdfs["good"].startswith(b"%PDF")
    assert set(failures) == {"bad"} and failures["bad"]
    pooled_failures: dict[str, str] = {}
    pooled = render_many(jobs * 2, workers=2, pool_threshold=2, failures=pooled_failures)
    assert set(pooled) == {"good"} and set(pooled_failures) == {"bad"}


def test_sendgrid_request_that_cannot_be_built_fails_its_emails_and_the_rest_are_sent(database_url: str,
                                                                                       tenant: str) -> None:
    people = [recipient("avery@example.com"), recipient("blake@example.org")]
    planned = plan("packet:3", people)
    broken = Content(group_key="broken", html="<p>x</p>", text="x",
                     attachments=(Attachment("memo.pdf", "application/pdf", "not bytes"),))  # type: ignore[arg-type]
    planned[0] = PlannedEmail(**{**planned[0].__dict__, "content": broken, "subject": HOSTILE})
    with ScriptedServer() as server:
        counts = deliverer(database_url, tenant, SendGridMailer("SG.k", server.url)).deliver(planned)
        assert counts["sent"] == 1 and counts["failed"] == 1
        assert len(server.requests) == 1
        assert server.requests[0].json()["personalizations"][0]["to"][0]["email"] == "blake@example.org"
    rows = {r["recipient_email"]: r for r in email_rows(database_url, tenant)}
    assert rows["avery@example.com"]["status"] == "failed" and "could not build the request" in \
        rows["avery@example.com"]["error"]
    assert rows["blake@example.org"]["status"] == "sent"


def test_packet_object_keys_are_one_safe_segment_per_prospect() -> None:
    from realestate_assets.assets.outreach import packet_path
    from realestate_assets.docs.memo import TEMPLATE_VERSIONS

    digest = "0123456789abcdef"
    assert packet_path("king_wa", "0345000085", "investor_memo", digest) == \
        f"packets/king_wa/0345000085/investor_memo-v{TEMPLATE_VERSIONS['investor_memo']}-0123456789ab.pdf"
    assert packet_path("king_wa", "_portfolio", "portfolio_overview", digest).startswith("packets/king_wa/portfolio/")
    hostile = packet_path("king_wa", "../../12/34\r\nx", "investor_memo", digest)
    assert hostile.startswith("packets/king_wa/12_34_x/") and hostile.count("/") == 3
    assert packet_path("king_wa", "..", "investor_memo", digest).startswith("packets/king_wa/file/")


def test_an_email_that_cannot_be_planned_is_recorded_and_the_rest_are_planned(tmp_path: Path) -> None:
    from realestate_assets.config_models import CampaignConfig, Recipient, load_county
    from realestate_assets.outreach.campaigns import CampaignPlanner
    from realestate_assets.settings import repo_root
    from resources.object_store import LocalObjectStore
    from tests.outreach.helpers_outreach import SENDER
    from tests.test_outreach_and_documents import NOW, item

    store = LocalObjectStore(tmp_path)
    store.put("packets/p1.pdf", b"%PDF one", "application/pdf")  # p2's object is missing
    items = [item(1, 95, 500_000), {**item(2, 90, 600_000), "parcel_id": "12\r\n/../34"}]
    people = [Recipient(name="Avery", email="avery@example.com", min_score=0, campaigns=["new_opportunity"])]
    planner = CampaignPlanner(county=load_county(repo_root() / "config" / "counties" / "king_wa.yaml"),
                              sender=SENDER, recipients=people, items=items, now=NOW, load_object=store.get)
    planned = planner.plan(CampaignConfig(key="new_opportunity", type="new_opportunity",
                                          subjects=["Parcel {parcel_id}"]))
    assert [p.send_key for p in planned] == ["packet:1"]
    assert planned[0].content.attachments[0].filename == "memo-P1.pdf"
    assert list(planner.failures) == ["new_opportunity packet:2 avery@example.com"]
