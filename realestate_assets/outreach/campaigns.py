"""Who gets which email, and why: campaigns × recipients × what they were sent before. No Dagster imports.

Two steps, both used by the `emails` asset and by `reos campaigns plan` (which stops after the first):

1. `plan_county` (pure, no rendering, no I/O) decides per recipient what to send and why:

   * single-property emails — `new_opportunity` (send_key `packet:<id>`) and `custom_alert`
     (`<alert>:packet:<id>`) — at most `pacing.max_single_emails_per_day` per recipient, county and
     UTC day, best score first; the rest of the day's new properties go in that day's digest;
   * a recipient who never had an email for this county gets a digest, never a flood;
   * `daily_digest` — the properties new to the recipient (never listed in an earlier email), best
     first, at most `max_items`; the rest wait for the next digest. Its subject's `{count}`, its list
     and its stored `packet_ids` are the same properties. send_key `daily:<county>:<date>` (a second
     digest the same day: `…:<date>:2`);
   * `weekly_summary` — the recipient's top `max_items` and their statistics, once an ISO week
     (send_key `weekly:<county>:<year>-W<week>`).

   "New to the recipient" comes from the `emails` rows of this county (`History`): every property an
   earlier single email or digest listed. Emails already planned today, and earlier ones still
   pending or retryable, are planned again as they were (same key, same properties): the delivery
   state machine then sends each exactly once.

2. `CampaignPlanner.render` turns those decisions into `PlannedEmail`s: contents rendered once per
   group of recipients who receive the same thing; per-recipient values (name, unsubscribe link)
   are placeholders filled by the mailer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from realestate_assets.accounts import quotas
from realestate_assets.config_models import (
    SINGLE_PROPERTY_CAMPAIGNS,
    CampaignConfig,
    CountyConfig,
    Recipient,
    Sender,
)
from realestate_assets.docs.context import sender_context
from realestate_assets.docs.memo import render_email_html
from realestate_assets.outreach.compliance import suppressed_among
from realestate_assets.outreach.delivery import PlannedEmail, choose_variant
from realestate_assets.outreach.messages import (
    Attachment,
    Content,
    personalize,
    placeholder,
    safe_filename,
    text_body,
)

TEMPLATES = {"new_opportunity": "email_notification", "custom_alert": "email_custom_alert",
             "daily_digest": "email_daily_digest", "weekly_summary": "email_weekly_summary"}
LABELS = {"new_opportunity": "new opportunities", "custom_alert": "your saved alerts",
          "daily_digest": "the daily digest", "weekly_summary": "the weekly summary"}
# The digest that takes paced properties when no daily_digest campaign is configured.
DEFAULT_DIGEST = CampaignConfig(key="daily_digest", type="daily_digest", attach_pdf=False, categories=["digest"],
                                subjects=["{count} new investment leads in {county} ({date})"],
                                intro="New properties in {county} that match your criteria.")
# What each email says about an attachment, only when the file is attached.
ATTACHED = {"new_opportunity": "The full investor memo (PDF) is attached.",
            "custom_alert": "The full investor memo (PDF) is attached.",
            "weekly_summary": "The portfolio overview (PDF) is attached."}


def takes(recipient: Recipient, county_key: str, campaign_type: str, item: dict[str, Any]) -> bool:
    """Whether a recipient receives this property (`bird_dog_score`, `use_type`, `estimated_value`)
    in a campaign type: the one segment rule behind every campaign, and so behind which packets are
    rendered at all (`planned_prospects`)."""
    return campaign_type in recipient.campaigns and recipient.wants(
        county_key, item["bird_dog_score"], use_type=item["use_type"], estimated_value=item["estimated_value"])


def planned_prospects(plans: Sequence[RecipientPlan]) -> set[str]:
    """The properties today's plan sends to someone (single emails, digests, weekly summaries),
    suppressed recipients left out: the packets the pipeline renders now. The others wait until a
    plan takes them (pacing and digest sizes decide when), or are rendered on demand."""
    return {item["prospect_key"] for plan in plans if not plan.suppressed for email in plan.emails
            for item in email.items}


# ---------------------------------------------------------------------------------- planning (pure)


@dataclass(frozen=True)
class EarlierEmail:
    """One `emails` row of this county: what it listed, when, and where it stands."""

    recipient: str
    campaign: str
    send_key: str
    packet_ids: tuple[int, ...]
    created_at: datetime
    status: str
    retryable: bool = True


@dataclass(frozen=True)
class Decision:
    """One email to send (or to offer again to the state machine), with the reason in words."""

    recipient: Recipient
    campaign: CampaignConfig
    send_key: str
    items: tuple[dict[str, Any], ...]
    why: str
    alert: str | None = None
    again: bool = False  # an email planned by an earlier run, planned again as it was

    @property
    def packet_ids(self) -> tuple[int, ...]:
        return tuple(int(i["packet_id"]) for i in self.items)


@dataclass
class RecipientPlan:
    recipient: Recipient
    emails: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    suppressed: bool = False


def _segment_note(recipient: Recipient, county_key: str, items: Sequence[dict[str, Any]]) -> list[str]:
    if recipient.counties and county_key not in recipient.counties:
        return [f"not subscribed to {county_key} (counties: {', '.join(recipient.counties)})"]
    below = sum(i["bird_dog_score"] < recipient.min_score for i in items)
    other = sum(i["bird_dog_score"] >= recipient.min_score
                and not recipient.wants(county_key, i["bird_dog_score"], use_type=i["use_type"],
                                        estimated_value=i["estimated_value"]) for i in items)
    notes = []
    if below:
        notes.append(f"{below} properties below the recipient's threshold (min_score {recipient.min_score:g})")
    if other:
        notes.append(f"{other} properties outside the recipient's property types or budget")
    return notes


def _week_key(county_key: str, now: datetime) -> str:
    year, week, _ = now.isocalendar()
    return f"weekly:{county_key}:{year}-W{week:02d}"


def plan_county(*, county_key: str, campaigns: Sequence[CampaignConfig], recipients: Sequence[Recipient],
                items: Sequence[dict[str, Any]], history: Sequence[EarlierEmail], now: datetime,
                max_single_per_day: int, suppressed: frozenset[str] | set[str] = frozenset(),
                ) -> list[RecipientPlan]:
    """Per recipient: the emails to send now and why, and what is held back and why (module docstring).

    `items` are the county's current memo packets (`packet_id`, `bird_dog_score`, `use_type`,
    `estimated_value`, … as the alert criteria read them); `history` the county's `emails` rows.
    """
    by_key = {c.key: c for c in campaigns}
    ranked = sorted(items, key=lambda i: (-i["bird_dog_score"], i["packet_id"]))
    by_packet = {int(i["packet_id"]): i for i in ranked}
    today = now.date()
    plans = []
    for recipient in recipients:
        plan = RecipientPlan(recipient, suppressed=recipient.address in suppressed)
        # The campaigns whose segment holds this recipient: the first of each type (config order).
        by_type: dict[str, CampaignConfig] = {}
        for c in campaigns:
            if c.reaches(recipient):
                by_type.setdefault(c.type, c)
        digest_campaign = by_type.get("daily_digest", DEFAULT_DIGEST)
        plans.append(plan)
        if plan.suppressed:
            plan.notes.append("suppressed (unsubscribed, bounced or reported spam): nothing is sent")
        rows = [r for r in history if r.recipient == recipient.address]
        kinds = {r.send_key: (by_key[r.campaign].type if r.campaign in by_key else None) for r in rows}
        # Weekly summaries recap; every other email offers the properties it lists.
        offered = {p for r in rows if kinds[r.send_key] != "weekly_summary" for p in r.packet_ids}
        today_rows = [r for r in rows if r.created_at.date() == today]
        # 1. Emails planned before: today's, and earlier ones not finished, planned again as they were.
        for row in rows:
            unfinished = row.status == "pending" or (row.status == "failed" and row.retryable)
            if row.created_at.date() != today and not unfinished:
                continue
            campaign = by_key.get(row.campaign)
            listed = tuple(by_packet[p] for p in row.packet_ids if p in by_packet)
            if campaign is None or not campaign.enabled or not listed:
                continue
            alert = row.send_key.split(":packet:", 1)[0] if campaign.type == "custom_alert" else None
            plan.emails.append(Decision(recipient, campaign, row.send_key, listed, alert=alert, again=True,
                                        why=f"planned on {row.created_at:%Y-%m-%d %H:%M} UTC ({row.status})"))
        plan.notes += _segment_note(recipient, county_key, ranked)
        # 2. Properties new to this recipient, best first: single emails up to the day's cap, the rest digested.
        singles: list[tuple[dict[str, Any], CampaignConfig, str | None]] = []
        digest_only: list[dict[str, Any]] = []
        for item in ranked:
            if int(item["packet_id"]) in offered:
                continue
            alert_campaign = by_type.get("custom_alert")
            alert = next((a.name for a in recipient.alerts if alert_campaign is not None
                          and takes(recipient, county_key, "custom_alert", item) and a.criteria.matches(item)), None)
            if alert is not None and alert_campaign is not None and alert_campaign.lists(county_key, item):
                singles.append((item, alert_campaign, alert))
            elif "new_opportunity" in by_type and takes(recipient, county_key, "new_opportunity", item) \
                    and by_type["new_opportunity"].lists(county_key, item):
                singles.append((item, by_type["new_opportunity"], None))
            elif "daily_digest" in by_type and takes(recipient, county_key, "daily_digest", item) \
                    and by_type["daily_digest"].lists(county_key, item):
                digest_only.append(item)
        sent_today = sum(kinds[r.send_key] in SINGLE_PROPERTY_CAMPAIGNS for r in today_rows)
        if not rows and singles:
            allowed = 0
            plan.notes.append(f"first email for {county_key}: {len(singles)} properties go in one digest, "
                              "not one email each")
        else:
            allowed = max(0, max_single_per_day - sent_today)
        for item, campaign, alert in singles[:allowed]:
            key = f"{alert}:packet:{item['packet_id']}" if alert else f"packet:{item['packet_id']}"
            why = (f"matches saved alert '{alert}'" if alert else "new property in the recipient's segment") + \
                f"; single email {sent_today + 1} of at most {max_single_per_day} today"
            sent_today += 1
            plan.emails.append(Decision(recipient, campaign, key, (item,), why=why, alert=alert))
        paced = [item for item, _, _ in singles[allowed:]]
        if paced and rows:
            plan.notes.append(f"pacing: {len(paced)} more single-property emails moved to the digest "
                              f"(at most {max_single_per_day} a day)")
        waiting = sorted(paced + digest_only, key=lambda i: (-i["bird_dog_score"], i["packet_id"]))
        if waiting:
            listed = tuple(waiting[:digest_campaign.max_items])
            digests_today = sum(kinds[r.send_key] == "daily_digest" for r in today_rows)
            key = f"daily:{county_key}:{today.isoformat()}" + (f":{digests_today + 1}" if digests_today else "")
            plan.emails.append(Decision(recipient, digest_campaign, key, listed,
                                        why=f"{len(listed)} new properties, best first"))
            if len(waiting) > len(listed):
                plan.notes.append(f"{len(waiting) - len(listed)} more new properties wait for the next digest "
                                  f"(at most {digest_campaign.max_items} listed)")
        # 3. The weekly summary, once an ISO week.
        weekly = by_type.get("weekly_summary")
        week_key = _week_key(county_key, now)
        if weekly is not None and week_key not in kinds:
            top = [i for i in ranked if takes(recipient, county_key, "weekly_summary", i)
                   and weekly.lists(county_key, i)][:weekly.max_items]
            if top:
                plan.emails.append(Decision(recipient, weekly, week_key, tuple(top),
                                            why=f"weekly summary: top {len(top)}"))
        if not plan.emails and not plan.notes:
            plan.notes.append("nothing new for this recipient")
    return plans


# ---------------------------------------------------------------------------------- reading the warehouse
# What planning reads, shared by the `emails` asset and `reos campaigns plan` (no Dagster here).

# The county's properties at or above the packet threshold with what campaigns filter and show, and
# their memo packet. Without one yet (`unrendered`), a property stands in with its score row's id,
# negated, so it can never be taken for a packet: the packets step plans with them to learn what
# to render; the emails step plans with rendered packets only.
EMAIL_ITEMS_SQL = """
SELECT coalesce(k.id, -s.id) AS packet_id, s.prospect_key, k.object_path, coalesce(k.created_at, s.created_at)
       AS created_at, s.bird_dog_score, s.estimated_value, s.value_gap_pct, s.score_breakdown,
       p.parcel_id, p.address, e.use_type, e.living_sqft, e.beds, e.waterfront, e.comps_count
