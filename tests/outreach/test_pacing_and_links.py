"""Email people want (issue #13): pacing per recipient, digests that count what they list, memo links
that keep working through the API, and messages with a text part, List-Id, Reply-To and honest
attachment lines. The planning function is tested directly; sending goes through the real state
machine on PostgreSQL and the outbox; links through the real API app."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient

from realestate_assets.config_models import CampaignConfig, Recipient, load_county
from realestate_assets.outreach.campaigns import (
    CampaignPlanner,
    EarlierEmail,
    plan_county,
    planned_prospects,
    read_history,
)
from realestate_assets.outreach.compliance import link_problems
from realestate_assets.outreach.messages import packet_link_token, packet_link_url, read_packet_link_token
from realestate_assets.settings import repo_root
from resources.mailer import OutboxMailer
from resources.object_store import LocalObjectStore
from tests.outreach.helpers_outreach import SENDER, deliverer

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
CAMPAIGNS = [CampaignConfig(key="new_opportunity", type="new_opportunity", subjects=["Parcel {parcel_id}"]),
             CampaignConfig(key="daily_digest", type="daily_digest", subjects=["{count} new leads in {county}"],
                            max_items=25),
             CampaignConfig(key="weekly_summary", type="weekly_summary", subjects=["Top {count} in {county}"],
                            attach_pdf=False)]
AVERY = Recipient(name="Avery Investor", email="avery@example.com", min_score=70,
                  campaigns=["new_opportunity", "daily_digest"])


def item(packet_id: int, score: float, **kw: Any) -> dict[str, Any]:
    return {"packet_id": packet_id, "parcel_id": f"P{packet_id}", "address": None, "bird_dog_score": score,
            "estimated_value": 500_000.0, "value_gap_pct": 20.0, "use_type": "sfr", "living_sqft": 1500.0,
            "beds": 3.0, "waterfront": False, "comps_count": 6, "reasons": ["r"],
            "object_path": f"packets/king_wa/P{packet_id}/investor_memo.pdf", "county_name": "King County, WA",
            "created_at": NOW - timedelta(hours=1), **kw}


def earlier(address: str = "avery@example.com", days: float = 9, **kw: Any) -> EarlierEmail:
    return EarlierEmail(**{"recipient": address, "campaign": "daily_digest", "send_key": "daily:king_wa:old",
                           "packet_ids": (999,), "created_at": NOW - timedelta(days=days), "status": "sent", **kw})


def plan(items: list[dict], history: list[EarlierEmail], recipients: list[Recipient] | None = None,
         **kw: Any) -> list:
    return plan_county(county_key="king_wa", campaigns=kw.pop("campaigns", CAMPAIGNS),
                       recipients=recipients or [AVERY], items=items, history=history,
                       now=kw.pop("now", NOW), max_single_per_day=kw.pop("cap", 3), **kw)


def planner(items: list[dict], recipients: list[Recipient] | None = None, **kw: Any) -> CampaignPlanner:
    return CampaignPlanner(county=load_county(repo_root() / "config" / "counties" / "king_wa.yaml"), sender=SENDER,
                           recipients=recipients or [AVERY], items=items, now=kw.pop("now", NOW),
                           load_object=lambda key: b"%PDF-1.7 " + key.encode(), **kw)


def listed_rows(html: str) -> int:
    """Properties an email shows: cards plus table rows, each naming its parcel once."""
    return len(set(re.findall(r"Parcel (P\d+)<|<td style=\"padding:6px;\">(P\d+)</td>", html)))


# ------------------------------------------------------------------ pacing (the planning function)


def test_at_most_n_single_emails_a_day_best_first_and_the_rest_in_one_digest() -> None:
    items = [item(i, 70 + i) for i in range(1, 11)]  # P10 scores best
    (avery,) = plan(items, [earlier()])
    singles = [d for d in avery.emails if d.campaign.type == "new_opportunity"]
    (digest,) = [d for d in avery.emails if d.campaign.type == "daily_digest"]
    assert [d.send_key for d in singles] == ["packet:10", "packet:9", "packet:8"]
    assert digest.send_key == "daily:king_wa:2026-12-03"
    assert digest.packet_ids == (7, 6, 5, 4, 3, 2, 1)
    assert any("pacing: 7 more" in n for n in avery.notes)
    # Rendered: subject count == listed count == stored rows.
    emails = planner(items).render([avery])
    (rendered,) = [e for e in emails if e.campaign == "daily_digest"]
    assert rendered.subject == "7 new leads in King County"
    assert listed_rows(rendered.content.html) == 7 == len(rendered.packet_ids)
    assert "7 new properties" in rendered.content.text
    assert sum(line.startswith("* Parcel") for line in rendered.content.text.splitlines()) == 7


def test_a_first_run_on_a_county_is_one_digest_never_a_flood() -> None:
    items = [item(i, 60 + i * 0.05) for i in range(1, 466)]  # 465 properties, the flood
    (avery,) = plan(items, [])
    assert [d.campaign.type for d in avery.emails] == ["daily_digest"]
    (digest,) = avery.emails
    assert len(digest.items) == 25 and digest.packet_ids[0] == 465  # the best first, max_items listed
    assert any(n.startswith("first email for king_wa") for n in avery.notes)
    assert any("more new properties wait for the next digest" in n for n in avery.notes)
    (rendered,) = planner(items).render([avery])
    assert rendered.subject == "25 new leads in King County"
    assert listed_rows(rendered.content.html) == 25


def test_only_what_todays_plan_sends_is_rendered() -> None:
    """The packets step renders the properties today's plan sends (issue #13: render only what will
    be read): on a first run one digest's 25 of 465, not 465; a suppressed recipient's plan none."""
    items = [item(i, 60 + i * 0.05, prospect_key=f"k{i}") for i in range(1, 466)]
    assert planned_prospects(plan(items, [])) == {f"k{i}" for i in range(441, 466)}
    later = plan(items, [earlier()])  # singles up to the cap, then a digest of the next 25
    assert planned_prospects(later) == {f"k{i}" for i in range(438, 466)}  # 3 singles + 25 digested
    assert planned_prospects(plan(items, [], suppressed={"avery@example.com"})) == set()


def test_a_later_run_the_same_day_plans_the_same_emails_again_and_new_ones_go_to_a_second_digest() -> None:
    items = [item(i, 70 + i) for i in range(1, 6)]
    (first,) = plan(items, [earlier()])
    made = NOW - timedelta(hours=2)
    history = [earlier()] + [EarlierEmail("avery@example.com", d.campaign.key, d.send_key, d.packet_ids, made, "sent")
                             for d in first.emails]
    later = [*items, item(6, 99), item(7, 71)]
    (again,) = plan(later, history)
    repeated = [d for d in again.emails if d.again]
    assert {d.send_key for d in repeated} == {d.send_key for d in first.emails}
    new = [d for d in again.emails if not d.again]
    # Three singles already went out today: the two new properties wait in a second digest.
    assert [(d.send_key, d.packet_ids) for d in new] == [("daily:king_wa:2026-12-03:2", (6, 7))]
    # The next day: three singles again, nothing listed before is offered twice.
    tomorrow = [*history, *(EarlierEmail("avery@example.com", d.campaign.key, d.send_key, d.packet_ids, NOW, "sent")
                            for d in new)]
    (next_day,) = plan([*later, item(8, 90)], tomorrow, now=NOW + timedelta(days=1))
    assert [d.send_key for d in next_day.emails] == ["packet:8"]


def test_suppressed_below_threshold_and_other_counties_are_explained() -> None:
    items = [item(1, 95), item(2, 50)]
    blake = Recipient(name="Blake", email="blake@example.org", counties=["cook_il"], min_score=0)
    avery, other = plan(items, [earlier()], recipients=[AVERY, blake], suppressed={"avery@example.com"})
    assert avery.suppressed and any("suppressed" in n for n in avery.notes)
    assert any("1 properties below the recipient's threshold (min_score 70)" in n for n in avery.notes)
    assert not other.emails and other.notes == ["not subscribed to king_wa (counties: cook_il)"]


def test_weekly_summary_counts_match_its_list() -> None:
    casey = Recipient(name="Casey", email="casey@example.net", min_score=0, campaigns=["weekly_summary"])
    items = [item(i, 50 + i) for i in range(1, 31)]
    plans = plan(items, [], recipients=[casey])
    (weekly,) = planner(items, recipients=[casey]).render(plans)
    assert weekly.send_key == "weekly:king_wa:2026-W49"
    assert weekly.subject == "Top 10 in King County"
    assert listed_rows(weekly.content.html) == 10 == len(weekly.packet_ids)
    assert ">30</b>" in weekly.content.html  # properties with a memo: the whole segment, stated as such
    assert "Top 10 of 30 properties with a memo" in weekly.content.text


# ------------------------------------------------------------------ sending: exactly once, with packet_ids


def _packets(database_url: str, tenant: str, n: int) -> list[int]:
    """`n` packet rows (emails reference them); their object is not needed here."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        ids = []
        for i in range(n):
            cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, "
                        "inputs_hash, object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                        "(%s, 'king_wa', %s, 'investor_memo', '3', 'h', %s, 's', 10, %s, now()) RETURNING id",
                        (tenant, f"king_wa:{uuid.uuid4().hex}", f"packets/king_wa/P{i}.pdf", 70 + i))
            ids.append(cur.fetchone()[0])
    conn.close()
    return ids


