"""Visual regression of every email template (issue #13: every template has one): the HTML the
planner renders for the repository's own campaigns and recipients, laid out by WeasyPrint, page 1
at 40 dpi against tests/fixtures/visual/email_<campaign>.png, plus a text check of what it states
(the count in the subject is the count listed). `UPDATE_SNAPSHOTS=1` rewrites the references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from weasyprint import HTML

from realestate_assets.config_models import load_campaigns, load_county, load_outreach
from realestate_assets.outreach.campaigns import CampaignPlanner, EarlierEmail
from realestate_assets.settings import repo_root
from tests.outreach.visual import TOLERANCE, have_poppler, matches_reference, pdf_text

pytestmark = pytest.mark.skipif(not have_poppler(), reason="pdftoppm/pdftotext (poppler-utils) not installed")

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def item(n: int, score: float, gap: float) -> dict[str, Any]:
    return {"packet_id": n, "prospect_key": f"kc-{n:010d}", "parcel_id": f"{n:010d}", "address": f"{100 + n} MAIN ST",
            "bird_dog_score": score, "estimated_value": 500_000.0 + 1_000 * n, "value_gap_pct": gap,
            "use_type": "sfr", "living_sqft": 1500.0, "beds": 3.0, "waterfront": False, "comps_count": 6,
            "reasons": ["last sale, moved to today's market, is 22% below the estimate"],
            "object_path": f"tenants/default/packets/king_wa/{n:010d}/investor_memo.pdf",
            "county_name": "King County, WA", "created_at": NOW - timedelta(hours=1)}


@pytest.fixture(scope="module")
def emails() -> dict[str, Any]:
    """One email of each campaign, from config/: Avery's digest, Blake's single, alert and weekly."""
    config = repo_root() / "config"
    outreach, campaigns = load_outreach(config), load_campaigns(config)
    items = [item(n, 99 - n, 25.0 if n % 2 else 12.0) for n in range(1, 9)]
    earlier = [EarlierEmail(recipient=r.address, campaign="daily_digest", send_key="daily:king_wa:old",
                            packet_ids=(999,), created_at=NOW - timedelta(days=9), status="sent")
               for r in outreach.recipients]
    planner = CampaignPlanner(county=load_county(config / "counties" / "king_wa.yaml"), sender=outreach.sender,
                              recipients=outreach.recipients, items=items, now=NOW,
                              load_object=lambda key: b"%PDF-1.7 " + key.encode(),
                              link_for=lambda i, c: (f"https://api.example.com/p/token-{i['packet_id']}", NOW))
    rendered = planner.render(planner.plan(campaigns.enabled(), earlier, max_single_per_day=1))
    return {e.campaign: e for e in rendered}


@pytest.mark.parametrize("campaign", ["new_opportunity", "daily_digest", "weekly_summary", "custom_alert"])
def test_every_email_template_matches_its_reference(campaign: str, emails: dict[str, Any]) -> None:
    email = emails[campaign]
    pdf = HTML(string=email.content.html).write_pdf()
    text = pdf_text(pdf)
    assert "1301 Second Avenue" in text and "nsubscribe" in text  # the CAN-SPAM footer
    listed = [pid for pid in email.packet_ids if f"{pid:010d}" in text]
    assert len(listed) == len(email.packet_ids) >= 1, (campaign, email.packet_ids)
    if campaign in ("daily_digest", "weekly_summary"):
        assert str(len(email.packet_ids)) in email.subject  # the count said is the count listed
    assert matches_reference(pdf, f"email_{campaign}") <= TOLERANCE, campaign
