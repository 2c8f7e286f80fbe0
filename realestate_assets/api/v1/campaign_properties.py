"""The properties a campaign lists (issue #12, the Properties screen's "Add to campaign").

A campaign targets recipients (its segment, or everyone); what it sends them is, by default, every
property each recipient wants. Adding properties narrows that: a campaign with rows in
`campaign_properties` (migration 0031) lists only those (`CampaignConfig.lists`, read by the
emails step through `tenant_data.read_campaigns`), each still only to the recipients who want it.

Properties are resolved through row-level security: only a county the tenant follows can be added.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_rows

router = APIRouter(tags=["campaigns"])
ERRORS = (401, 403, 422)
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_PER_REQUEST = 500


class AddProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"property_ids": [101, 102]}]})
    property_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=MAX_PER_REQUEST)


class CampaignProperty(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "property_id": 101, "county": "king_wa", "prospect_key": "king_wa:0123456789", "address": "1 MAIN ST",
        "added_by": "analyst@example.com", "created_at": "2026-12-03T06:00:00Z"}]})
    property_id: int | None = Field(description="the property's id now (None: its county is no longer followed)")
    county: str
    prospect_key: str
    address: str | None
    added_by: str
    created_at: datetime


class AddedProperties(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"campaign_id": 3, "added": 2, "already": 0,
                                                               "property_count": 2}]})
    campaign_id: int
    added: int = Field(description="properties added now")
    already: int = Field(description="properties the campaign listed already")
    property_count: int = Field(description="properties the campaign lists now")


def _campaign_key(ctx: Context, campaign_id: int) -> str:
    ctx.cur.execute("SELECT key FROM campaigns WHERE id = %s", (campaign_id,))
    row = ctx.cur.fetchone()
    if row is None:
        raise Problem(404, f"no campaign {campaign_id} in this tenant")
    return row[0]


def _listed(ctx: Context, campaign_id: int) -> list[dict[str, Any]]:
    ctx.cur.execute("SELECT p.id AS property_id, c.county, c.prospect_key, p.address, c.added_by, c.created_at "
                    "FROM campaign_properties c LEFT JOIN prospects p ON p.county = c.county "
                    "AND p.prospect_key = c.prospect_key WHERE c.campaign_id = %s ORDER BY c.id", (campaign_id,))
    return dict_rows(ctx.cur)


@router.get("/campaigns/{campaign_id}/properties", response_model=list[CampaignProperty],
            responses=responses(*ERRORS, 404), summary="The properties a campaign lists (none: every property)")
def list_campaign_properties(campaign_id: RowId, ctx: Context = needs("read")) -> list[dict[str, Any]]:
    _campaign_key(ctx, campaign_id)
    return _listed(ctx, campaign_id)


@router.post("/campaigns/{campaign_id}/properties", response_model=AddedProperties,
             responses=responses(*ERRORS, 404), summary="Add properties to a campaign: it then lists only those")
def add_campaign_properties(campaign_id: RowId, body: AddProperties, ctx: Context = needs("write")
                            ) -> dict[str, Any]:
    key = _campaign_key(ctx, campaign_id)
    wanted = sorted(set(body.property_ids))
    ctx.cur.execute("SELECT id, county, prospect_key FROM prospects WHERE id = ANY(%s)", (wanted,))
    found = {row[0]: (row[1], row[2]) for row in ctx.cur.fetchall()}
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise Problem(422, f"no properties {unknown[:20]} in the counties this tenant follows: nothing added")
    ctx.cur.execute("INSERT INTO campaign_properties (tenant_id, campaign_id, county, prospect_key, added_by) "
                    "SELECT %s, %s, county, prospect_key, %s FROM unnest(%s::text[], %s::text[]) AS t(county, "
                    "prospect_key) ON CONFLICT (campaign_id, county, prospect_key) DO NOTHING RETURNING prospect_key",
                    (ctx.tenant_id, campaign_id, ctx.principal.actor, [found[i][0] for i in wanted],
                     [found[i][1] for i in wanted]))
    added = len(ctx.cur.fetchall())
    ctx.cur.execute("SELECT count(*) FROM campaign_properties WHERE campaign_id = %s", (campaign_id,))
    total = int(ctx.cur.fetchone()[0])
    if added:
        ctx.audit("add_properties", "campaigns", campaign_id,
                  after={"campaign": key, "properties": [f"{found[i][0]}:{found[i][1]}" for i in wanted]})
    return {"campaign_id": campaign_id, "added": added, "already": len(wanted) - added, "property_count": total}


@router.delete("/campaigns/{campaign_id}/properties/{property_id}", status_code=204,
               responses=responses(*ERRORS, 404), summary="Take a property off a campaign's list")
def remove_campaign_property(campaign_id: RowId, property_id: RowId, ctx: Context = needs("write")) -> Response:
    _campaign_key(ctx, campaign_id)
    ctx.cur.execute("DELETE FROM campaign_properties c USING prospects p WHERE c.campaign_id = %s AND p.id = %s "
                    "AND p.county = c.county AND p.prospect_key = c.prospect_key RETURNING c.county, c.prospect_key",
                    (campaign_id, property_id))
    gone = ctx.cur.fetchone()
    if gone is None:
        raise Problem(404, f"campaign {campaign_id} does not list property {property_id}")
    ctx.audit("remove_property", "campaigns", campaign_id, before={"property": f"{gone[0]}:{gone[1]}"})
    return Response(status_code=204)
