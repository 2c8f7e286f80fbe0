"""Request and response bodies of /api/v1, each with an example for the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.accounts.plans import PlanName
from realestate_assets.api.v1.property_query import PropertyFilters

Role = Literal["owner", "admin", "analyst", "viewer"]
Scope = Literal["read", "write", "admin"]


def _example(**example: object) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class LoginRequest(BaseModel):
    model_config = _example(email="analyst@example.com", password="correct horse battery", tenant_id="acme")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    tenant_id: str | None = Field(None, description="Tenant to act in; needed when a member of several")


class RefreshRequest(BaseModel):
    model_config = _example(refresh_token="4Jb0mQ7rY2m1c4kqk3dFb8wYQ7nJ0Zr8xV1uT5sW9eA")
    refresh_token: str = Field(max_length=200)


class PasswordResetRequest(BaseModel):
    model_config = _example(email="analyst@example.com")
    email: str = Field(max_length=320)


class VerificationResend(BaseModel):
    model_config = _example(email="analyst@example.com")
    email: str = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    model_config = _example(token="p6Zb1sQ0u9kX3mY7vT2rW5nC8dF4gH1jK0lM3nB6vC9", password="a new long passphrase")
    token: str = Field(max_length=200, description="The one-time token from the email's link (after `#token=`)")
    password: str = Field(min_length=10, max_length=1024)


class TokenConfirm(BaseModel):
    model_config = _example(token="p6Zb1sQ0u9kX3mY7vT2rW5nC8dF4gH1jK0lM3nB6vC9")
    token: str = Field(max_length=200, description="The one-time token from the email's link (after `#token=`)")


class Accepted(BaseModel):
    model_config = _example(detail="If an account exists for analyst@example.com, a link is on its way.")
    detail: str


class TokenPair(BaseModel):
    model_config = _example(access_token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2ln",
                            token_type="bearer", expires_in=900,
                            refresh_token="4Jb0mQ7rY2m1c4kqk3dFb8wYQ7nJ0Zr8xV1uT5sW9eA", tenant_id="acme",
                            role="analyst")
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token stays valid")
    refresh_token: str = Field(description="Single use: exchange it at /auth/refresh for a new pair")
    tenant_id: str
    role: Role | None


class Membership(BaseModel):
    tenant_id: str
    role: Role


class Me(BaseModel):
    model_config = _example(tenant_id="acme", actor="analyst@example.com", user_id=42, api_key_id=None,
                            role="analyst", platform_admin=False, permissions=["read", "write"],
                            memberships=[{"tenant_id": "acme", "role": "analyst"}])
    tenant_id: str
    actor: str
    user_id: int | None
    api_key_id: int | None
    role: Role | None
    platform_admin: bool
    permissions: list[str]
    memberships: list[Membership]


class TenantCreate(BaseModel):
    model_config = _example(id="acme", name="Acme Capital", owner_email="founder@acme.example")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    owner_email: str | None = Field(None, description="Made the tenant's owner (account created when new)")


class Tenant(BaseModel):
    model_config = _example(id="acme", name="Acme Capital", created_at="2026-12-03T06:00:00Z", suspended_at=None,
                            suspended_reason=None, plan="free")
    id: str
    name: str
    created_at: datetime
    suspended_at: datetime | None = Field(None, description="Set while suspended: its people and keys get 403")
    suspended_reason: str | None = None
    plan: PlanName = Field(description="The tenant's plan (limits: GET /usage, accounts/plans.py)")


class TenantUpdate(BaseModel):
    model_config = _example(suspended=True, reason="invoice 2026-11 unpaid")
    suspended: bool | None = Field(None, description="Suspend (true) or resume (false); absent: unchanged")
    reason: str | None = Field(None, max_length=500, description="Shown to the tenant's people in the 403")
    plan: PlanName | None = Field(None, description="Move the tenant to this plan; absent: unchanged")


class MemberInvite(BaseModel):
    model_config = _example(email="new.analyst@example.com", role="analyst")
    email: str = Field(max_length=320)
    role: Role
    password: str | None = Field(None, min_length=10, max_length=1024,
                                 description="Initial password; without one a new user is emailed an invitation "
                                             "link to choose it (valid 7 days) and cannot log in until then")


class MemberUpdate(BaseModel):
    model_config = _example(role="viewer")
    role: Role


class Member(BaseModel):
    model_config = _example(user_id=42, email="analyst@example.com", role="analyst", is_active=True,
                            email_verified_at=None, created_at="2026-12-03T06:00:00Z")
    user_id: int
    email: str
    role: Role
    is_active: bool
    email_verified_at: datetime | None
    created_at: datetime
    invitation: Literal["sent", "not_sent"] | None = Field(
        None, description="Only on an invitation that created the account without a password: whether the "
                          "email with the link went out (not_sent: the mailer refused it; invite again later)")


class ApiKeyCreate(BaseModel):
    model_config = _example(name="CRM sync", scopes=["read"], expires_at="2027-06-30T00:00:00Z")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None


class ApiKey(BaseModel):
    model_config = _example(id=7, name="CRM sync", prefix="3f9a1c0e", scopes=["read"],
                            expires_at="2027-06-30T00:00:00Z", revoked_at=None, last_used_at=None, user_id=42,
                            created_at="2026-12-03T06:00:00Z")
    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    user_id: int | None
    created_at: datetime


class ApiKeyCreated(ApiKey):
    model_config = _example(id=7, name="CRM sync", prefix="3f9a1c0e", scopes=["read"], expires_at=None,
                            revoked_at=None, last_used_at=None, user_id=42, created_at="2026-12-03T06:00:00Z",
                            key="reos_3f9a1c0e_q2VvG7c8QyJ0cQ2b3k9m1xP4s6uW8yA0bC2dE4fG6hI")
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class SubscriptionCreate(BaseModel):
    model_config = _example(county="king_wa")
    county: str = Field(pattern=r"^[a-z0-9_]{2,64}$")


class Subscription(BaseModel):
    model_config = _example(county="king_wa", created_at="2026-12-03T06:00:00Z")
    county: str
    created_at: datetime


# ---- properties ------------------------------------------------------------------------------

_ITEM_EXAMPLE = dict(
    id=1842, county="king_wa", prospect_key="kc-0007600046", parcel_id="0007600046", address="123 N MAIN ST",
    city="SEATTLE", state="WA", zip="98103", latitude=47.6512, longitude=-122.3421, property_type="single_family",
    status="scored", list_price=None, listing_status=None, living_sqft=1480.0, year_built=1952,
    last_sale_price="415000.00", last_sale_date="2014-06-02", bird_dog_score=87.4, score_rank=12,
    estimated_value=742000.0, value_gap_pct=18.5, first_seen_at="2026-11-30T04:00:00Z",
    last_seen_at="2026-12-02T04:00:00Z", reviewed_at=None)


class PropertyItem(BaseModel):
    """One row of the property list (and of the CSV export, same columns and order)."""

    model_config = _example(**_ITEM_EXAMPLE)
    id: int = Field(description="Property id (prospects.id); the detail route takes it")
    county: str
    prospect_key: str
    parcel_id: str | None
    address: str | None
    city: str | None
    state: str | None
    zip: str | None
    latitude: float | None
    longitude: float | None
    property_type: str | None = Field(description="The county's use type")
    status: str
    list_price: float | None = Field(description="Asking price when listed (the price filters use it)")
    listing_status: str | None
    living_sqft: float | None
    year_built: int | None
    last_sale_price: Decimal | None
    last_sale_date: date | None
    bird_dog_score: float | None
    score_rank: int | None
    estimated_value: float | None
    value_gap_pct: float | None
    first_seen_at: datetime
    last_seen_at: datetime
    reviewed_at: datetime | None = Field(description="When this tenant marked it reviewed; null: not yet")


class PropertyPage(BaseModel):
    model_config = _example(items=[_ITEM_EXAMPLE], next_cursor="eyJzIjoiLWJpcmRfZG9nX3Njb3JlIiwidiI6Wzg3LjQsMTg0Ml19",
                            limit=50)
    items: list[PropertyItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    limit: int


class EnrichedField(BaseModel):
    value: Any
    provenance: dict[str, Any] | None = Field(
        description="Where the value came from: source, fetched_at, confidence (+ stale, conflicts)")


class ScoreComponent(BaseModel):
    name: str
    label: str
    percentile: float | None


class PropertyScore(BaseModel):
    as_of_date: date
    bird_dog_score: float
    score_rank: int
    estimated_value: float | None
    estimated_value_low: float | None = Field(
        default=None, description="Lower end of the 80% range of estimated_value (split-conformal, by price band; "
                                  "docs/scoring.md); null for a model without ranges")
    estimated_value_high: float | None = Field(
        default=None, description="Upper end of the 80% range of estimated_value; null for a model without ranges")
    value_gap_pct: float | None
    deal_probability: float | None
    sale_probability_12m: float | None
    model_version: str
    model_versions: dict[str, Any]
    components: list[ScoreComponent]
    reasons: list[str] | None = Field(description="Plain-language score drivers; null until computed")
    value_factors: list[dict[str, Any]] | None = Field(description="SHAP value factors; null until computed")


class PropertyDetail(BaseModel):
    model_config = _example(
        id=1842, county="king_wa", prospect_key="kc-0007600046",
        prospect={"parcel_id": "0007600046", "address": "123 N MAIN ST", "city": "SEATTLE", "zip": "98103",
                  "use_type": "single_family", "status": "scored", "sources": ["county_sales"]},
        enrichment_status="enriched", enrichment_as_of="2026-12-01", enrichment_failure_reason=None,
        enrichment={"living_sqft": {"value": 1480.0, "provenance": {
            "source": "county_assessor", "fetched_at": "2026-12-01T04:00:00Z", "confidence": 1.0}}},
        score={"as_of_date": "2026-12-01", "bird_dog_score": 87.4, "score_rank": 12, "estimated_value": 742000.0,
               "estimated_value_low": 655000.0, "estimated_value_high": 871000.0,
               "value_gap_pct": 18.5, "deal_probability": 0.41, "sale_probability_12m": 0.22,
               "model_version": "2026-12-01-3f9a1c", "model_versions": {"avm": "2026-12-01-3f9a1c"},
               "components": [{"name": "equity", "label": "Equity (last sale in today's market vs estimate)",
                               "percentile": 91.0}],
               "reasons": ["last sale 12 years ago, well below today's estimate"], "value_factors": []})
    id: int
    county: str
    prospect_key: str
    prospect: dict[str, Any] = Field(description="The discovered property (prospects row)")
    enrichment_status: str | None
    enrichment_as_of: date | None
    enrichment_failure_reason: str | None
    enrichment: dict[str, EnrichedField] | None = Field(description="Each enriched field with its provenance")
    score: PropertyScore | None


class NoteCreate(BaseModel):
    model_config = _example(body="Drove by: roof looks newer than the 1952 build suggests.")
    body: str = Field(min_length=1, max_length=10000, description="Plain text (shown as text, never as HTML)")


class Note(NoteCreate):
    model_config = _example(id=31, property_id=1842, county="king_wa", prospect_key="kc-0007600046",
                            author="analyst@example.com", user_id=42,
                            body="Drove by: roof looks newer than the 1952 build suggests.",
                            created_at="2026-12-03T06:00:00Z", updated_at="2026-12-03T06:00:00Z")
    id: int
    property_id: int | None = Field(description="The property now (null when its county left the followed ones)")
    county: str
    prospect_key: str
    author: str
    user_id: int | None
    created_at: datetime
    updated_at: datetime


class SavedSearchCreate(BaseModel):
    model_config = _example(name="Cheap Ballard houses", alert=True,
                            filters={"county": ["king_wa"], "min_score": 70, "max_price": 900000,
                                     "property_type": ["single_family"], "q": "ballard",
                                     "sort": "-bird_dog_score"})
    name: str = Field(min_length=1, max_length=200)
    filters: PropertyFilters = Field(description="The property list's filters and sort")
    alert: bool = Field(False, description="Tell me when a new property matches")


class SavedSearchUpdate(BaseModel):
    model_config = _example(alert=False)
    name: str | None = Field(None, min_length=1, max_length=200)
    filters: PropertyFilters | None = None
    alert: bool | None = None


class SavedSearch(SavedSearchCreate):
    model_config = _example(id=5, name="Cheap Ballard houses", alert=True,
                            filters={"county": ["king_wa"], "min_score": 70, "max_price": 900000,
                                     "sort": "-bird_dog_score"},
                            created_at="2026-12-03T06:00:00Z", updated_at="2026-12-03T06:00:00Z")
    id: int
    created_at: datetime
    updated_at: datetime


# ---- analytics -------------------------------------------------------------------------------

class CountySummary(BaseModel):
    county: str
    properties: int = Field(description="Properties discovered")
    scored: int = Field(description="Properties with a score")
    average_score: float | None = Field(description="Mean bird-dog score of the scored ones")
    deals: int = Field(description="Scored at or above the packet threshold")
    new_deals_7d: int = Field(description="Deals first seen in the last 7 days")
    last_scored_at: datetime | None


class AnalyticsSummary(BaseModel):
    model_config = _example(threshold=75.0, totals={"county": "all", "properties": 931, "scored": 931,
                                                    "average_score": 49.6, "deals": 117, "new_deals_7d": 4,
                                                    "last_scored_at": "2026-12-02T04:10:00Z"},
                            counties=[{"county": "king_wa", "properties": 931, "scored": 931, "average_score": 49.6,
                                       "deals": 117, "new_deals_7d": 4, "last_scored_at": "2026-12-02T04:10:00Z"}])
    threshold: float = Field(description="The packet threshold deals are counted against (config/scoring.yaml)")
    totals: CountySummary
    counties: list[CountySummary]


class ScoreBin(BaseModel):
    county: str
    bin_start: float = Field(description="Scores from here (inclusive) to bin_start + width (exclusive; the last "
                                         "band holds 100)")
    properties: int


class ScoreDistribution(BaseModel):
    model_config = _example(width=10, bins=[{"county": "king_wa", "bin_start": 70.0, "properties": 88}])
    width: int
    bins: list[ScoreBin]


class LocationCount(BaseModel):
    model_config = _example(county="king_wa", zip="98103", properties=57, scored=57, average_score=55.2, deals=9,
                            latitude=47.6702, longitude=-122.3431)
    county: str
    zip: str | None
    properties: int
    scored: int
    average_score: float | None
    deals: int
    latitude: float | None = Field(description="Mean latitude of the properties with coordinates")
    longitude: float | None


class MonthlyTrend(BaseModel):
    model_config = _example(county="king_wa", month="2026-11-01", new_properties=140, new_deals=12,
                            average_score=51.3)
    county: str
    month: date = Field(description="First day of the month the properties were first seen in")
    new_properties: int
    new_deals: int
    average_score: float | None


class FunnelStage(BaseModel):
    stage: str
    count: int


class CountyFunnel(BaseModel):
    model_config = _example(county="king_wa", stages=[
        {"stage": "discovered", "count": 931}, {"stage": "enriched", "count": 931}, {"stage": "scored", "count": 931},
        {"stage": "packeted", "count": 117}, {"stage": "emailed", "count": 12}],
        emails={"sent": 12, "delivered": 12, "opened": 5, "clicked": 2, "bounced": 0, "unsubscribed": 0})
    county: str
    stages: list[FunnelStage] = Field(description="Properties that reached each stage (a later stage counts "
                                                  "toward the earlier ones)")
    emails: dict[str, int] = Field(description="This tenant's emails about the county, by what became of them")
    last_run_at: datetime | None = Field(None, description="When the county's latest recorded run ended")
    last_run_status: str | None = Field(None, description="How it ended: success, failure or canceled")


class PipelineStage(BaseModel):
    stage: str = Field(description="discovery, enrichment, scoring, packets or email")
    assets: list[str] = Field(description="The stage's assets with a recorded run")
    last_run_at: datetime | None = Field(description="When the latest run of one of its assets ended")
    last_status: str | None = Field(description="Worst status of its assets' latest runs: failure, canceled, "
                                                "skipped or success")
    last_success_at: datetime | None
    freshness_s: float | None = Field(description="Seconds since the stalest asset's latest success")
    duration_s: float | None = Field(description="Sum of its assets' latest successful durations")
    rows: int | None = Field(description="Rows those runs reported writing")
    throughput_rows_per_s: float | None
    runs: int = Field(description="Runs in the window")
    failures: int = Field(description="Failed runs in the window")


class CountyPipeline(BaseModel):
    model_config = _example(county="king_wa", last_run_at="2026-12-02T04:12:00Z", last_status="success",
                            bottleneck="scoring", stages=[{
                                "stage": "discovery", "assets": ["listings", "prospects", "sales"],
                                "last_run_at": "2026-12-02T04:03:00Z", "last_status": "success",
                                "last_success_at": "2026-12-02T04:03:00Z", "freshness_s": 3600.0,
                                "duration_s": 41.2, "rows": 1862, "throughput_rows_per_s": 45.2, "runs": 7,
                                "failures": 0}])
    county: str
    last_run_at: datetime | None
    last_status: str | None = Field(description="Status of the stage that ran last")
    bottleneck: str | None = Field(description="The stage with the longest duration")
    stages: list[PipelineStage] = Field(description="Every stage in pipeline order (null figures: never run)")


class MonthlyEmails(BaseModel):
    model_config = _example(county="king_wa", month="2026-11-01", sent=120, delivered=118, opened=51, clicked=14,
                            bounced=2, unsubscribed=1)
    county: str
    month: date = Field(description="First day of the month the outcome happened in")
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    unsubscribed: int


# ---- models ----------------------------------------------------------------------------------

class ModelVersion(BaseModel):
    model_config = _example(id=12, county="king_wa", model_name="avm", version="avm-3f9a1c0e", kind="regressor",
                            status="active", is_active=True, training_start="2014-05-02", training_end="2015-02-27",
                            holdout_start="2015-01-01", training_rows=18211,
                            headline={"mdape_pct": 9.3, "pe10_pct": 56.0, "cod": 12.9, "prd": 1.01},
                            promotion={"promote": True, "reason": "MdAPE 9.3% < champion 9.8% on the same hold-out"},
                            created_at="2026-12-02T04:00:00Z")
    id: int
    county: str
    model_name: str = Field(description="avm, deal or sale_propensity")
    version: str
    kind: str
    status: str = Field(description="active, retired or challenger_rejected")
    is_active: bool
    training_start: date | None
    training_end: date | None
    holdout_start: date | None
    training_rows: int | None
    headline: dict[str, float] = Field(description="The key hold-out figures: mdape_pct, pe10_pct, cod, prd for "
                                                   "a valuation model; auc, precision_at_top10_pct, brier for a "
                                                   "classifier (absent when not computable)")
    promotion: dict[str, Any] | None = Field(description="The promotion rule's decision and its reason")
    created_at: datetime


class ModelDetail(ModelVersion):
    model_config = _example(id=12, county="king_wa", model_name="avm", version="avm-3f9a1c0e", kind="regressor",
                            status="active", is_active=True, training_start="2014-05-02", training_end="2015-02-27",
                            holdout_start="2015-01-01", training_rows=18211, headline={"mdape_pct": 9.3},
                            promotion={"promote": True}, created_at="2026-12-02T04:00:00Z",
                            metrics={"mdape_pct": 9.3, "comparison": {"hedonic_ols": {"mdape_pct": 14.1}}},
                            importance={"living_sqft": 0.31, "latitude": 0.22}, hyperparameters={"num_leaves": 31},
                            feature_names=["living_sqft", "latitude"], artifact_sha256="9b1c…")
    metrics: dict[str, Any] = Field(description="Every hold-out figure, the baselines' ratio study (`comparison`), "
                                                "tuning and calibration, as the pipeline recorded them")
    importance: dict[str, float] = Field(description="Share of the model's split gain per feature, largest first")
    hyperparameters: dict[str, Any] | None
    feature_names: list[str] | None
    artifact_sha256: str | None


class MemoRequested(BaseModel):
    model_config = _example(status="requested", county="king_wa", prospect_key="kc-0007600046",
                            requested_at="2026-12-03T09:30:00Z",
                            detail="not rendered yet: the next packets run for king_wa renders it (a sensor "
                                   "starts one within about a minute); ask again for the link")
    status: Literal["requested"]
    county: str
    prospect_key: str
    requested_at: datetime
    detail: str


WebhookEvent = Literal["deal.new", "campaign.sent", "search.match", "quota.warning", "ping"]


class WebhookEndpointCreate(BaseModel):
    model_config = _example(url="https://crm.example.com/hooks/reos", description="CRM",
                            event_types=["deal.new", "campaign.sent"])
    url: str = Field(max_length=2000, description="HTTPS URL of a public host (a local installation also takes http)")
    description: str = Field("", max_length=200)
    event_types: list[WebhookEvent] = Field(min_length=1)


class WebhookEndpointUpdate(BaseModel):
    model_config = _example(event_types=["deal.new"], is_active=False)
    url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=200)
    event_types: list[WebhookEvent] | None = Field(None, min_length=1)
    is_active: bool | None = None


class WebhookEndpoint(BaseModel):
    model_config = _example(id=3, url="https://crm.example.com/hooks/reos", description="CRM",
                            event_types=["deal.new"], is_active=True, disabled_reason=None,
                            secret_hint="whsec_MfKQ…", created_at="2026-12-03T09:00:00Z",
                            updated_at="2026-12-03T09:00:00Z")
    id: int
    url: str
    description: str
    event_types: list[str]
    is_active: bool
    disabled_reason: str | None
    secret_hint: str = Field(description="The first characters of the signing secret, to tell secrets apart")
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpoint):
    model_config = _example(id=3, url="https://crm.example.com/hooks/reos", description="CRM",
                            event_types=["deal.new"], is_active=True, disabled_reason=None,
                            secret_hint="whsec_MfKQ…", secret="whsec_MfKQ9r5Lr8nBr3c2YQ0s2Q4m7nQ1Zk1b8wYQ7nJ0Zr8=",
                            created_at="2026-12-03T09:00:00Z", updated_at="2026-12-03T09:00:00Z")
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_…): shown in this answer only")


class WebhookDelivery(BaseModel):
    model_config = _example(id=17, message_id="msg_5d41402abc4b2a76b9719d911017c592", event_type="deal.new",
                            event_key="deal.new:king_wa:kc-0007600046", status="delivered", attempts=1,
                            next_attempt_at=None, last_status_code=200, last_error=None,
                            delivered_at="2026-12-03T09:00:31Z", created_at="2026-12-03T09:00:30Z",
                            payload={"type": "deal.new", "timestamp": "2026-12-03T09:00:30Z",
                                     "data": {"county": "king_wa", "bird_dog_score": 91.0}})
    id: int
    message_id: str
    event_type: str
    event_key: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]
