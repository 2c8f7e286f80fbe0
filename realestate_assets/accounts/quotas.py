"""What a tenant has used of its plan (accounts/plans.py), and whether it may use more (issue #11).

The quotas and what counts against each:

* `properties` — distinct properties the tenant first received in the calendar month (UTC): a
  detail view in the API, a memo (packet) the pipeline made for it, an email (alert, digest) that
  listed it. Each is one `property_receipts` row per tenant, month and property (migration 0027),
  written with ON CONFLICT DO NOTHING: seeing the same property again the same month is free, and
  a re-run counts nothing twice.
* `emails` — campaign emails sent in the calendar month: the tenant's `emails` rows with a
  `sent_at` in it (the outbox is the record; nothing is counted twice).
* `storage` — bytes of the documents the tenant's `packets` rows point at, now (no period).
* `api_calls` — authenticated /api/v1 requests in the UTC day, counted by the API in the rate
  limiter's storage (Redis when `REDIS_URL` is set, else process memory: api/v1/throttle.py),
  which enforces the quota; each counted call is also kept per tenant and day for billing history
  (`api_call_days`, written in batches: api/v1/call_ledger.py).

A quota is *exhausted* when the usage has reached the limit: one more would go over it. The API
answers 402 (429 for API calls, with Retry-After) with the quota, usage, limit and reset time
(api/v1/usage.py); the pipeline's tenant steps skip the tenant's partition with the same reason
(`blocked`), they never fail the county. A run that starts within the plan does only what the
remaining headroom allows, best-scored first (`cap`); the rest is skipped with reason `quota`.

Functions take a psycopg2 cursor or connection whose transaction the caller owns: the API's runs
as `reos_api` under row-level security, the pipeline's as the owner (every query names the tenant).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar

from realestate_assets.accounts.plans import GIB, QUOTAS, Plan, Quota, plan

Period = Literal["month", "day"]
PERIOD: dict[Quota, Period | None] = {"properties": "month", "emails": "month", "api_calls": "day", "storage": None}
UNIT: dict[Quota, str] = {"properties": "properties", "emails": "emails", "api_calls": "API calls",
                          "storage": "bytes of stored documents"}
VIA = ("detail", "memo", "packet", "alert")  # how a property was first received (property_receipts.via)


def period_bounds(period: Period | None, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the UTC calendar month or day `now` is in; (None, None) without a period.
    The end is when the quota resets."""
    now = now.astimezone(UTC)
    if period == "day":
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    if period == "month":
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        return start, datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return None, None


@dataclass(frozen=True)
class Usage:
    """One quota of one tenant: how much is used of its plan's limit, and when that resets."""

    quota: Quota
    plan: str
    used: int
    limit: int | None  # None: unlimited
    period: Period | None
    period_start: datetime | None
    resets_at: datetime | None

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    @property
    def status(self) -> int:
        """HTTP status of a request refused on this quota: 429 for the daily API calls (waiting
        helps), 402 for the plan's limits (a bigger plan helps)."""
        return 429 if self.quota == "api_calls" else 402

    def reason(self) -> str:
        per = f" per {self.period}" if self.period else ""
        when = f"; it resets at {self.resets_at.isoformat()}" if self.resets_at else ""
        return (f"quota {self.quota}: the {self.plan} plan allows {_amount(self.quota, self.limit)}{per} and "
                f"{_amount(self.quota, self.used)} are used{when}")

    def members(self) -> dict[str, Any]:
        """The problem+json extension members of a refusal (RFC 9457 §3.2)."""
        return {"quota": self.quota, "plan": self.plan, "usage": self.used, "limit": self.limit,
                "resets_at": self.resets_at.isoformat() if self.resets_at else None}


def _amount(quota: Quota, value: int | None) -> str:
    if value is None:
        return f"unlimited {UNIT[quota]}"
    if quota == "storage":
        return f"{value / GIB:,.2f} GiB of stored documents"
    return f"{value:,} {UNIT[quota]}"


def usage_of(plan_: Plan, quota: Quota, used: int, now: datetime) -> Usage:
    start, end = period_bounds(PERIOD[quota], now)
    return Usage(quota, plan_.name, used, plan_.limit(quota), PERIOD[quota], start, end)


