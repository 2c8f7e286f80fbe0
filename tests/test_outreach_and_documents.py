"""The email around a memo, the unsubscribe token, campaign planning, and the local store/outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from realestate_assets.config_models import AlertCriteria, CampaignConfig, Recipient, SavedAlert, Sender, load_county
from realestate_assets.outreach.campaigns import CampaignPlanner, EarlierEmail, planned_prospects
from realestate_assets.outreach.messages import (
    Attachment,
    Content,
    OutgoingEmail,
    personalize,
    unsubscribe_token,
    unsubscribe_url,
    verify_unsubscribe_token,
)
from realestate_assets.settings import repo_root
from resources.mailer import OutboxMailer
from resources.object_store import LocalObjectStore

SENDER = Sender(name="Deals", email="deals@example.com",
                postal_address="1301 Second Avenue, Seattle, WA 98101",
                unsubscribe_base_url="https://deals.example.com/unsubscribe")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def test_unsubscribe_token_round_trip_and_forgery() -> None:
    token = unsubscribe_token("s3cret", "default", "Avery@Example.com")
    assert verify_unsubscribe_token("s3cret", token) == ("default", "avery@example.com")
    assert verify_unsubscribe_token("other", token) is None
    assert verify_unsubscribe_token("s3cret", token[:-2] + "xx") is None
    assert verify_unsubscribe_token("s3cret", "garbage") is None


def test_email_is_compliant_personalized_and_survives_the_outbox(tmp_path: Path) -> None:
    url = unsubscribe_url(SENDER.unsubscribe_base_url, unsubscribe_token("s", "default", "avery@example.com"))
    content = Content(group_key="g", html="<p>Hello [%first_name%]</p><a href='[%unsubscribe_url%]'>u</a>",
                      text=f"Hello [%first_name%]\n{SENDER.postal_address}\n[%unsubscribe_url%]",
                      attachments=(Attachment("memo.pdf", "application/pdf", b"%PDF-1.7 test"),))
    message = OutgoingEmail(email_id=42, tenant_id="default", campaign="new_opportunity", to_email="avery@example.com",
                            to_name="Avery <Investor>", from_email=SENDER.email, from_name=SENDER.name,
                            subject="Lead: parcel 1", content=content, unsubscribe_url=url)
    outbox = OutboxMailer(tmp_path)
    assert outbox.already_delivered(message) is None
    delivery = outbox.send_batch([message])[42]
    assert outbox.already_delivered(message) == delivery
    parsed = message_from_bytes(Path(delivery.outbox_path).read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == "<reos-email-42@example.com>"
    assert parsed["List-Unsubscribe"].startswith(f"<{url}>")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert SENDER.postal_address in text and url in text and url in html
    assert "Hello Avery" in text and "<Investor>" not in html  # substitutions are inert in HTML
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content() == b"%PDF-1.7 test"


def test_personalization_tokens_never_crash() -> None:
    assert personalize("{first_name}, parcel {parcel_id}", {"first_name": "Avery", "parcel_id": "1"}) == \
        "Avery, parcel 1"
    assert personalize("{unknown} stays", {}) == "{unknown} stays"


def item(packet_id: int, score: float, value: float, use_type: str = "sfr", age_h: float = 1) -> dict:
    return {"packet_id": packet_id, "parcel_id": f"P{packet_id}", "address": None, "bird_dog_score": score,
            "estimated_value": value, "value_gap_pct": 30.0, "use_type": use_type, "living_sqft": 1500.0,
            "beds": 3.0, "waterfront": False, "comps_count": 6, "reasons": ["r"], "link": None, "link_expires": None,
            "object_path": f"packets/p{packet_id}.pdf", "county_name": "King County, WA",
            "created_at": NOW - timedelta(hours=age_h)}


def test_campaign_planner_applies_segments_budgets_alerts_and_weekly_summaries() -> None:
    county = load_county(repo_root() / "config" / "counties" / "king_wa.yaml")
    items = [item(1, 95, 500_000), item(2, 88, 3_000_000), item(3, 80, 400_000, "townhouse", age_h=48)]
    people = [
        Recipient(name="Avery Investor", email="avery@example.com", min_score=85, budget_max=1_000_000,
                  campaigns=["new_opportunity", "daily_digest"]),
        Recipient(name="Blake", email="blake@example.org", counties=["cook_il"], min_score=0),
        Recipient(name="Casey", email="casey@example.net", min_score=75, property_types=["townhouse"],
                  campaigns=["custom_alert", "weekly_summary"],
                  alerts=[SavedAlert(name="cheap", criteria=AlertCriteria(max_estimated_value=450_000))]),
    ]
    # Both had emails for this county before (not their first run), none today.
    history = [EarlierEmail(a, "daily_digest", "daily:king_wa:2026-11-20", (99,), NOW - timedelta(days=9), "sent")
               for a in ("avery@example.com", "casey@example.net")]
    planner = CampaignPlanner(county=county, sender=SENDER, recipients=people, items=items, now=NOW,
                              load_object=lambda key: b"%PDF " + key.encode(), portfolio={"object_path": "pf.pdf"})
    campaigns = [CampaignConfig(key="new_opportunity", type="new_opportunity",
                                subjects=["{first_name}: parcel {parcel_id} scores {score}", "B {parcel_id}"]),
                 CampaignConfig(key="custom_alert", type="custom_alert", subjects=["Alert {alert}"]),
                 CampaignConfig(key="daily_digest", type="daily_digest", subjects=["{count} new"]),
                 CampaignConfig(key="weekly_summary", type="weekly_summary", subjects=["Top {count}"])]
    planned = planner.render(planner.plan(campaigns, history))
    by = {(p.recipient.address, p.campaign): p for p in planned}
    assert sorted(by) == [("avery@example.com", "new_opportunity"), ("casey@example.net", "custom_alert"),
                          ("casey@example.net", "weekly_summary")]
    new = by["avery@example.com", "new_opportunity"]
    assert new.send_key == "packet:1" and new.packet_ids == (1,)
    assert new.subject in ("Avery: parcel P1 scores 95", "B P1") and new.variant in "AB"
    assert new.content.attachments[0].data == b"%PDF packets/p1.pdf"
    assert "[%unsubscribe_url%]" in new.content.html and SENDER.postal_address in new.content.html
    alert = by["casey@example.net", "custom_alert"]
    assert (alert.send_key, alert.subject) == ("cheap:packet:3", "Alert cheap")
    weekly = by["casey@example.net", "weekly_summary"]
    assert weekly.send_key == "weekly:king_wa:2026-W48" and weekly.subject == "Top 1" and weekly.packet_ids == (3,)
    assert weekly.content.attachments[0].filename == "portfolio-king_wa.pdf"


def test_only_properties_todays_plan_sends_get_packets() -> None:
    """The packets asset renders the properties today's plan sends (`planned_prospects`): only those
    a recipient's segment takes in an enabled campaign, so every planned email has its packet."""
    county = load_county(repo_root() / "config" / "counties" / "king_wa.yaml")
    items = [{**item(1, 95, 500_000), "prospect_key": "k1"}, {**item(2, 88, 3_000_000), "prospect_key": "k2"},
             {**item(3, 80, 400_000, "townhouse"), "prospect_key": "k3"},
             {**item(4, 78, 600_000, "condo"), "prospect_key": "k4"},
             {**item(5, 70, 300_000, "townhouse"), "prospect_key": "k5"}]
    people = [
        Recipient(name="Avery", email="avery@example.com", min_score=85, budget_max=1_000_000,
                  campaigns=["new_opportunity"]),
        Recipient(name="Blake", email="blake@example.org", counties=["cook_il"], min_score=0),
        Recipient(name="Casey", email="casey@example.net", min_score=75, property_types=["townhouse"],
                  campaigns=["weekly_summary"]),
    ]
    everything = [CampaignConfig(key=t, type=t, subjects=["s"])
                  for t in ("new_opportunity", "daily_digest", "weekly_summary", "custom_alert")]
    planner = CampaignPlanner(county=county, sender=SENDER, recipients=people, items=items, now=NOW,
                              load_object=lambda key: b"%PDF", portfolio=None)
    plans = planner.plan(everything)
    # 1: Avery; 3: Casey's townhouse; 2 over Avery's budget, 4 a condo, 5 under every min_score;
    # Blake takes every score but in another county.
    assert planned_prospects(plans) == {"k1", "k3"}
    # A recipient's campaign that is disabled sends nothing, so renders nothing.
    assert planned_prospects(planner.plan(everything[:1])) == {"k1"}
    planned = planner.render(plans)
    assert planned and {p.packet_id for p in planned if p.packet_id is not None} <= {1, 3}
    for unread in (2, 4, 5):  # nor is an unread property listed in a digest or summary
        assert not any(f"Parcel P{unread}<" in p.content.html or f">P{unread}<" in p.content.html for p in planned)


def test_recipient_addresses_are_validated_and_duplicates_detected() -> None:
    from pydantic import ValidationError

    from realestate_assets.config_models import OutreachConfig

    with pytest.raises(ValidationError, match="valid email"):
        Recipient(name="X", email="x..y@example.com")  # passes the pattern, fails RFC 5322
    with pytest.raises(ValidationError, match="duplicate recipient"):
        OutreachConfig(sender=SENDER, recipients=[Recipient(name="A", email="a@example.com"),
                                                  Recipient(name="B", email="A@Example.com")])


def test_local_object_store_is_atomic_checksummed_and_confined(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, secret="k")
    stored = store.put("packets/a/b.pdf", b"data", "application/pdf")
    assert store.exists("packets/a/b.pdf") and store.get("packets/a/b.pdf") == b"data"
    assert stored.size_bytes == 4 and len(stored.sha256) == 64
    assert not list(tmp_path.rglob("*.partial"))
    with pytest.raises(ValueError, match="escapes"):
        store.put("../outside.pdf", b"x", "application/pdf")
