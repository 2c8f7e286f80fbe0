"""What a tenant did with a property: the emails that carried it, and its "reviewed" mark.

Both are tenant data under row-level security (emails and email_events: migration 0007;
property_reviews: 0021), so the queries below never name the tenant: another tenant's emails
and marks are not visible to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.property_market import PropertyId, subject
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_rows

router = APIRouter(tags=["properties"])
ERRORS = (401, 403, 422)
MAX_EMAILS = 100
MAX_BULK = 500

# An email mentions a property when one of the packets it lists is the property's: found from the
# property's packets through email_packets (emails.packet_ids as rows, migration 0051), index lookups
# the API role may use under row-level security, not a scan of every email of the tenant.
EMAILS_SQL = """
SELECT m.id, m.campaign, m.recipient_email, m.subject, m.status, m.template, m.variant, m.sent_at,
       m.delivered_at, m.opened_at, m.clicked_at, m.bounced_at, m.unsubscribed_at, m.created_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('event', v.event, 'occurred_at', v.occurred_at)
                                  ORDER BY v.occurred_at, v.id)
                 FROM email_events v WHERE v.email_id = m.id), '[]') AS events
FROM emails m
WHERE m.id IN (SELECT x.email_id FROM packets k JOIN email_packets x ON x.packet_id = k.id
               WHERE k.county = %s AND k.prospect_key = %s)
ORDER BY coalesce(m.sent_at, m.created_at) DESC, m.id DESC
LIMIT %s
"""


class EmailEvent(BaseModel):
    event: str = Field(description="Provider event: processed, delivered, open, click, bounce, unsubscribe…")
    occurred_at: datetime


class PropertyEmail(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 311, "campaign": "new_opportunity", "recipient_email": "investor@example.com",
        "subject": "New deal: 123 N MAIN ST (score 87)", "status": "sent", "template": "single_property",
        "variant": "a", "sent_at": "2026-12-02T15:00:04Z", "delivered_at": "2026-12-02T15:00:06Z",
        "opened_at": "2026-12-02T16:12:40Z", "clicked_at": None, "bounced_at": None, "unsubscribed_at": None,
        "created_at": "2026-12-02T14:59:58Z",
        "events": [{"event": "delivered", "occurred_at": "2026-12-02T15:00:06Z"},
                   {"event": "open", "occurred_at": "2026-12-02T16:12:40Z"}]}]})
    id: int
    campaign: str
    recipient_email: str
    subject: str
    status: str = Field(description="pending | sending | sent | failed | bounced | suppressed")
    template: str | None
    variant: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    bounced_at: datetime | None
    unsubscribed_at: datetime | None
    created_at: datetime
    events: list[EmailEvent] = Field(description="The provider's events for this email, oldest first")


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"property_ids": [1842, 1843, 2210], "reviewed": True}]})
    property_ids: list[int] = Field(min_length=1, max_length=MAX_BULK, description=f"At most {MAX_BULK} ids")
    reviewed: bool = Field(True, description="true marks them reviewed, false clears the mark")


class ReviewResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"property_ids": [1842, 1843, 2210], "reviewed": True, "changed": 2}]})
    property_ids: list[int]
    reviewed: bool
    changed: int = Field(description="Properties whose mark changed (already reviewed ones are left as they were)")


@router.get("/properties/{property_id}/emails", response_model=list[PropertyEmail],
            responses=responses(*ERRORS, 404),
            summary=f"This tenant's emails that carried the property, newest first (at most {MAX_EMAILS})")
def property_emails(property_id: PropertyId, ctx: Context = needs("read")) -> list[dict[str, Any]]:
    found = subject(ctx, property_id)
    ctx.cur.execute(EMAILS_SQL, (found["county"], found["prospect_key"], MAX_EMAILS))
    return dict_rows(ctx.cur)


@router.post("/properties/reviews", response_model=ReviewResult, responses=responses(*ERRORS, 404),
             summary="Mark properties reviewed (or clear the mark), in bulk")
def review_properties(body: ReviewRequest, ctx: Context = needs("write")) -> dict[str, Any]:
    """All or nothing: an id the tenant cannot see (absent, or in a county it does not follow) is a
    404 naming it, and nothing is marked."""
    ids = sorted(set(body.property_ids))
    ctx.cur.execute("SELECT id, county, prospect_key FROM prospects WHERE id = ANY (%s)", (ids,))
    keys = {row[0]: (row[1], row[2]) for row in ctx.cur.fetchall()}
    unknown = [i for i in ids if i not in keys]
    if unknown:
        raise Problem(404, f"no property {', '.join(map(str, unknown[:20]))} in the counties this tenant follows")
    counties, prospect_keys = [k[0] for k in keys.values()], [k[1] for k in keys.values()]
    if body.reviewed:
        ctx.cur.execute(
            "INSERT INTO property_reviews (tenant_id, county, prospect_key, user_id, reviewed_by) "
            "SELECT %s, c, k, %s, %s FROM unnest(%s::text[], %s::text[]) AS t (c, k) "
            "ON CONFLICT (tenant_id, county, prospect_key) DO NOTHING",
            (ctx.tenant_id, ctx.principal.user_id, ctx.principal.actor, counties, prospect_keys))
    else:
        ctx.cur.execute("DELETE FROM property_reviews r USING unnest(%s::text[], %s::text[]) AS t (c, k) "
                        "WHERE r.county = t.c AND r.prospect_key = t.k", (counties, prospect_keys))
    changed = ctx.cur.rowcount
    if changed:
        ctx.audit("review" if body.reviewed else "unreview", "property_reviews", None,
                  after={"property_ids": ids, "changed": changed})
    return {"property_ids": ids, "reviewed": body.reviewed, "changed": changed}
