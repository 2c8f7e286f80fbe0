"""A tenant's recipients, segments and campaigns in its tables: the seed, the loader, segments in planning."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2

from realestate_assets.config_models import (
    CampaignConfig,
    Recipient,
    SegmentCriteria,
    load_campaigns,
    load_outreach,
)
from realestate_assets.outreach.campaigns import plan_county
from realestate_assets.outreach.tenant_data import load_tenant_outreach, seed_from_config
from realestate_assets.settings import repo_root
from tests.databases import create_tenant, psycopg2_dsn

CONFIG = repo_root() / "config"


def test_seed_is_the_yaml_once_and_the_loader_reads_it_back(database_url: str) -> None:
    tenant = create_tenant(database_url)  # seeded from config/*.yaml
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    try:
        loaded = load_tenant_outreach(conn, tenant)
        yaml_outreach, yaml_campaigns = load_outreach(CONFIG), load_campaigns(CONFIG)
        assert loaded.recipients == yaml_outreach.recipients
        assert [c.key for c in loaded.campaigns] == [c.key for c in yaml_campaigns.enabled()]
        assert loaded.campaigns == yaml_campaigns.enabled()
        with conn, conn.cursor() as cur:
            # Again: nothing written. After an edit the tables are the truth, not the YAML.
            assert seed_from_config(cur, tenant, yaml_outreach, yaml_campaigns) == {"recipients": 0, "campaigns": 0}
            cur.execute("DELETE FROM recipients WHERE tenant_id = %s AND email = 'avery@example.com'", (tenant,))
            cur.execute("UPDATE campaigns SET status = 'paused' WHERE tenant_id = %s AND key = 'weekly_summary'",
                        (tenant,))
            assert seed_from_config(cur, tenant, yaml_outreach, yaml_campaigns) == {"recipients": 0, "campaigns": 0}
        loaded = load_tenant_outreach(conn, tenant)
        assert [r.address for r in loaded.recipients] == ["acquisitions@example.org"]
        assert "weekly_summary" not in [c.key for c in loaded.campaigns]
        # Another tenant's rows are not this one's.
        other = create_tenant(database_url)
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM recipients WHERE tenant_id = %s", (other,))
        assert load_tenant_outreach(conn, other).recipients == []
        assert len(load_tenant_outreach(conn, tenant).recipients) == 1
    finally:
        conn.close()


def test_segment_criteria() -> None:
    avery = Recipient(name="Avery", email="Avery@Example.com", counties=["king_wa"], min_score=75,
                      campaigns=["new_opportunity", "daily_digest"])
    everywhere = Recipient(name="Blake", email="b@example.org", min_score=85, property_types=["sfr"])
    assert SegmentCriteria().matches(avery) and SegmentCriteria().matches(everywhere)
    king = SegmentCriteria(counties=["king_wa"])
    assert king.matches(avery) and king.matches(everywhere)  # no counties: wants every county
    assert not SegmentCriteria(counties=["cook_il"]).matches(avery)
    assert SegmentCriteria(campaign_types=["daily_digest"]).matches(avery)
    assert not SegmentCriteria(campaign_types=["weekly_summary"]).matches(avery)
    assert SegmentCriteria(max_min_score=80).matches(avery)
    assert not SegmentCriteria(max_min_score=80).matches(everywhere)
    assert SegmentCriteria(email_domains=["example.com"]).matches(avery)
    assert not SegmentCriteria(email_domains=["example.com"]).matches(everywhere)
    assert not SegmentCriteria(property_types=["condo"]).matches(everywhere)


def test_planning_sends_a_campaign_only_to_its_segment() -> None:
    avery = Recipient(name="Avery", email="avery@example.com", campaigns=["weekly_summary"], min_score=50)
    blake = Recipient(name="Blake", email="blake@example.org", campaigns=["weekly_summary"], min_score=50)
    only_com = CampaignConfig(key="weekly_com", type="weekly_summary", subjects=["Top {count}"],
                              segment=SegmentCriteria(email_domains=["example.com"]))
    items = [{"packet_id": 1, "prospect_key": "p1", "bird_dog_score": 90.0, "use_type": "sfr",
              "estimated_value": 500000.0}]
    plans = plan_county(county_key="king_wa", campaigns=[only_com], recipients=[avery, blake], items=items,
                        history=[], now=datetime(2026, 12, 3, tzinfo=UTC), max_single_per_day=3)
    sent = {p.recipient.address: [d.campaign.key for d in p.emails] for p in plans}
    assert sent == {"avery@example.com": ["weekly_com"], "blake@example.org": []}
