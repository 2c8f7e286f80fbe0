"""Where the API counts and refuses on a tenant's quotas (issue #11): the one helper routes call.

* `count_api_call` — every authenticated request of a tenant's people and keys (security.authorize):
  429 problem+json with `Retry-After` (seconds to midnight UTC) once the day's calls are used up.
  Each call it lets through is also kept for billing history (api/v1/call_ledger.py, by day).
* `receive` — a route that hands the tenant a property (detail view, memo): free when it already
  received it this month, else counted, or 402 once the month's properties are used up.
* `require` — a route that starts work spending a quota (send a campaign: emails): 402 when it is
  used up.
* `require_room_for_memo` — a memo request (storage): 402 when its documents' expected bytes would
  not fit in what is left of the plan's storage once the requests still open have theirs, as the
  packets step would skip them.

Refusals are `application/problem+json` with the members `quota`, `plan`, `usage`, `limit` and
`resets_at` (problems.QuotaProblem). The plans are accounts/plans.py; what counts, accounts/quotas.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fastapi import Request

from realestate_assets.accounts import plans, quotas
from realestate_assets.accounts.plans import Quota
from realestate_assets.accounts.roles import Principal
from realestate_assets.api.v1.problems import Problem


def refusal(usage: quotas.Usage, now: datetime | None = None, reason: str | None = None) -> Problem:
    """The problem+json of a request refused on `usage`: exhausted, or (`reason`) what was asked
    would cross it."""
    headers = None
    if usage.status == 429 and usage.resets_at is not None:
        wait = max(1, math.ceil((usage.resets_at - (now or datetime.now(UTC))).total_seconds()))
        headers = {"Retry-After": str(wait), "RateLimit-Limit": str(usage.limit), "RateLimit-Remaining": "0",
                   "RateLimit-Reset": str(wait)}
    return Problem(usage.status, reason or usage.reason(), headers=headers, members=usage.members())


def api_calls_today(request: Request, tenant_id: str, limit: int | None, now: datetime) -> int:
    """The tenant's API calls today (the refused ones beyond the limit are not calls made)."""
    counted = request.app.state.reos.throttle.count_today("api_calls", tenant_id, now, add=0)
    return counted if limit is None else min(counted, limit)


def count_api_call(request: Request, principal: Principal, plan_name: str) -> None:
    """Count one request of the principal's tenant (on plan `plan_name`); 429 once its plan's calls
    of the day are used. The platform's operators acting in a tenant do not spend its quota."""
    if principal.platform_admin or principal.tenant_id is None:
        return
    now = datetime.now(UTC)
    plan = plans.plan(plan_name)
    counted = request.app.state.reos.throttle.count_today("api_calls", principal.tenant_id, now)
    if plan.api_calls is not None and counted > plan.api_calls:
        raise refusal(quotas.usage_of(plan, "api_calls", plan.api_calls, now), now)
    request.app.state.reos.call_ledger.add(principal.tenant_id, now)  # billing history: a refused call is not one


def receive(ctx: Any, county: str, prospect_key: str, via: str, wait_for_disk: bool = True) -> None:
    """The tenant receives a property: counted once a month; 402 when the month's are used up.
    `wait_for_disk`: quotas.receive_property."""
    refused = quotas.receive_property(ctx.cur, ctx.tenant_id, county, prospect_key, via,
                                      plan_=plans.plan(ctx.standing.plan), wait_for_disk=wait_for_disk)
    if refused is not None:
        raise refusal(refused)


@dataclass
class RidingReceipt:
    """A receipt recorded by the statement that reads the property (quotas.records_unread: a plan
    without a monthly properties limit refuses nothing, so there is nothing to read first): the
    receipt's parameters, and whether that statement ran (`recorded`; a view answered from the
    response cache reads nothing, and `receive` records it)."""

    tenant_id: str
    period_start: date
    via: str
    recorded: bool = False


def riding_receipt(ctx: Any, via: str) -> RidingReceipt | None:
    """The receipt to record with the property's read, when the tenant's plan allows; else None
    (`receive` decides, counting and refusing)."""
    if not quotas.records_unread(plans.plan(ctx.standing.plan)):
        return None
    return RidingReceipt(ctx.tenant_id, quotas.month_of(), via)


def require_room_for_memo(ctx: Any, county: str, prospect_key: str, asked: list[str],
                          documents_of: quotas.DocumentsOf) -> None:
    """402 when the memo's documents (`documents_of`, with the templates `asked` beyond the
    configured ones) would not be rendered for lack of storage: used up, or their expected bytes do
    not fit in what is left after those of the tenant's requests still open (quotas.memo_refusal,
    the packets step's own rule)."""
    refused = quotas.memo_refusal(ctx.cur.connection, ctx.tenant_id, county, prospect_key, asked, documents_of)
    if refused is not None:
        raise refusal(refused.usage, reason=refused.reason)


def require(ctx: Any, quota: Quota) -> None:
    """402 when the tenant's `quota` (emails, storage) is used up."""
    found = quotas.usage(ctx.cur, ctx.tenant_id, quota)
    if found.exhausted:
        raise refusal(found)
