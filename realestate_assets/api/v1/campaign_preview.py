"""Campaign template preview (issue #12): the email a campaign would send, rendered by the send's
own code for a sample recipient and property, before anything is saved or sent.

`POST /campaigns/preview` takes a campaign's content fields (saved or still being edited) and
renders it through `CampaignPlanner.render_one` and `OutgoingEmail.html()` — the same template,
personalization and footer as the `emails` step — once per subject variant. The sample property is
the one asked for, or the tenant's best-scored property in a followed county; the sample
recipient is the one asked for, or the tenant's first, or a stand-in named "Sample Recipient".
Nothing is written; the PDF attachment is named, not rendered; memo links are left out (they are
signed per send).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realestate_assets.api.v1.campaign_schemas import CampaignType
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.config_models import CampaignConfig, ConfigError, Recipient, load_outreach
from realestate_assets.db.county_overrides import effective_county
from realestate_assets.db.warehouse import dict_row, dict_rows
from realestate_assets.outreach.campaigns import CampaignPlanner, Decision
from realestate_assets.outreach.messages import OutgoingEmail
from realestate_assets.outreach.tenant_data import RECIPIENT_FIELDS, recipient_model

router = APIRouter(tags=["campaigns"])
SAMPLE = Recipient(name="Sample Recipient", email="recipient@example.com")
PREVIEW_UNSUBSCRIBE = "#unsubscribe-preview"
SINGLE = ("new_opportunity", "custom_alert")

# The columns the planner reads of an item (outreach/campaigns.EMAIL_ITEMS_SQL), for any scored
# property of a followed county (row-level security), whether or not a memo exists yet.
ITEMS_SQL = """
SELECT p.id AS property_id, p.county, s.prospect_key, -s.id AS packet_id, NULL::text AS object_path,
       s.created_at, s.bird_dog_score, s.estimated_value, s.value_gap_pct, s.score_breakdown,
       p.parcel_id, p.address, e.use_type, e.living_sqft, e.beds, e.waterfront, e.comps_count