# ---- reading ---------------------------------------------------------------------------------

def tenant_plan(cur: Any, tenant_id: str) -> Plan:
    cur.execute("SELECT plan FROM tenants WHERE id = %s", (tenant_id,))
    row = cur.fetchone()
    return plan(row[0] if row else "free")


def set_plan(cur: Any, tenant_id: str, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Put the tenant on plan `name`, unaudited (`change_plan` is the audited one); (before, after), None
    when no such tenant."""
    cur.execute("SELECT plan FROM tenants WHERE id = %s", (tenant_id,))
    row = cur.fetchone()
    if row is None:
        return None
    cur.execute("UPDATE tenants SET plan = %s WHERE id = %s AND plan IS DISTINCT FROM %s", (name, tenant_id, name))
    return {"plan": row[0]}, {"plan": name}


def change_plan(cur: Any, who: Any, tenant_id: str, name: str, request_id: str | None = None,
                ip: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Put the tenant on plan `name` and audit it (`plan` on `tenants`; no row when it was on it
    already): the one way a plan changes, whoever asks — a platform admin (`PATCH /tenants/{id}`)
    or the billing provider's webhook (accounts/billing.py). The limits follow at once (every
    check reads `tenants.plan`), and so do the quota notices (they read it each tick). `who`: the
    audit's principal (accounts/roles.Principal). (before, after); None when no such tenant.
    Leaves the transaction scoped to the tenant (its audit row is the tenant's)."""
    from realestate_assets.accounts import store
    from realestate_assets.db.tenancy import set_tenant

    changed = set_plan(cur, tenant_id, name)
    if changed is None:
        return None
    set_tenant(cur, tenant_id)
    store.audit(cur, who, tenant_id, "plan", "tenants", tenant_id, before=changed[0], after=changed[1],
                request_id=request_id, ip=ip)
    return changed


def counted(cur: Any, tenant_id: str, quota: Quota, now: datetime) -> int:
    """What the database says the tenant used of `quota` in the period `now` is in. API calls
    are not in the database: the API counts them (api/v1/usage.py)."""
    start, _ = period_bounds(PERIOD[quota], now)
    if quota == "properties":
        assert start is not None
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s AND period_start = %s",
                    (tenant_id, start.date()))
    elif quota == "emails":
        cur.execute("SELECT count(*) FROM emails WHERE tenant_id = %s AND sent_at >= %s", (tenant_id, start))
    elif quota == "storage":
        cur.execute("SELECT coalesce(sum(size_bytes), 0) FROM packets WHERE tenant_id = %s", (tenant_id,))
    else:
        raise ValueError(f"{quota} is not counted in the database")
    return int(cur.fetchone()[0])


def usage(cur: Any, tenant_id: str, quota: Quota, now: datetime | None = None, plan_: Plan | None = None) -> Usage:
    now = now or datetime.now(UTC)
    plan_ = plan_ or tenant_plan(cur, tenant_id)
    return usage_of(plan_, quota, counted(cur, tenant_id, quota, now), now)


def blocked(conn: Any, tenant_id: str, *quotas: Quota, now: datetime | None = None) -> str | None:
    """Why the tenant may not use more of any of `quotas` now (the first exhausted one's reason),
    None when it may. For the pipeline's tenant steps: they skip the partition with this reason."""
    with conn.cursor() as cur:
        plan_ = tenant_plan(cur, tenant_id)
        for quota in quotas:
            if plan_.limit(quota) is None:
                continue
            found = usage(cur, tenant_id, quota, now, plan_)
            if found.exhausted:
                return found.reason()
    return None


# ---- capping a run to the headroom -------------------------------------------------------------

T = TypeVar("T")
SKIPPED_REASON = "quota"  # what a capped run's metadata names as the reason for what it left out


