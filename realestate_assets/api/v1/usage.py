"""`GET /usage`: a tenant's plan and its usage of each quota (issue #11), for Settings › Usage.

The plans are accounts/plans.py; what counts against each quota, accounts/quotas.py; where the API
counts and refuses, api/v1/quota.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import PlanName, Quota
from realestate_assets.api.v1.problems import responses
from realestate_assets.api.v1.quota import api_calls_today
from realestate_assets.api.v1.security import Context, needs

router = APIRouter(tags=["usage"])


class QuotaUsage(BaseModel):
    quota: Quota
    unit: str = Field(description="What is counted")
    used: int
    limit: int | None = Field(description="What the plan allows in the period; null: unlimited")
    remaining: int | None = Field(description="null: unlimited")
    exhausted: bool = Field(description="The limit is reached: more is refused (402, or 429 for API calls)")
    period: Literal["month", "day"] | None = Field(description="Calendar month or day (UTC); null: at any time")
    period_start: datetime | None
    resets_at: datetime | None


class UsageReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tenant_id": "acme", "plan": "free", "plan_title": "Free",
        "quotas": [{"quota": "properties", "unit": "properties", "used": 42, "limit": 100, "remaining": 58,
                    "exhausted": False, "period": "month", "period_start": "2026-12-01T00:00:00Z",
                    "resets_at": "2027-01-01T00:00:00Z"}]}]})

    tenant_id: str
    plan: PlanName
    plan_title: str
    quotas: list[QuotaUsage]


@router.get("/usage", response_model=UsageReport, responses=responses(401, 403),
            summary="The tenant's plan and its usage of each quota (properties, API calls, emails, storage)")
def get_usage(request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    now = datetime.now(UTC)
    plan = quotas.tenant_plan(ctx.cur, ctx.tenant_id)
    calls = api_calls_today(request, ctx.tenant_id, plan.api_calls, now)
    found = quotas.report(ctx.cur, ctx.tenant_id, plan, calls, now)
    return {"tenant_id": ctx.tenant_id, "plan": plan.name, "plan_title": plan.title,
            "quotas": [{"quota": u.quota, "unit": quotas.UNIT[u.quota], "used": u.used, "limit": u.limit,
                        "remaining": u.remaining, "exhausted": u.exhausted, "period": u.period,
                        "period_start": u.period_start, "resets_at": u.resets_at} for u in found]}