def test_rerunning_never_resends_and_each_property_is_told_once(database_url: str, tenant: str,
                                                               tmp_path: Path) -> None:
    from realestate_assets.db.warehouse import Warehouse

    ids = _packets(database_url, tenant, 8)
    items = [item(pid, 70 + i) for i, pid in enumerate(ids)]
    wh = Warehouse(database_url)
    params = {"tenant": tenant, "county": "king_wa"}
    outbox = OutboxMailer(tmp_path / "outbox")
    d = deliverer(database_url, tenant, outbox)
    try:
        def run(now: datetime) -> tuple[Any, list]:
            plans = plan(items, read_history(wh, params), now=now)
            newest = int(wh.frame("SELECT coalesce(max(id), 0) AS n FROM emails").iloc[0]["n"])
            counts = d.deliver(planner(items, now=now).render(plans))
            # The rows' created_at is the database's clock; planning's is `now`: make them one, as in
            # a real run (a fixed NOW a day behind the machine's date read today's digest as tomorrow's).
            with wh.transaction() as conn, conn.cursor() as cur:
                cur.execute("UPDATE emails SET created_at = %s WHERE tenant_id = %s AND id > %s", (now, tenant, newest))
            return counts, plans

        first, _ = run(NOW)
        assert first["sent"] == 1  # a first run: one digest of all eight
        assert run(NOW + timedelta(hours=1))[0]["sent"] == 0  # re-run: nothing new, nothing resent
        items.append(item(_packets(database_url, tenant, 1)[0], 99))
        later, _ = run(NOW + timedelta(hours=3))
        assert later["sent"] == 1 and later["already_sent"] == 1  # the new one: a single email
        rows = wh.frame("SELECT campaign, send_key, packet_id, packet_ids FROM emails WHERE tenant_id = :tenant "
                        "ORDER BY id", params)
        assert list(rows["campaign"]) == ["daily_digest", "new_opportunity"]
        assert sorted(rows["packet_ids"].iloc[0]) == sorted(ids) and list(rows["packet_ids"].iloc[1]) == \
            [rows["packet_id"].iloc[1]]
        # Each email's packets as rows too (migration 0051), once each whatever the re-runs.
        listed = wh.frame("SELECT e.packet_ids, array_agg(x.packet_id ORDER BY x.packet_id) AS listed "
                          "FROM emails e JOIN email_packets x ON x.email_id = e.id WHERE e.tenant_id = :tenant "
                          "GROUP BY e.id ORDER BY e.id", params)
        assert [sorted(a) for a in listed["packet_ids"]] == [list(b) for b in listed["listed"]]
        files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
        assert len(files) == 2 and all(re.fullmatch(r"\d{4}-\d\d-\d\d-[0-9a-f]{16}\.eml", f) for f in files)
    finally:
        wh.dispose()


