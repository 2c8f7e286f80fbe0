"""POST /campaigns/preview renders the send's own email for a sample; "Add to campaign" narrows what a
campaign lists, and the emails step's planner honours it. Real PostgreSQL, the world of
tests/api/conftest.py (tenant a follows county ca)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Any

import pytest

from realestate_assets.config_models import CampaignConfig, Recipient
from realestate_assets.outreach.campaigns import EarlierEmail, plan_county
from realestate_assets.outreach.tenant_data import read_campaigns
from realestate_assets.settings import repo_root
from tests.api.helpers_api import api_client, bearer, login, owner_cursor

API = "/api/v1"


@pytest.fixture(scope="module")
def api(database_url: str, world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    """The API with a config directory that knows the world's county (King County's file, renamed)."""
    config = tmp_path_factory.mktemp("config") / "config"
    shutil.copytree(repo_root() / "config", config)
    text = (config / "counties" / "king_wa.yaml").read_text()
    (config / "counties" / f"{world['ca']}.yaml").write_text(text.replace("key: king_wa", f"key: {world['ca']}"))
    with api_client(database_url, tmp_path_factory.mktemp("state"), config_dir=str(config)) as client:
        yield client


def test_preview_renders_every_subject_variant_with_the_send_template(api, world: dict[str, Any]) -> None:
    viewer = bearer(login(api, world["a"].users["viewer"]["email"])["access_token"])
    analyst = bearer(login(api, world["a"].users["analyst"]["email"])["access_token"])
    api.post(f"{API}/recipients", headers=analyst, json={"name": "Avery Previewed", "email": "avery.p@example.com"})
    body = {"type": "new_opportunity", "subjects": ["{first_name}, parcel {parcel_id} scores {score}",
                                                    "New deal in {county}"],
            "intro": "Hello from {county}."}
    answer = api.post(f"{API}/campaigns/preview", headers=viewer, json=body)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    best = world["ids"][world["ca"]]
    assert out["county"] == world["ca"] and out["property_id"] in best and out["items"] == 1
    # The seed recipient comes first in the tenant; its name personalizes the subject and the body.
    first = out["recipient_name"].split()[0]
    assert [s["variant"] for s in out["subjects"]] == ["A", "B"]
    assert out["subjects"][0]["subject"].startswith(f"{first}, parcel ")
    assert out["subjects"][1]["subject"] == "New deal in King County"
    assert "<html" in out["html"].lower() and "Hello from King County." in out["html"]
    assert "#unsubscribe-preview" in out["html"] and "[%" not in out["html"]  # placeholders filled as sent
    assert out["attachment"] and out["attachment"].endswith(".pdf")
    # A chosen property and recipient; a digest lists several.
    rid = api.get(f"{API}/recipients", headers=viewer, params={"q": "avery.p"}).json()["items"][0]["id"]
    digest = api.post(f"{API}/campaigns/preview", headers=viewer,
                      json={"type": "daily_digest", "subjects": ["{count} leads"], "max_items": 3,
                            "property_id": best[1], "recipient_id": rid}).json()
    assert digest["property_id"] == best[1] and digest["items"] == 3 and digest["recipient_name"] == "Avery Previewed"
    assert digest["subjects"] == [{"variant": "A", "subject": "3 leads"}] and digest["attachment"] is None
    # Another tenant's property, an unknown token: refused, not rendered.
    other = world["ids"][world["cb"]][0]
    assert api.post(f"{API}/campaigns/preview", headers=viewer,
                    json={**body, "property_id": other}).status_code == 422
    assert api.post(f"{API}/campaigns/preview", headers=viewer,
                    json={**body, "subjects": ["{nope}"]}).status_code == 422


def test_add_to_campaign_narrows_what_the_campaign_lists(api, database_url: str, world: dict[str, Any]) -> None:
    a = world["a"]
    analyst = bearer(login(api, a.users["analyst"]["email"])["access_token"])
    viewer = bearer(login(api, a.users["viewer"]["email"])["access_token"])
    created = api.post(f"{API}/campaigns", headers=analyst,
                       json={"key": "picked", "type": "new_opportunity", "subjects": ["x"], "status": "active"})
    cid = created.json()["id"]
    ids = world["ids"][world["ca"]]
    assert api.get(f"{API}/campaigns/{cid}/properties", headers=viewer).json() == []
    url = f"{API}/campaigns/{cid}/properties"
    assert api.post(url, headers=viewer, json={"property_ids": ids[:2]}).status_code == 403
    added = api.post(url, headers=analyst, json={"property_ids": [ids[0], ids[1], ids[0]]})
    assert added.status_code == 200 and added.json() == {"campaign_id": cid, "added": 2, "already": 0,
                                                          "property_count": 2}
    again = api.post(url, headers=analyst, json={"property_ids": [ids[1], ids[2]]}).json()
    assert (again["added"], again["already"], again["property_count"]) == (1, 1, 3)
    # Another tenant's county: refused, nothing added; another tenant's campaign: not found.
    assert api.post(url, headers=analyst, json={"property_ids": [world["ids"][world["cb"]][0]]}).status_code == 422
    b = bearer(login(api, world["b"].users["analyst"]["email"])["access_token"])
    assert api.post(url, headers=b, json={"property_ids": [world["ids"][world["cb"]][0]]}).status_code == 404
    listed = api.get(url, headers=viewer).json()
    assert [p["property_id"] for p in listed] == ids[:3] and listed[0]["added_by"] == a.users["analyst"]["email"]
    assert api.delete(f"{url}/{ids[2]}", headers=analyst).status_code == 204
    assert api.delete(f"{url}/{ids[2]}", headers=analyst).status_code == 404

    # The pipeline reads the list with the campaign, and the planner sends those properties only.
    with owner_cursor(database_url) as cur:
        campaign = next(c for c in read_campaigns(cur, a.id) if c.key == "picked")
        cur.execute("SELECT prospect_key FROM prospects WHERE id = ANY(%s) ORDER BY id", (ids[:2],))
        picked = [r[0] for r in cur.fetchall()]
    assert campaign.properties == {f"{world['ca']}:{k}" for k in picked}
    items = [{"packet_id": i, "prospect_key": f"{world['ca']}-{i:04d}", "bird_dog_score": 95.0 - i,
              "use_type": "single_family", "estimated_value": 500000.0} for i in range(1, 6)]
    someone = Recipient(name="Pat", email="pat@example.com")
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    # A recipient's first run gets one digest: a history of an earlier email lets singles go out.
    history = [EarlierEmail(recipient=someone.address, campaign="picked", send_key="packet:99", packet_ids=(99,),
                            created_at=datetime(2026, 12, 1, tzinfo=UTC), status="sent")]
    plans = plan_county(county_key=world["ca"], campaigns=[campaign], recipients=[someone], items=items,
                        history=history, now=now, max_single_per_day=10)
    listed_keys = {i["prospect_key"] for d in plans[0].emails if d.campaign.key == "picked" for i in d.items}
    assert listed_keys == set(picked)
    unrestricted = CampaignConfig(key="all", type="new_opportunity", subjects=["x"])
    plans = plan_county(county_key=world["ca"], campaigns=[unrestricted], recipients=[someone], items=items,
                        history=[], now=now, max_single_per_day=10)
    assert plans[0].emails  # without a list, every property the recipient wants (here, in a first digest)


def test_preview_path_is_documented_with_a_read_permission(api) -> None:
    spec = api.get("/openapi.json").json()
    assert spec["paths"]["/api/v1/campaigns/preview"]["post"]["x-permission"] == "read"