FROM scores s
JOIN prospects p USING (county, prospect_key)
JOIN enrichment e USING (county, prospect_key)
LEFT JOIN packets k ON k.tenant_id = :tenant AND k.county = s.county AND k.prospect_key = s.prospect_key
     AND k.template = :template
WHERE s.county = :county AND s.bird_dog_score >= :threshold
  AND (k.id IS NOT NULL OR :unrendered)
ORDER BY s.score_rank
"""


def read_items(wh: Any, params: dict[str, Any], county: CountyConfig, *, threshold: float,
               template: str = "investor_memo", unrendered: bool = False) -> list[dict[str, Any]]:
    """The county's current memo packets at or above the packet threshold, as the planner reads them
    (plain Python values, NULL as None); with `unrendered`, the properties without one too."""
    import pandas as pd

    frame = wh.frame(EMAIL_ITEMS_SQL, {**params, "template": template, "threshold": threshold,
                                       "unrendered": unrendered})
    items = []
    for row in frame.to_dict("records"):
        breakdown = row.pop("score_breakdown") or {}
        row["reasons"] = breakdown.get("reasons", [])
        row["county_name"] = f"{county.name}, {county.state}"
        row["created_at"] = pd.Timestamp(row["created_at"]).to_pydatetime()
        items.append({k: (None if not isinstance(v, list | dict) and pd.isna(v) else v) for k, v in row.items()})
    return items


def read_history(wh: Any, params: dict[str, Any]) -> list[EarlierEmail]:
    """The county's `emails` rows, as planning reads them (what each recipient was told, when)."""
    import pandas as pd

    frame = wh.frame("SELECT recipient_email, campaign, send_key, packet_ids, created_at, status, retryable "
                     "FROM emails WHERE tenant_id = :tenant AND county = :county ORDER BY id", params)
    return [EarlierEmail(recipient=r.recipient_email, campaign=r.campaign, send_key=r.send_key,
                         packet_ids=tuple(int(p) for p in (r.packet_ids or [])),
                         created_at=pd.Timestamp(r.created_at).to_pydatetime(), status=r.status,
                         retryable=bool(r.retryable)) for r in frame.itertuples()]