# ------------------------------------------------------------------ the message


def test_message_has_text_and_html_list_id_reply_to_and_no_false_attachment_claim(database_url: str, tenant: str,
                                                                                 tmp_path: Path) -> None:
    ids = _packets(database_url, tenant, 1)
    no_pdf = [CampaignConfig(key="new_opportunity", type="new_opportunity", subjects=["Parcel {parcel_id}"],
                             intro="Parcel {parcel_id} scored {score}.", attach_pdf=False)]
    items = [item(ids[0], 90)]
    links = planner(items, link_for=lambda i, c: ("https://api.example.com/p/tok", NOW + timedelta(days=14)))
    (email,) = links.render(plan(items, [earlier()], campaigns=no_pdf))
    assert "attached" not in email.content.html.lower() and "attached" not in email.content.text.lower()
    assert "https://api.example.com/p/tok" in email.content.html and "2026-12-17" in email.content.text
    with_pdf = planner(items).render(plan(items, [earlier()]))[0]
    assert "(PDF) is attached" in with_pdf.content.html and with_pdf.content.attachments
    delivery = deliverer(database_url, tenant, OutboxMailer(tmp_path)).deliver([email])
    assert delivery["sent"] == 1
    (path,) = tmp_path.glob("*.eml")
    assert "@" not in path.name
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert {p.get_content_type() for p in parsed.iter_parts()} == {"text/plain", "text/html"}
    assert parsed["Reply-To"] == SENDER.email  # no reply_to configured: the sender
    assert parsed["List-Id"] == '"Real Estate OS new opportunity" <new-opportunity.example.com>'