@dataclass(frozen=True)
class Capped(Generic[T]):
    """What a run may do within a quota's headroom: `kept` (in the order given) and `skipped`
    (best first); `reason` says which quota and how much was left when anything was skipped."""

    kept: list[T]
    skipped: list[T] = field(default_factory=list)
    reason: str | None = None

    def metadata(self, describe: Callable[[T], Any]) -> dict[str, Any]:
        """The run's record of what it left out: how many, why, and the first few."""
        return {"skipped_quota": len(self.skipped), "skipped_reason": SKIPPED_REASON if self.skipped else "",
                "skipped_quota_detail": self.reason or "",
                "skipped_quota_examples": [describe(x) for x in self.skipped[:20]]}


def cap(items: Sequence[T], found: Usage | None, *, score: Callable[[T], Any],
        free: Callable[[T], bool] = lambda _: False, cost: Callable[[T], int] = lambda _: 1) -> Capped[T]:
    """Keep what `found`'s headroom allows: every `free` item (costs nothing: a property already
    received this month, an email already sent, a document no bigger than the one it replaces), then
    the others best `score` first (a number, or a tuple: a memo asked for before any planned one;
    ties in the order given) while their `cost` (1 each; bytes for storage) fits in the remaining
    quota; from the first that does not fit, the rest are skipped (best-first, never a lower-scored
    one slipped in after). None or an unlimited plan keeps everything. Pure: the one rule the
    pipeline steps apply (assets/outreach.py: packets on properties and storage, emails on emails)."""
    remaining = None if found is None else found.remaining
    if remaining is None:
        return Capped(list(items))
    # reverse=True keeps ties in the order given (Python's sort is stable either way).
    costly = sorted((i for i, x in enumerate(items) if not free(x)), key=lambda i: score(items[i]), reverse=True)
    left, fits = remaining, 0
    for i in costly:
        if cost(items[i]) > left:
            break
        left -= cost(items[i])
        fits += 1
    dropped = set(costly[fits:])
    if not dropped:
        return Capped(list(items))
    assert found is not None
    amount = _amount(found.quota, remaining) if found.quota == "storage" else f"{remaining:,}"
    per = f" per {found.period}" if found.period else ""
    reason = (f"quota {found.quota}: {amount} of the {found.plan} plan's {_amount(found.quota, found.limit)}{per} "
              f"left; {len(costly):,} wanted, the {len(dropped):,} lowest-scored skipped")
    return Capped([x for i, x in enumerate(items) if i not in dropped],
                  [items[i] for i in costly[fits:]], reason)


def joined(*capped: Capped[T]) -> Capped[T]:
    """Several caps of one run as one record (packets: properties, then storage)."""
    return Capped([x for c in capped for x in c.kept], [x for c in capped for x in c.skipped],
                  "; ".join(c.reason for c in capped if c.reason) or None)


def headroom(conn: Any, tenant_id: str, quota: Quota, now: datetime | None = None) -> Usage | None:
    """The tenant's usage of `quota` for a run to cap itself with; None on an unlimited plan."""
    with conn.cursor() as cur:
        plan_ = tenant_plan(cur, tenant_id)
        return None if plan_.limit(quota) is None else usage(cur, tenant_id, quota, now, plan_)


# What a document is expected to take before it is rendered, so that a run stops *rendering* (not
# only storing) where the plan's storage would be crossed (`document_bytes`). From the tenant's own
# documents when it has some of the template (its branding, photos and counties make its sizes):
# the 95th percentile of its ESTIMATE_SAMPLE most recent — most documents fit, one unusually large
# does not hold back a whole run. Else DEFAULT_DOCUMENT_BYTES: the largest document of the sample
# county's run (king_wa, 2026-12-04: investor_memo 32.7–42.3 kB, executive_summary 18.1–18.7 kB,
# portfolio_overview 20.9 kB), rounded up to 48 KiB. An estimate can be low: what is rendered is
# still stored only while its real bytes fit (the same `cap`, after rendering).
ESTIMATE_SAMPLE = 200
ESTIMATE_PERCENTILE = 0.95
DEFAULT_DOCUMENT_BYTES = 48 * 1024


