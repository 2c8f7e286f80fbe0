"""The plans a tenant can be on (plan §8.4, issue #11): the one place their limits are written.

| plan         | properties / month | API calls / day | emails / month | storage |
|--------------|--------------------|-----------------|----------------|---------|
| free         | 100                | 1,000           | 500            | 1 GiB   |
| professional | 1,000              | 20,000          | 10,000         | 25 GiB  |
| enterprise   | unlimited          | unlimited       | unlimited      | unlimited |

A tenant's plan is `tenants.plan` (migration 0027; new tenants start on `free`, tenants that
existed before plans were introduced were moved to `enterprise`, so nothing they had was taken
away). A platform admin changes it with `PATCH /api/v1/tenants/{id}`. What each quota counts and
when it resets is `accounts/quotas.py`; `None` is unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

PlanName = Literal["free", "professional", "enterprise"]
Quota = Literal["properties", "api_calls", "emails", "storage"]
QUOTAS: tuple[Quota, ...] = get_args(Quota)
GIB = 1024 ** 3


@dataclass(frozen=True)
class Plan:
    name: PlanName
    title: str
    properties: int | None  # distinct properties first received per calendar month (UTC)
    api_calls: int | None  # authenticated /api/v1 requests per UTC day
    emails: int | None  # campaign emails sent per calendar month (UTC)
    storage: int | None  # bytes of the tenant's stored documents (packets), at any time

    def limit(self, quota: Quota) -> int | None:
        return getattr(self, quota)


PLANS: dict[str, Plan] = {p.name: p for p in (
    Plan("free", "Free", properties=100, api_calls=1_000, emails=500, storage=1 * GIB),
    Plan("professional", "Professional", properties=1_000, api_calls=20_000, emails=10_000, storage=25 * GIB),
    Plan("enterprise", "Enterprise", properties=None, api_calls=None, emails=None, storage=None),
)}
assert set(PLANS) == set(get_args(PlanName)), "PlanName and PLANS must name the same plans"


def plan(name: str) -> Plan:
    """The plan called `name`; an unknown name (a plan since retired) is the free plan's limits."""
    return PLANS.get(name, PLANS["free"])