def test_every_template_claims_an_attachment_only_when_one_is_attached() -> None:
    for path in (repo_root() / "realestate_assets" / "docs" / "templates").glob("*email*.j2"):
        for line in path.read_text().splitlines():
            assert "attached" not in line.lower() or "{% if attached %}" in line, (path.name, line)
    campaigns = (repo_root() / "config" / "campaigns.yaml").read_text()
    assert not re.search(r"intro:.*attached", campaigns)


# ------------------------------------------------------------------ links that keep working


def test_memo_link_token_round_trip_and_forgery() -> None:
    token = packet_link_token("link-secret", "default", "packets/king_wa/P1/memo.pdf", 1_900_000_000)
    link = read_packet_link_token("link-secret", token)
    assert (link.tenant_id, link.key, link.expires) == ("default", "packets/king_wa/P1/memo.pdf", 1_900_000_000)
    assert read_packet_link_token("other-secret", token) is None
    signature = token.split(".")[1]
    forged = packet_link_token("x", "default", "packets/king_wa/P2/memo.pdf", 1_900_000_000).split(".")[0]
    assert read_packet_link_token("link-secret", f"{forged}.{signature}") is None
    assert read_packet_link_token("link-secret", "garbage") is None
    assert packet_link_url("https://api.example.com/", token) == f"https://api.example.com/p/{token}"