def document_bytes(conn: Any, tenant_id: str, templates: Iterable[str]) -> dict[str, int]:
    """The bytes a new document of each template is expected to take for this tenant (see
    ESTIMATE_SAMPLE above), for `cap` to stop rendering before the plan's storage is crossed."""
    wanted = sorted(set(templates))
    with conn.cursor() as cur:
        # Per template, its ESTIMATE_SAMPLE newest documents by a top-N sort (a LIMIT), not a window
        # numbering all of the tenant's documents: at 50,000 documents a memo request's check took
        # 136–181 ms with the window (measured, docs/api.md "Memo requests that cannot fit").
        cur.execute("SELECT t.template, (SELECT ceil(percentile_cont(%s) WITHIN GROUP (ORDER BY size_bytes)) FROM ("
                    "  SELECT size_bytes FROM packets WHERE tenant_id = %s AND template = t.template "
                    "  ORDER BY generated_at DESC LIMIT %s) AS own"
                    ") FROM unnest(%s::text[]) AS t(template)",
                    (ESTIMATE_PERCENTILE, tenant_id, ESTIMATE_SAMPLE, wanted))
        found = {template: int(size) for template, size in cur.fetchall() if size is not None}
    return {template: found.get(template, DEFAULT_DOCUMENT_BYTES) for template in wanted}


@dataclass(frozen=True)
class Rendering:
    """What may be rendered within the tenant's storage (`renderable`): `capped` (documents kept and
    skipped), the storage usage it was capped on (`space`; None on an unlimited plan), the bytes
    expected of a document per template (`sizes`) and the bytes each document is expected to add
    (`added`: its expected size less the stored document it replaces; not more is free)."""

    capped: Capped[Any]
    space: Usage | None
    sizes: dict[str, int]
    added: dict[Any, int]


def renderable(conn: Any, tenant_id: str, documents: Mapping[T, tuple[str, int]], *, score: Callable[[T], Any],
               now: datetime | None = None) -> Rendering:
    """Which of `documents` — each (template, bytes of the stored document a new render replaces, 0
    for a first) — may be rendered before the plan's storage is crossed: `cap` on the bytes each is
    expected to add (`document_bytes` less what it replaces), best `score` first. The one rule
    before rendering: the packets step renders only what it keeps (memos asked for first), and the
    API accepts a memo request only when its documents would be kept after those of the requests
    still open (`memo_refusal`)."""
    space = headroom(conn, tenant_id, "storage", now)
    sizes = {} if space is None else document_bytes(conn, tenant_id, {template for template, _ in documents.values()})
    added = {doc: sizes.get(template, 0) - replaced for doc, (template, replaced) in documents.items()}
    capped = cap(list(documents), space, score=score, cost=added.__getitem__, free=lambda doc: added[doc] <= 0)
    return Rendering(capped, space, sizes, added)


@dataclass(frozen=True)
class Refusal:
    """A request refused on a quota that is not used up: the quota's `usage` (the refusal's
    members) and why what was asked would cross it (`reason`)."""

    usage: Usage
    reason: str


class DocumentsOf(Protocol):
    """What a run makes of a property (config_models.PacketSettings.for_property)."""

    def __call__(self, asked: Iterable[str] = (), stored: Iterable[str] = ()) -> list[str]: ...


# The memos still to be made for the tenant: its open requests (packet_requests) of properties the
# packets step can render — a score row, as MEMO_ROWS_SQL reads them; one for a property without
# a score stays open and would hold its room forever — earliest asked first. The property being
# asked for now comes with its open request, if any, score or not.
OPEN_REQUESTS_SQL = """
SELECT r.county, r.prospect_key, r.templates FROM packet_requests r
WHERE r.tenant_id = %(tenant)s AND r.rendered_at IS NULL
  AND ((r.county, r.prospect_key) = (%(county)s, %(key)s)
       OR EXISTS (SELECT 1 FROM scores s WHERE s.county = r.county AND s.prospect_key = r.prospect_key))
ORDER BY r.requested_at, r.id
"""
STORED_SQL = """
SELECT k.county, k.prospect_key, k.template, k.size_bytes FROM packets k
JOIN unnest(%(counties)s::text[], %(keys)s::text[]) AS w(county, prospect_key) USING (county, prospect_key)
WHERE k.tenant_id = %(tenant)s
"""


