"""Notices before a quota is used up (issue #11): when a tenant's usage of a monthly quota
(properties, emails) reaches `THRESHOLD` of its plan's limit, its owners and admins get one email
(the account mailer, accounts/notices.py: the outbox in a demo) and its webhook endpoints that take
`quota.warning` one event — once per quota and calendar month.

Once: a `quota_notices` row (migration 0039, unique per tenant, quota and month) is inserted with
ON CONFLICT DO NOTHING first, and only the insert that wrote it sends; the event's key
(`quota.warning:<quota>:<month>`) is unique per endpoint too. So a re-run, a second sensor tick or
two sensors at once notice nothing twice. At most once: an email the mailer refuses is logged and
not retried (the row says how many went out), as the usage route and the 402 still say it all.

Usage is read through accounts/quotas.usage (the one counting rule) for the tenants on a limited
plan not yet noticed this month; run by the webhooks sensor every 30 s (sensors/webhooks.py).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import PLANS, Quota, plan
from realestate_assets.db.warehouse import dict_rows

log = logging.getLogger(__name__)

THRESHOLD = 0.8
EVENT = "quota.warning"
NOTICED: tuple[Quota, ...] = tuple(q for q, period in quotas.PERIOD.items() if period == "month")
LIMITED_PLANS = sorted(name for name, p in PLANS.items() if any(p.limit(q) is not None for q in NOTICED))

# Owners and admins who can act on a plan and read an email: active, verified members.
RECIPIENTS_SQL = """
SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.tenant_id = %s AND m.role IN ('owner', 'admin') AND u.is_active AND u.email_verified_at IS NOT NULL
ORDER BY u.email
"""

CLAIM_SQL = """
INSERT INTO quota_notices (tenant_id, quota, period_start, plan, used, quota_limit) VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (tenant_id, quota, period_start) DO NOTHING RETURNING id
"""


def due(usage: quotas.Usage, threshold: float = THRESHOLD) -> bool:
    """Whether `usage` has reached the notice threshold of a limited, periodic quota."""
    return usage.limit is not None and usage.period is not None and usage.used >= math.ceil(threshold * usage.limit)


def event_key(quota: str, period_start: datetime) -> str:
    return f"{EVENT}:{quota}:{period_start:%Y-%m}"


def event_data(usage: quotas.Usage) -> dict[str, Any]:
    assert usage.limit is not None and usage.period_start is not None and usage.resets_at is not None
    return {"quota": usage.quota, "plan": usage.plan, "used": usage.used, "limit": usage.limit,
            "share": round(usage.used / usage.limit, 4), "threshold": THRESHOLD, "period": usage.period,
            "period_start": usage.period_start.isoformat(), "resets_at": usage.resets_at.isoformat()}


def send_quota_notices(conn: Any, mail: Any, *, enqueue: Any, base_url: str | None,
                       now: datetime | None = None) -> int:
    """Notice every tenant whose monthly quota crossed the threshold and was not noticed yet this
    month; how many notices were sent. `mail`: accounts.notices.AccountMail; `enqueue`:
    outreach.webhooks.enqueue. Runs as the tables' owner across tenants; commits each notice."""
    from realestate_assets.outreach.mailer import ProviderError

    now = now or datetime.now(UTC)
    start, _ = quotas.period_bounds("month", now)
    assert start is not None
    sent = 0
    with conn.cursor() as cur:
        cur.execute("SELECT t.id, t.plan, coalesce(s.display_name, t.name) AS name, "
                    "coalesce(array_agg(n.quota) FILTER (WHERE n.quota IS NOT NULL), '{}') AS noticed "
                    "FROM tenants t LEFT JOIN tenant_settings s ON s.tenant_id = t.id "
                    "LEFT JOIN quota_notices n ON n.tenant_id = t.id AND n.period_start = %s "
                    "WHERE t.plan = ANY(%s) GROUP BY t.id, t.plan, s.display_name, t.name ORDER BY t.id",
                    (start.date(), LIMITED_PLANS))
        tenants = dict_rows(cur)
        for tenant in tenants:
            plan_ = plan(tenant["plan"])
            for quota in NOTICED:
                if quota in tenant["noticed"] or plan_.limit(quota) is None:
                    continue
                found = quotas.usage(cur, tenant["id"], quota, now, plan_)
                if not due(found):
                    continue
                cur.execute(CLAIM_SQL, (tenant["id"], quota, start.date(), plan_.name, found.used, found.limit))
                claimed = cur.fetchone()
                if claimed is None:
                    continue  # another tick noticed it first
                cur.execute(RECIPIENTS_SQL, (tenant["id"],))
                emailed = 0
                for (email,) in cur.fetchall():
                    try:
                        mail.send_quota_notice(found, email, tenant["name"], base_url=base_url)
                        emailed += 1
                    except ProviderError as exc:
                        log.error("quota notice to %s (%s, %s) not sent: %s", email, tenant["id"], quota, exc)
                enqueue(cur, tenant["id"], EVENT, event_key(quota, start), event_data(found))
                cur.execute("UPDATE quota_notices SET recipients = %s WHERE id = %s", (emailed, claimed[0]))
                conn.commit()
                sent += 1
    conn.commit()
    return sent