FROM scores s
JOIN prospects p ON p.county = s.county AND p.prospect_key = s.prospect_key
JOIN enrichment e ON e.county = s.county AND e.prospect_key = s.prospect_key
WHERE {where} AND s.bird_dog_score IS NOT NULL
ORDER BY s.bird_dog_score DESC, p.id
LIMIT %s
"""


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "type": "new_opportunity", "subjects": ["{first_name}, a {score}/100 deal in {county}",
                                                "Off-market lead: parcel {parcel_id}"],
        "intro": "A property in {county} scored {score}/100.", "property_id": 101}]})
    type: CampaignType
    subjects: list[str] = Field(min_length=1, max_length=4, description="A/B(/C/D) subject variants")
    intro: str = Field("", max_length=2000)
    attach_pdf: bool = True
    max_items: int = Field(10, ge=1, le=100)
    property_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        None, description="the sample property (a digest lists it first); default: the best-scored one")
    recipient_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        None, description="the sample recipient; default: the tenant's first, or a stand-in")


class SubjectVariant(BaseModel):
    variant: str = Field(description="A, B, C or D, as recorded on each email sent")
    subject: str = Field(description="the subject line personalized for the sample")


class PreviewOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subjects": [{"variant": "A", "subject": "Avery, a 91/100 deal in King County"}],
        "html": "<!doctype html>…", "text": "Hi Avery, …", "recipient_name": "Avery Investor",
        "recipient_email": "avery@example.com", "property_id": 101, "county": "king_wa", "items": 1,
        "attachment": "memo-0123456789.pdf"}]})
    subjects: list[SubjectVariant]
    html: str = Field(description="the HTML part, as sent (show it in a sandboxed frame)")
    text: str = Field(description="the plain-text part, as sent")
    recipient_name: str
    recipient_email: str
    property_id: int
    county: str
    items: int = Field(description="properties the email lists")
    attachment: str | None = Field(description="the PDF attached when sent (not rendered here)")


def _recipient(ctx: Context, recipient_id: int | None) -> Recipient:
    columns = ", ".join(RECIPIENT_FIELDS)
    if recipient_id is None:
        ctx.cur.execute(f"SELECT {columns} FROM recipients ORDER BY id LIMIT 1")
    else:
        ctx.cur.execute(f"SELECT {columns} FROM recipients WHERE id = %s", (recipient_id,))
    row = dict_row(ctx.cur)
    if row is None and recipient_id is not None:
        raise Problem(422, f"no recipient {recipient_id} in this tenant")
    return SAMPLE if row is None else recipient_model(row)


def _items(ctx: Context, property_id: int | None, how_many: int) -> list[dict[str, Any]]:
    if property_id is not None:
        ctx.cur.execute(ITEMS_SQL.format(where="p.id = %s"), (property_id, 1))
        first = dict_rows(ctx.cur)
        if not first:
            raise Problem(422, f"no scored property {property_id} in the counties this tenant follows")
        county = first[0]["county"]
    else:
        ctx.cur.execute("SELECT county FROM subscriptions ORDER BY county")
        followed = [r[0] for r in ctx.cur.fetchall()]
        ctx.cur.execute(ITEMS_SQL.format(where="p.county = ANY(%s)"), (followed, 1))
        first = dict_rows(ctx.cur)
        if not first:
            raise Problem(422, "no scored property in the counties this tenant follows: nothing to preview")
        county = first[0]["county"]
    rest: list[dict[str, Any]] = []
    if how_many > 1:
        ctx.cur.execute(ITEMS_SQL.format(where="p.county = %s AND p.id <> %s"),
                        (county, first[0]["property_id"], how_many - 1))
        rest = dict_rows(ctx.cur)
    items = []
    for row in first + rest:
        breakdown = row.pop("score_breakdown") or {}
        items.append({**row, "reasons": breakdown.get("reasons", [])})
    return items


@router.post("/campaigns/preview", response_model=PreviewOut, responses=responses(401, 403, 422),
             summary="Render a campaign's email for a sample recipient and property (the send's own template; "
                     "saves and sends nothing)")
def preview_campaign(body: PreviewRequest, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    try:
        campaign = CampaignConfig(key="preview", type=body.type, subjects=body.subjects, intro=body.intro,
                                  attach_pdf=body.attach_pdf, max_items=body.max_items)
    except ValidationError as exc:
        raise Problem(422, "the campaign does not validate", errors=[
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
                      ) from exc
    recipient = _recipient(ctx, body.recipient_id)
    items = _items(ctx, body.property_id, 1 if body.type in SINGLE else body.max_items)
    config_dir = Path(request.app.state.reos.settings.config_dir)
    try:
        county = effective_county(ctx.cur, config_dir, items[0]["county"])  # as the pipeline renders it
        sender = load_outreach(config_dir).sender
    except ConfigError as exc:
        raise Problem(422, f"the installation's configuration cannot render this county: {exc}") from exc
    for item in items:
        item["county_name"] = f"{county.name}, {county.state}"
    now = datetime.now(UTC)
    planner = CampaignPlanner(county=county, sender=sender, recipients=[recipient], items=items, now=now,
                              load_object=lambda key: b"")
    send_key = f"packet:{items[0]['packet_id']}" if body.type in SINGLE else f"preview:{now.date().isoformat()}"
    subjects, planned = [], None
    for index, subject in enumerate(body.subjects):
        variant_campaign = campaign.model_copy(update={"subjects": [subject], "attach_pdf": False})
        email = planner.render_one(Decision(recipient, variant_campaign, send_key, tuple(items), why="preview"))
        subjects.append({"variant": "ABCD"[index], "subject": email.subject})
        planned = planned or email
    assert planned is not None
    outgoing = OutgoingEmail(email_id=0, tenant_id=ctx.tenant_id, campaign="preview", to_email=recipient.address,
                             to_name=recipient.name, from_email=sender.email, from_name=sender.name,
                             subject=planned.subject, content=planned.content, unsubscribe_url=PREVIEW_UNSUBSCRIBE)
    attachment = None
    if body.attach_pdf and body.type in SINGLE:
        attachment = f"memo-{items[0].get('parcel_id') or items[0]['packet_id']}.pdf"
    elif body.attach_pdf and body.type == "weekly_summary":
        attachment = f"portfolio-{county.key}.pdf"
    return {"subjects": subjects, "html": outgoing.html(), "text": outgoing.text(), "recipient_name": recipient.name,
            "recipient_email": recipient.address, "property_id": items[0]["property_id"], "county": county.key,
            "items": len(items), "attachment": attachment}