def memo_refusal(conn: Any, tenant_id: str, county: str, prospect_key: str, asked: Sequence[str],
                 documents_of: DocumentsOf, now: datetime | None = None) -> Refusal | None:
    """Why a memo asked for now (the API's memo request, `asked`: the templates asked for beyond
    the configured ones) would not be made for lack of storage; None when it would. The packets step
    makes nothing for a tenant whose storage is used up (`blocked`) and renders a property's
    documents (`documents_of`: the configured templates, those asked for, those it has already)
    only while their expected bytes fit (`renderable`), memos asked for first; a request it would
    skip with reason `quota` is refused instead of left asked for. The tenant's requests still open
    are reserved: their documents are weighed before this one's, in the order they were asked (this
    property's own open request keeps its place), so that requests accepted one by one never promise
    together more than fits."""
    with conn.cursor() as cur:
        if tenant_plan(cur, tenant_id).limit("storage") is None:
            return None
        # Judged one at a time per tenant: two requests at once must not both take the last room
        # (held until the request is recorded and committed).
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"quota:storage:{tenant_id}",))
        cur.execute(OPEN_REQUESTS_SQL, {"tenant": tenant_id, "county": county, "key": prospect_key})
        memos: dict[tuple[str, str], list[str]] = {(c, k): list(templates or []) for c, k, templates in cur.fetchall()}
        this = (county, prospect_key)
        memos[this] = [*memos.get(this, []), *asked]  # a new request comes last
        cur.execute(STORED_SQL, {"tenant": tenant_id, "counties": [c for c, _ in memos],
                                 "keys": [k for _, k in memos]})
        stored: dict[tuple[str, str], dict[str, int]] = {}
        for c, k, template, size in cur.fetchall():
            stored.setdefault((c, k), {})[template] = int(size or 0)
    order = {memo: -i for i, memo in enumerate(memos)}
    documents = {(*memo, t): (t, stored.get(memo, {}).get(t, 0))
                 for memo, more in memos.items() for t in documents_of(more, stored.get(memo, {}))}
    found = renderable(conn, tenant_id, documents, score=lambda doc: order[doc[:2]], now=now)
    space = found.space
    if space is None:
        return None
    if space.exhausted:
        return Refusal(space, space.reason())
    if not any(doc[:2] == this for doc in found.capped.skipped):
        return None
    mine = [doc for doc in documents if doc[:2] == this]
    needed = sum(max(0, found.added[doc]) for doc in mine)
    held: Counter[tuple[str, str]] = Counter()  # bytes the requests asked for before this one hold
    for doc in documents:
        if order[doc[:2]] > order[this]:
            held[doc[:2]] += max(0, found.added[doc])
    reserved, requests = sum(held.values()), sum(1 for b in held.values() if b > 0)
    held_text = (f", {reserved:,} of them held for {requests:,} memo request{'s' if requests != 1 else ''} "
                 "asked for before and not rendered yet" if reserved else "")
    return Refusal(space, f"quota storage: the memo's documents ({', '.join(doc[2] for doc in mine)}) are expected "
                          f"to take {needed:,} bytes more and {space.remaining or 0:,} bytes are left of the "
                          f"{space.plan} plan's {_amount('storage', space.limit)}{held_text} "
                          f"(expected bytes a document: {found.sizes})")


def received_this_month(conn: Any, tenant_id: str, county: str, prospect_keys: Iterable[str],
                        now: datetime | None = None) -> set[str]:
    """Which of these properties the tenant already received this month (free to deliver again)."""
    with conn.cursor() as cur:
        cur.execute("SELECT prospect_key FROM property_receipts WHERE tenant_id = %s AND period_start = %s "
                    "AND county = %s AND prospect_key = ANY(%s)",
                    (tenant_id, _month(now or datetime.now(UTC)), county, sorted(set(prospect_keys))))
        return {r[0] for r in cur.fetchall()}


# ---- counting properties ---------------------------------------------------------------------

def _month(now: datetime) -> date:
    start, _ = period_bounds("month", now)
    assert start is not None
    return start.date()


