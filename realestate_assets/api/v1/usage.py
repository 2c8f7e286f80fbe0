"""`GET /usage`: a tenant's plan and its usage of each quota (issue #11), for Settings › Usage, and
its API calls by day (the billing history: `api_call_days`, api/v1/call_ledger.py).

The plans are accounts/plans.py; what counts against each quota, accounts/quotas.py; where the API
counts and refuses, api/v1/quota.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import Plan, PlanName, Quota
from realestate_assets.api.v1 import call_ledger
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


class CallDay(BaseModel):
    day: date = Field(description="UTC day")
    calls: int = Field(description="Authenticated /api/v1 requests counted against the plan that day")


class UsageReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tenant_id": "acme", "plan": "free", "plan_title": "Free",
        "quotas": [{"quota": "properties", "unit": "properties", "used": 42, "limit": 100, "remaining": 58,
                    "exhausted": False, "period": "month", "period_start": "2026-12-01T00:00:00Z",
                    "resets_at": "2027-01-01T00:00:00Z"}],
        "api_calls_by_day": [{"day": "2026-12-01", "calls": 311}, {"day": "2026-12-02", "calls": 0},
                             {"day": "2026-12-03", "calls": 87}]}]})

    tenant_id: str
    plan: PlanName
    plan_title: str
    quotas: list[QuotaUsage]
    api_calls_by_day: list[CallDay] = Field(
        description="API calls per UTC day, oldest first, ending today (the billing history; days "
                    "before today as the API wrote them, in batches every few seconds; today the live count)")


def calls_by_day(recorded: dict[date, int], today: date, today_live: int, days: int) -> list[dict[str, Any]]:
    """A dense series of `days` days ending `today` (0 where nothing was recorded). Today is the
    larger of the live count and what was written: the live one leads by up to one flush, the
    written one survives a restart of an in-memory limiter."""
    series = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return [{"day": d, "calls": max(recorded.get(d, 0), today_live) if d == today else recorded.get(d, 0)}
            for d in series]


def quota_rows(request: Request, ctx: Context, plan: Plan, now: datetime) -> tuple[int, list[dict[str, Any]]]:
    """(today's API calls, one QuotaUsage row per quota): Settings › Usage's and billing's summary."""
    calls = api_calls_today(request, ctx.tenant_id, plan.api_calls, now)
    found = quotas.report(ctx.cur, ctx.tenant_id, plan, calls, now)
    return calls, [{"quota": u.quota, "unit": quotas.UNIT[u.quota], "used": u.used, "limit": u.limit,
                    "remaining": u.remaining, "exhausted": u.exhausted, "period": u.period,
                    "period_start": u.period_start, "resets_at": u.resets_at} for u in found]


@router.get("/usage", response_model=UsageReport, responses=responses(401, 403, 422),
            summary="The tenant's plan and its usage of each quota (properties, API calls, emails, storage)")
def get_usage(request: Request, ctx: Context = needs("read"),
              days: int = Query(31, ge=1, le=400, description="How many days of API calls by day")) -> dict[str, Any]:
    now = datetime.now(UTC)
    plan = quotas.tenant_plan(ctx.cur, ctx.tenant_id)
    calls, rows = quota_rows(request, ctx, plan, now)
    today = call_ledger.day_of(now)
    recorded = dict(call_ledger.history(ctx.cur, ctx.tenant_id, today - timedelta(days=days - 1)))
    return {"tenant_id": ctx.tenant_id, "plan": plan.name, "plan_title": plan.title, "quotas": rows,
            "api_calls_by_day": calls_by_day(recorded, today, calls, days)}