def read_suppressed(wh: Any, tenant: str) -> set[str]:
    """The tenant's recipients' addresses that are suppressed (compared by hash: an address erased
    on request and imported again is among them)."""
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT email FROM recipients WHERE tenant_id = %s", (tenant,))
        return suppressed_among(cur, tenant, [r[0] for r in cur.fetchall()])


# ---------------------------------------------------------------------------------- rendering


def _criteria_text(criteria: Any) -> str:
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in criteria.model_dump(exclude_defaults=True).items()]
    return ", ".join(parts) or "every property"


class CampaignPlanner:
    """Renders `plan_county`'s decisions into `PlannedEmail`s (one content per group of recipients).

    `link_for(item, campaign)` gives the memo link an email shows (`/p/<token>` on the API, valid for
    the campaign's `link_ttl_days`), or None; no raw object URL is ever embedded.
    """

    def __init__(self, *, county: CountyConfig, sender: Sender, recipients: list[Recipient],
                 items: list[dict[str, Any]], now: datetime, load_object: Callable[[str], bytes],
                 portfolio: dict[str, Any] | None = None,
                 link_for: Callable[[dict[str, Any], CampaignConfig], tuple[str, datetime] | None] | None = None,
                 ) -> None:
        self.county, self.sender, self.recipients = county, sender, recipients
        self.items, self.now, self.load_object, self.portfolio = items, now, load_object, portfolio
        self.link_for = link_for or (lambda item, campaign: None)
        self._contents: dict[str, Content] = {}
        self._objects: dict[str, bytes] = {}
        # Emails that could not be planned (a packet object missing, a render error), by
        # "campaign send_key recipient": recorded and skipped, the rest of the campaign goes on.
        self.failures: dict[str, str] = {}

    def plan(self, campaigns: Sequence[CampaignConfig], history: Sequence[EarlierEmail] = (), *,
             max_single_per_day: int = 3, suppressed: frozenset[str] | set[str] = frozenset()) -> list[RecipientPlan]:
        return plan_county(county_key=self.county.key, campaigns=campaigns, recipients=self.recipients,
                           items=self.items, history=history, now=self.now,
                           max_single_per_day=max_single_per_day, suppressed=suppressed)

    @contextmanager
    def _one_email(self, campaign: CampaignConfig, send_key: str, recipient: Recipient) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.failures[f"{campaign.key} {send_key} {recipient.address}"] = f"{type(exc).__name__}: {exc}"[:500]

    def _object(self, key: str) -> bytes:
        if key not in self._objects:
            self._objects[key] = self.load_object(key)
        return self._objects[key]

    def _tokens(self, items: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        first = items[0] if items else {}
        return {"county": self.county.name, "state": self.county.state, "count": len(items),
                "parcel_id": first.get("parcel_id"),
                "address": first.get("address") or f"parcel {first.get('parcel_id')}",
                "score": f"{first['bird_dog_score']:.0f}" if first else "",
                "estimated_value": f"${first['estimated_value']:,.0f}" if first.get("estimated_value") else "",
                "date": self.now.date().isoformat(), **extra}

    def _linked(self, campaign: CampaignConfig, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            link = self.link_for(item, campaign)
            out.append({**item, "link": link[0] if link else None,
                        "link_expires": f"{link[1]:%Y-%m-%d}" if link else None})
        return out

    def _content(self, campaign: CampaignConfig, group_key: str, items: list[dict[str, Any]],
                 attachments: tuple[Attachment, ...], **extra: Any) -> Content:
        if group_key in self._contents:
            return self._contents[group_key]
        tokens = self._tokens(items, **{k: v for k, v in extra.items() if k == "alert"},
                              first_name=placeholder("first_name"), name=placeholder("name"))
        intro = personalize(campaign.intro, tokens)
        sender = sender_context(self.sender)
        attached = ATTACHED.get(campaign.type) if attachments else None
        context = {"sender": sender, "county": {"name": self.county.name, "state": self.county.state},
                   "intro": intro, "items": items, "first_name": placeholder("first_name"),
                   "unsubscribe_url": placeholder("unsubscribe_url"), "campaign_label": LABELS[campaign.type],
                   "attached": attached, **extra}
        html = render_email_html(TEMPLATES[campaign.type], context)
        text = text_body(greeting_name=placeholder("first_name"), intro=intro, items=items, attached=attached,
                         sender=sender, campaign_label=LABELS[campaign.type], heading=extra.get("heading"))
        content = Content(group_key=group_key, html=html, text=text, attachments=attachments,
                          categories=tuple(dict.fromkeys([*campaign.categories, campaign.type, self.county.key])))
        self._contents[group_key] = content
        return content

    def _memo_attachment(self, campaign: CampaignConfig, item: dict[str, Any]) -> tuple[Attachment, ...]:
        if not campaign.attach_pdf or not item.get("object_path"):
            return ()
        return (Attachment(safe_filename(f"memo-{str(item.get('parcel_id') or item['packet_id']).strip('.')}.pdf"),
                           "application/pdf",
                           self._object(item["object_path"])),)

    def _portfolio_attachment(self, campaign: CampaignConfig) -> tuple[Attachment, ...]:
        if not campaign.attach_pdf or not self.portfolio:
            return ()
        return (Attachment(safe_filename(f"portfolio-{self.county.key}.pdf"), "application/pdf",
                           self._object(self.portfolio["object_path"])),)

    def _weekly_stats(self, recipient: Recipient) -> dict[str, Any]:
        segment = [i for i in self.items if takes(recipient, self.county.key, "weekly_summary", i)]
        scores = sorted(i["bird_dog_score"] for i in segment)
        since = self.now - timedelta(days=7)
        return {"properties": len(segment), "new_this_week": sum(i["created_at"] >= since for i in segment),
                "median_score": scores[len(scores) // 2] if scores else None}

    def render_one(self, d: Decision) -> PlannedEmail:
        campaign, items = d.campaign, self._linked(d.campaign, d.items)
        group = hashlib.sha256(",".join(str(p) for p in d.packet_ids).encode()).hexdigest()[:16]
        extra: dict[str, Any] = {}
        if campaign.type in SINGLE_PROPERTY_CAMPAIGNS:
            attachments = self._memo_attachment(campaign, d.items[0])
            if d.alert:
                criteria = next((a.criteria for a in d.recipient.alerts if a.name == d.alert), None)
                extra = {"alert": d.alert,
                         "criteria_text": _criteria_text(criteria) if criteria else "no longer configured"}
            group_key = f"{campaign.key}|{d.send_key}"
        elif campaign.type == "daily_digest":
            attachments = ()
            extra = {"period": self.now.date().isoformat(),
                     "heading": f"{len(items)} new {'property' if len(items) == 1 else 'properties'}"}
            group_key = f"{campaign.key}|{d.send_key}|{group}"
        else:
            attachments = self._portfolio_attachment(campaign)
            year, week, _ = self.now.isocalendar()
            stats = self._weekly_stats(d.recipient)
            extra = {"period": f"week {year}-W{week:02d}", "stats": stats,
                     "heading": f"Top {len(items)} of {stats['properties']} properties with a memo"}
            group_key = f"{campaign.key}|{d.send_key}|{group}|{sorted(stats.items())!r}"
        content = self._content(campaign, group_key, items, attachments, **extra)
        variant, subject = choose_variant(campaign.subjects, campaign.key, d.send_key, d.recipient.address)
        tokens = self._tokens(items, first_name=d.recipient.first_name, name=d.recipient.name,
                              **({"alert": d.alert} if d.alert else {}))
        return PlannedEmail(campaign=campaign.key, send_key=d.send_key, county=self.county.key,
                            recipient=d.recipient, subject=personalize(subject, tokens)[:250], variant=variant,
                            template=TEMPLATES[campaign.type], content=content,
                            packet_id=d.packet_ids[0] if campaign.type in SINGLE_PROPERTY_CAMPAIGNS else None,
                            packet_ids=d.packet_ids)

    def render(self, plans: Sequence[RecipientPlan]) -> list[PlannedEmail]:
        out = []
        for plan in plans:
            for d in plan.emails:
                with self._one_email(d.campaign, d.send_key, d.recipient):
                    out.append(self.render_one(d))
        return out


# An earlier email in these states may still go out (and count); any other state was settled.
UNSENT = ("pending", "sending", "failed")


def cap_emails(plans: list[RecipientPlan], history: list[EarlierEmail], room: quotas.Usage | None
               ) -> quotas.Capped[Decision]:
    """Keep the plans' emails within the month's remaining emails (quotas.cap), best-scored first:
    an email planned again whose earlier row was settled (sent, bounced …) costs nothing. Removes
    the skipped ones from `plans` in place; they are planned again by a later run."""
    settled = {(h.recipient, h.send_key) for h in history if h.status not in UNSENT}
    decisions = [d for plan in plans for d in plan.emails]
    capped = quotas.cap(decisions, room,
                        score=lambda d: max((float(i["bird_dog_score"]) for i in d.items), default=0.0),
                        free=lambda d: d.again and (d.recipient.address, d.send_key) in settled)
    if capped.skipped:
        kept = {id(d) for d in capped.kept}
        for plan in plans:
            plan.emails = [d for d in plan.emails if id(d) in kept]
    return capped