def receive_property(cur: Any, tenant_id: str, county: str, prospect_key: str, via: str,
                     now: datetime | None = None, plan_: Plan | None = None,
                     wait_for_disk: bool = True) -> Usage | None:
    """Record that the tenant receives a property (API: a detail view, a memo). None when it may:
    already received this month (free) or within the plan; the exhausted `Usage` when it may not.
    `plan_`: the tenant's plan when the caller has read it already. `wait_for_disk=False`: the
    transaction commits without waiting for its WAL to reach the disk (`synchronous_commit = off`
    for it alone): a crash of PostgreSQL may lose the receipts of its last ~0.6 s (3 ×
    wal_writer_delay) — views then not counted, counted again when seen again — never a partial
    or inconsistent state."""
    now = now or datetime.now(UTC)
    month = _month(now)
    args = (tenant_id, month, county, prospect_key)
    if plan_ is None or not records_unread(plan_):
        # Limited (or not known yet): a property received already this month costs nothing to check.
        cur.execute("SELECT 1 FROM property_receipts WHERE tenant_id = %s AND period_start = %s AND county = %s "
                    "AND prospect_key = %s", args)
        if cur.fetchone() is not None:
            return None
        plan_ = plan_ or tenant_plan(cur, tenant_id)
    if plan_.properties is not None:
        # Two first views at once must not both take the last property of the month.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"quota:properties:{tenant_id}",))
        found = usage(cur, tenant_id, "properties", now, plan_)
        if found.exhausted:
            return found
    cur.execute(("" if wait_for_disk else NO_WAIT_FOR_DISK + "; ") + receipt_insert("VALUES (%s, %s, %s, %s, %s)"),
                (*args, via))
    return None


# A transaction that commits without waiting for its WAL to reach the disk (receive_property).
NO_WAIT_FOR_DISK = "SET LOCAL synchronous_commit = off"


def receipt_insert(rows: str) -> str:
    """The statement recording receipts: `rows` (VALUES or a SELECT) of (tenant_id, period_start,
    county, prospect_key, via); one a property and month (ON CONFLICT: counted once)."""
    return (f"INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) {rows} "
            "ON CONFLICT DO NOTHING")


def records_unread(plan_: Plan) -> bool:
    """Whether the tenant's receipts are recorded without reading first (receive_property): on a
    plan without a monthly properties limit nothing is refused, so a receipt may ride in the very
    statement that reads the property (the API's detail, one round trip)."""
    return plan_.properties is None


def month_of(now: datetime | None = None) -> date:
    """The period a receipt counts in (its `period_start`)."""
    return _month(now or datetime.now(UTC))


def record_properties(cur: Any, tenant_id: str, county: str, prospect_keys: Iterable[str], via: str,
                      now: datetime | None = None) -> int:
    """Record properties the pipeline delivered to the tenant (packets); how many were new this
    month. Not refused: the step checked `blocked` before it started and kept to the headroom
    (`cap`)."""
    keys = sorted(set(prospect_keys))
    if not keys:
        return 0
    cur.execute(receipt_insert("SELECT %s, %s, %s, k, %s FROM unnest(%s::text[]) AS k"),
                (tenant_id, month_of(now), county, via, keys))
    return int(cur.rowcount)


def record_emailed_properties(conn: Any, tenant_id: str, county: str, since: datetime) -> int:
    """Record the properties listed by the tenant's emails sent in `county` since `since` (alerts,
    digests: the packets each lists, `email_packets`); how many were new this month."""
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT p.prospect_key FROM emails e JOIN email_packets x ON x.email_id = e.id "
                    "JOIN packets p ON p.id = x.packet_id "
                    "WHERE e.tenant_id = %s AND e.county = %s AND e.sent_at >= %s AND p.prospect_key <> '_portfolio'",
                    (tenant_id, county, since))
        keys = [r[0] for r in cur.fetchall()]
        return record_properties(cur, tenant_id, county, keys, "alert")


def report(cur: Any, tenant_id: str, plan_: Plan, api_calls: int, now: datetime) -> list[Usage]:
    """Every quota's usage on the tenant's plan (`api_calls`: the API's count for today)."""
    return [usage_of(plan_, q, api_calls if q == "api_calls" else counted(cur, tenant_id, q, now), now)
            for q in QUOTAS]