def test_the_api_redirects_a_memo_link_to_a_fresh_short_lived_object_url(tmp_path: Path) -> None:
    from realestate_assets.api.app import ApiSettings, create_app

    store = LocalObjectStore(tmp_path, secret="link-secret")
    store.put("packets/king_wa/P1/memo.pdf", b"%PDF-1.7 memo", "application/pdf")
    client = TestClient(create_app(ApiSettings(database_url="postgresql://unused/x", link_secret="link-secret",
                                               unsubscribe_secret="u", objects_dir=str(tmp_path))))
    week = int(time.time()) + 7 * 86400
    token = packet_link_token("link-secret", "default", "packets/king_wa/P1/memo.pdf", week)
    response = client.get(f"/p/{token}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["cache-control"] == "no-store"
    target = response.headers["location"]
    expires = int(re.search(r"expires=(\d+)", target).group(1))
    assert time.time() < expires <= time.time() + 10 * 60 + 5  # minutes, not the link's week
    assert client.get(target.replace("http://testserver", "")).content == b"%PDF-1.7 memo"
    expired = packet_link_token("link-secret", "default", "packets/king_wa/P1/memo.pdf", int(time.time()) - 1)
    assert client.get(f"/p/{expired}", follow_redirects=False).status_code == 410
    forged = packet_link_token("guess", "default", "packets/king_wa/P1/memo.pdf", week)
    assert client.get(f"/p/{forged}", follow_redirects=False).status_code == 404
    gone = packet_link_token("link-secret", "default", "packets/king_wa/P9/memo.pdf", week)
    assert client.get(f"/p/{gone}", follow_redirects=False).status_code == 404


def test_mail_leaving_the_machine_needs_a_public_base_url_and_the_link_secret() -> None:
    assert link_problems(provider="outbox", public_base_url="http://127.0.0.1:8000", link_secret_given=False) == []
    problems = link_problems(provider="sendgrid", public_base_url="", link_secret_given=False)
    assert any("REOS_PUBLIC_BASE_URL is not set" in p for p in problems)
    assert any("REOS_LINK_SECRET" in p for p in problems)
    assert link_problems(provider="sendgrid", public_base_url="http://127.0.0.1:8000", link_secret_given=True)
    assert link_problems(provider="sendgrid", public_base_url="https://api.example.com", link_secret_given=True) == []


# ------------------------------------------------------------------ opt-outs per campaign


def test_bounces_spam_reports_and_unsubscribes_show_per_campaign(database_url: str, tenant: str,
                                                               tmp_path: Path) -> None:
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.outreach.events import campaign_rates, record_events
    from tests.outreach.helpers_outreach import email_rows, recipient
    from tests.outreach.helpers_outreach import plan as planned

    people = [recipient(f"r{i}@example.com") for i in range(3)]
    deliverer(database_url, tenant, OutboxMailer(tmp_path)).deliver(planned("daily:1", people))
    ids = [r["id"] for r in email_rows(database_url, tenant)]
    events = [{"sg_event_id": f"{tenant}-{k}", "event": k, "reos_email_id": str(i), "timestamp": time.time(),
               "email": f"r{n}@example.com"} for n, (k, i) in enumerate(zip(
                   ["bounce", "spamreport", "unsubscribe"], ids, strict=True))]
    wh = Warehouse(database_url)
    try:
        with wh.transaction() as conn:
            record_events(conn, events)
            rates = campaign_rates(conn, tenant, "king_wa")
    finally:
        wh.dispose()
    digest = rates["daily_digest"]
    assert (digest["bounced"], digest["spam_reports"], digest["unsubscribed"]) == (1, 1, 2)  # spam also opts out
    assert digest["spam_reports_rate"] == pytest.approx(1 / 3, abs=1e-3)


# ------------------------------------------------------------------ reos campaigns plan


def test_reos_campaigns_plan_prints_per_recipient_what_and_why_without_sending(database_url: str, tenant: str,
                                                                              tmp_path: Path) -> None:
    """The CLI reads the same rows and calls the same planning function as the emails asset; the
    warehouse here holds no packets for the tenant, so every recipient's reason is printed."""
    import shutil

    from tests.test_cli import reos

    config = tmp_path / "config"
    shutil.copytree(repo_root() / "config", config)
    env = {"DATABASE_URL": database_url, "REOS_TENANT": tenant, "REOS_STATE_DIR": str(tmp_path / "state"),
           "REOS_CONFIG_DIR": str(config)}
    done = reos("campaigns", "plan", "--county", "king_wa", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "avery@example.com" in done.stdout and "acquisitions@example.org" in done.stdout
    assert "nothing is sent" in done.stdout and "at most 3 single emails" in done.stdout
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM emails WHERE tenant_id = %s", (tenant,))
        assert cur.fetchone()[0] == 0
        cur.execute("INSERT INTO suppressions (tenant_id, email, reason, source) VALUES (%s, %s, 'unsubscribe', "
                    "'test')", (tenant, "avery@example.com"))
    conn.close()
    again = reos("campaigns", "plan", "--county", "king_wa", env=env)
    assert "(suppressed)" in again.stdout and "nothing is sent" in again.stdout
    missing = reos("campaigns", "plan", "--county", "nowhere", env=env)
    assert missing.returncode == 2 and "no county file" in missing.stdout


def test_the_emails_step_refuses_sendgrid_without_a_public_base_url(make_deployment: Any, tenant: str,
                                                                   tmp_path: Path) -> None:
    """A clear error at the start of the step, before anything is planned or sent."""
    import dagster as dg

    from realestate_assets.county_runs import materialize_county
    from realestate_assets.definitions import Deployment, build_definitions
    from resources.mailer import MailerResource
    from resources.object_store import ObjectStoreResource
    from tests.samples import write_sample_config

    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=20)
    resources = {**make_deployment(config).resources,
                 "object_store": ObjectStoreResource(backend="local", local_dir=str(tmp_path / "objects"),
                                                     public_base_url="", link_secret_file=str(tmp_path / "l")),
                 "mailer": MailerResource(backend="sendgrid", api_key="SG.x", api_host="http://127.0.0.1:9",
                                          unsubscribe_secret="u" * 32)}
    deployment = make_deployment(config)
    deployment = Deployment(deployment.environment, resources, deployment.executor)
    job = build_definitions(deployment=deployment).resolve_implicit_global_asset_job_def()
    result = materialize_county(job, "king_wa", [tenant], instance=dg.DagsterInstance.ephemeral(),
                                asset_selection=[dg.AssetKey("emails")], raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "REOS_PUBLIC_BASE_URL is not set" in message and "REOS_LINK_SECRET is not set" in message
