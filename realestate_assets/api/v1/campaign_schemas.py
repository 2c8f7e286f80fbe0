"""Request and response bodies of the recipients, segments and campaigns routes (issue #11).

What a recipient, a segment's criteria and a campaign may be is the pipeline's own models
(`config_models.Recipient`, `SegmentCriteria`, `CampaignConfig`): a body is validated by them, so
the API accepts exactly what the emails step can plan with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.config_models import CAMPAIGN_TYPES, Recipient, SavedAlert, SegmentCriteria

CampaignType = Literal["new_opportunity", "daily_digest", "weekly_summary", "custom_alert"]
CampaignStatus = Literal["draft", "active", "paused", "archived"]
assert set(CampaignType.__args__) == set(CAMPAIGN_TYPES)  # type: ignore[attr-defined]


def _example(**example: object) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


# ---- recipients ------------------------------------------------------------------------------

class RecipientFields(Recipient):
    """A recipient as written: the pipeline's own model (segment fields, the campaign types it
    gets, saved alerts), so the API accepts exactly what planning reads."""

    model_config = _example(name="Avery Investor", email="avery@example.com", counties=["king_wa"], min_score=75,
                            property_types=[], budget_min=None, budget_max=2500000,
                            campaigns=["new_opportunity", "daily_digest"], alerts=[])


class RecipientUpdate(BaseModel):
    model_config = _example(min_score=80, campaigns=["daily_digest"])
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)
    counties: list[str] | None = None
    min_score: float | None = Field(None, ge=0, le=100)
    property_types: list[str] | None = None
    budget_min: float | None = Field(None, ge=0)
    budget_max: float | None = Field(None, gt=0)
    campaigns: list[CampaignType] | None = None
    alerts: list[SavedAlert] | None = None


class RecipientOut(RecipientFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": 7, "name": "Avery Investor", "email": "avery@example.com", "counties": ["king_wa"], "min_score": 75,
        "property_types": [], "budget_min": None, "budget_max": 2500000, "campaigns": ["new_opportunity"],
        "alerts": [], "suppressed": False, "created_at": "2026-12-03T06:00:00Z",
        "updated_at": "2026-12-03T06:00:00Z"}]})
    id: int
    suppressed: bool = Field(description="the address opted out, bounced or reported spam: nothing is sent to it")
    created_at: datetime
    updated_at: datetime


class RecipientPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": RecipientOut.model_config["json_schema_extra"]["examples"], "limit": 50,  # type: ignore[index]
        "next_cursor": "eyJpZCI6IDd9"}]})
    items: list[RecipientOut]
    limit: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class ImportRowError(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"line": 3, "email": "not-an-address", "errors": ["email: not a valid email address"]}]})
    line: int = Field(description="line number in the file (the header is line 1)")
    email: str | None
    errors: list[str]


class ImportResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "rows": 3, "created": 1, "updated": 1, "unchanged": 0,
        "rejected": [{"line": 3, "email": "not-an-address", "errors": ["email: not a valid email address"]}]}]})
    rows: int = Field(description="data rows read (every one is created, updated, unchanged or rejected)")
    created: int
    updated: int
    unchanged: int = Field(description="rows identical to the recipient already stored (a re-import)")
    rejected: list[ImportRowError]


# ---- segments --------------------------------------------------------------------------------

class CriteriaBody(SegmentCriteria):
    """Segment criteria (every given condition must hold)."""

    model_config = _example(counties=["king_wa"], campaign_types=["daily_digest"], max_min_score=80)


class SegmentCreate(BaseModel):
    model_config = _example(name="King County buyers", criteria={"counties": ["king_wa"], "max_min_score": 80})
    name: str = Field(min_length=1, max_length=200)
    criteria: SegmentCriteria = Field(default_factory=SegmentCriteria)


class SegmentUpdate(BaseModel):
    model_config = _example(name="King County buyers (all scores)")
    name: str | None = Field(None, min_length=1, max_length=200)
    criteria: SegmentCriteria | None = None


class SegmentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "name": "King County buyers", "criteria": {"counties": ["king_wa"]}, "recipient_count": 42,
        "created_at": "2026-12-03T06:00:00Z", "updated_at": "2026-12-03T06:00:00Z"}]})
    id: int
    name: str
    criteria: SegmentCriteria
    recipient_count: int = Field(description="recipients the criteria hold now")
    created_at: datetime
    updated_at: datetime


class SegmentCount(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "recipient_count": 42, "suppressed_count": 1, "sample": ["avery@example.com"]}]})
    recipient_count: int = Field(description="recipients the criteria hold now")
    suppressed_count: int = Field(description="of those, addresses that opted out (sent nothing)")
    sample: list[str] = Field(description="up to 5 of their addresses")


# ---- campaigns -------------------------------------------------------------------------------

class CampaignCreate(BaseModel):
    model_config = _example(key="king_new_deals", type="new_opportunity",
                            subjects=["Off-market lead: parcel {parcel_id} scores {score}",
                                      "{first_name}, a {score}/100 deal in {county}"],
                            intro="A property in {county} scored {score}/100.", attach_pdf=True, max_items=10,
                            categories=["new_opportunity"], link_ttl_days=14, segment_id=3, status="draft")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=100)
    type: CampaignType
    subjects: list[str] = Field(min_length=1, max_length=4, description="A/B(/C/D) subject variants")
    intro: str = Field("", max_length=2000)
    attach_pdf: bool = True
    max_items: int = Field(10, ge=1, le=100)
    categories: list[str] = Field(default_factory=list)
    link_ttl_days: float = Field(14.0, gt=0, le=366)
    segment_id: int | None = Field(None, ge=1, description="recipients targeted; null: every recipient")
    status: Literal["draft", "active", "paused"] = "draft"


class CampaignUpdate(BaseModel):
    model_config = _example(subjects=["{count} new leads in {county}"], status="paused")
    subjects: list[str] | None = Field(None, min_length=1, max_length=4)
    intro: str | None = Field(None, max_length=2000)
    attach_pdf: bool | None = None
    max_items: int | None = Field(None, ge=1, le=100)
    categories: list[str] | None = None
    link_ttl_days: float | None = Field(None, gt=0, le=366)
    segment_id: int | None = Field(None, ge=1, description="null leaves it; use `everyone: true` to drop it")
    everyone: bool | None = Field(None, description="true: target every recipient (no segment)")
    status: CampaignStatus | None = None


class CampaignStats(BaseModel):
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    spam_reports: int
    unsubscribed: int
    delivered_rate: float
    opened_rate: float
    clicked_rate: float
    bounced_rate: float
    spam_reports_rate: float
    unsubscribed_rate: float


class CampaignOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 5, "key": "new_opportunity", "type": "new_opportunity", "subjects": ["Deal in {county}"], "intro": "",
        "attach_pdf": True, "max_items": 10, "categories": [], "link_ttl_days": 14, "segment_id": None,
        "segment_name": None, "status": "active", "last_send_at": None, "last_send_run_ids": [],
        "stats": {"sent": 10, "delivered": 9, "opened": 4, "clicked": 1, "bounced": 1, "spam_reports": 0,
                  "unsubscribed": 0, "delivered_rate": 0.9, "opened_rate": 0.4, "clicked_rate": 0.1,
                  "bounced_rate": 0.1, "spam_reports_rate": 0.0, "unsubscribed_rate": 0.0},
        "created_at": "2026-12-03T06:00:00Z", "updated_at": "2026-12-03T06:00:00Z"}]})
    id: int
    key: str
    type: CampaignType
    subjects: list[str]
    intro: str
    attach_pdf: bool
    max_items: int
    categories: list[str]
    link_ttl_days: float
    segment_id: int | None
    segment_name: str | None
    status: CampaignStatus
    last_send_at: datetime | None
    last_send_run_ids: list[str]
    stats: CampaignStats
    created_at: datetime
    updated_at: datetime


class VariantStats(BaseModel):
    variant: str
    subject: str | None
    sent: int
    opened: int
    open_rate: float


class CampaignDetail(CampaignOut):
    recipient_count: int = Field(description="recipients the campaign targets now (its segment, or everyone)")
    variants: list[VariantStats] = Field(description="per subject variant (A/B test)")
    by_status: dict[str, int] = Field(description="the campaign's emails by delivery state")


class SendAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "campaign_id": 5, "counties": ["king_wa"], "run_ids": ["8e0b3c1f-0f8a-4c5e-9a57-1f7d3c2b6a10"],
        "launched_at": "2026-12-03T06:00:00Z", "repeated": False}]})
    campaign_id: int
    counties: list[str]
    run_ids: list[str] = Field(description="Dagster run ids, one per county (GET /campaigns/{id}/progress)")
    launched_at: datetime
    repeated: bool = Field(False, description="always false: a retry with the same Idempotency-Key gets the first "
                                               "answer back, marked by the header `Idempotent-Replayed: true`")


class RunState(BaseModel):
    run_id: str
    status: str | None = Field(description="Dagster's run status (QUEUED, STARTED, SUCCESS, FAILURE, ...); "
                                           "null when Dagster cannot be asked")


class CampaignProgress(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "campaign_id": 5, "launched_at": "2026-12-03T06:00:00Z",
        "runs": [{"run_id": "8e0b3c1f-0f8a-4c5e-9a57-1f7d3c2b6a10", "status": "STARTED"}],
        "since_launch": {"sent": 3, "pending": 2}, "finished": False}]})
    campaign_id: int
    launched_at: datetime | None
    runs: list[RunState]
    since_launch: dict[str, int] = Field(description="the campaign's emails written since the launch, by state")
    finished: bool = Field(description="every run has ended (success, failure or canceled)")
