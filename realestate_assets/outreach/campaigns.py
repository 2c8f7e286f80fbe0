"""Who gets which email: campaigns × recipients' segments → planned emails. No Dagster imports.

Campaign types (config/campaigns.yaml), each with its own template:

* `new_opportunity` — one email per new packet per matching recipient (send_key `packet:<id>`).
* `custom_alert` — a recipient's saved criteria; one email per matching packet per alert
  (send_key `<alert>:packet:<id>`).
* `daily_digest` — the packets first generated in the last 24 hours, once a day
  (send_key `daily:<county>:<date>`), skipped when there is nothing new.
* `weekly_summary` — the county's top packets and the portfolio overview PDF, once an ISO week
  (send_key `weekly:<county>:<year>-W<week>`).

Contents are rendered once per group of recipients who receive the same thing; per-recipient
values (name, unsubscribe link) are placeholders filled by the mailer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from realestate_assets.config_models import CampaignConfig, CountyConfig, Recipient, Sender
from realestate_assets.docs.context import sender_context
from realestate_assets.docs.memo import render_email_html
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


def takes(recipient: Recipient, county_key: str, campaign_type: str, item: dict[str, Any]) -> bool:
    """Whether a recipient receives this property (`bird_dog_score`, `use_type`, `estimated_value`)
    in a campaign type: the one segment rule behind every campaign and behind which packets are
    rendered at all (`packet_is_read`)."""
    return campaign_type in recipient.campaigns and recipient.wants(
        county_key, item["bird_dog_score"], use_type=item["use_type"], estimated_value=item["estimated_value"])


def packet_is_read(recipients: list[Recipient], county_key: str, campaign_types: list[str],
                   item: dict[str, Any]) -> bool:
    """Whether a property's packets will be read: some recipient takes it in an enabled campaign
    (every campaign type attaches or links the memo). The rest are not rendered by the pipeline."""
    return any(takes(r, county_key, t, item) for r in recipients for t in campaign_types)


def _criteria_text(criteria: Any) -> str:
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in criteria.model_dump(exclude_defaults=True).items()]
    return ", ".join(parts) or "every property"


class CampaignPlanner:
    def __init__(self, *, county: CountyConfig, sender: Sender, recipients: list[Recipient],
                 items: list[dict[str, Any]], now: datetime, load_object: Callable[[str], bytes],
                 portfolio: dict[str, Any] | None = None) -> None:
        self.county, self.sender, self.recipients = county, sender, recipients
        self.items, self.now, self.load_object, self.portfolio = items, now, load_object, portfolio
        self._contents: dict[str, Content] = {}
        self._objects: dict[str, bytes] = {}
        # Emails that could not be planned (a packet object missing, a render error), by
        # "campaign send_key recipient": recorded and skipped, the rest of the campaign goes on.
        self.failures: dict[str, str] = {}

    @contextmanager
    def _one_email(self, campaign: CampaignConfig, send_key: str, recipient: Recipient) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.failures[f"{campaign.key} {send_key} {recipient.address}"] = f"{type(exc).__name__}: {exc}"[:500]

    def _segment(self, recipient: Recipient, campaign_type: str) -> list[dict[str, Any]]:
        return [i for i in self.items if takes(recipient, self.county.key, campaign_type, i)]

    def _object(self, key: str) -> bytes:
        if key not in self._objects:
            self._objects[key] = self.load_object(key)
        return self._objects[key]

    def _tokens(self, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        first = items[0] if items else {}
        return {"county": self.county.name, "state": self.county.state, "count": len(items),
                "parcel_id": first.get("parcel_id"),
                "address": first.get("address") or f"parcel {first.get('parcel_id')}",
                "score": f"{first['bird_dog_score']:.0f}" if first else "",
                "estimated_value": f"${first['estimated_value']:,.0f}" if first.get("estimated_value") else "",
                "date": self.now.date().isoformat(), **extra}

    def _content(self, campaign: CampaignConfig, group_key: str, items: list[dict[str, Any]],
                 attachments: tuple[Attachment, ...], **extra: Any) -> Content:
        if group_key in self._contents:
            return self._contents[group_key]
        tokens = self._tokens(items, **{k: v for k, v in extra.items() if k == "alert"},
                              first_name=placeholder("first_name"), name=placeholder("name"))
        intro = personalize(campaign.intro, tokens)
        sender = sender_context(self.sender)
        attached = ({"new_opportunity": "The full investor memo (PDF) is attached.",
                     "custom_alert": "The full investor memo (PDF) is attached.",
                     "weekly_summary": "The portfolio overview (PDF) is attached."}.get(campaign.type)
                    if attachments else None)
        context = {"sender": sender, "county": {"name": self.county.name, "state": self.county.state},
                   "intro": intro, "items": items, "first_name": placeholder("first_name"),
                   "unsubscribe_url": placeholder("unsubscribe_url"), "campaign_label": LABELS[campaign.type],
                   "attached": bool(attachments), **extra}
        html = render_email_html(TEMPLATES[campaign.type], context)
        text = text_body(greeting_name=placeholder("first_name"), intro=intro, items=items, attached=attached,
                         sender=sender, campaign_label=LABELS[campaign.type])
        content = Content(group_key=group_key, html=html, text=text, attachments=attachments,
                          categories=tuple(dict.fromkeys([*campaign.categories, campaign.type, self.county.key])))
        self._contents[group_key] = content
        return content

    def _planned(self, campaign: CampaignConfig, send_key: str, recipient: Recipient, content: Content,
                 items: list[dict[str, Any]], packet_id: int | None = None, **extra: Any) -> PlannedEmail:
        variant, subject = choose_variant(campaign.subjects, campaign.key, send_key, recipient.address)
        tokens = self._tokens(items, first_name=recipient.first_name, name=recipient.name, **extra)
        return PlannedEmail(campaign=campaign.key, send_key=send_key, county=self.county.key, recipient=recipient,
                            subject=personalize(subject, tokens)[:250], variant=variant,
                            template=TEMPLATES[campaign.type], content=content, packet_id=packet_id)

    def _memo_attachment(self, campaign: CampaignConfig, item: dict[str, Any]) -> tuple[Attachment, ...]:
        if not campaign.attach_pdf or not item.get("object_path"):
            return ()
        return (Attachment(safe_filename(f"memo-{str(item.get('parcel_id') or item['packet_id']).strip('.')}.pdf"),
                           "application/pdf",
                           self._object(item["object_path"])),)

    def plan(self, campaign: CampaignConfig) -> list[PlannedEmail]:
        out: list[PlannedEmail] = []
        if campaign.type == "new_opportunity":
            for recipient in self.recipients:
                for item in self._segment(recipient, "new_opportunity"):
                    send_key = f"packet:{item['packet_id']}"
                    with self._one_email(campaign, send_key, recipient):
                        content = self._content(campaign, f"{campaign.key}|{send_key}", [item],
                                                self._memo_attachment(campaign, item))
                        out.append(self._planned(campaign, send_key, recipient, content, [item], item["packet_id"]))
        elif campaign.type == "custom_alert":
            for recipient in self.recipients:
                for alert in recipient.alerts:
                    for item in self._segment(recipient, "custom_alert"):
                        if not alert.criteria.matches(item):
                            continue
                        send_key = f"{alert.name}:packet:{item['packet_id']}"
                        with self._one_email(campaign, send_key, recipient):
                            content = self._content(campaign, f"{campaign.key}|{send_key}", [item],
                                                    self._memo_attachment(campaign, item), alert=alert.name,
                                                    criteria_text=_criteria_text(alert.criteria))
                            out.append(self._planned(campaign, send_key, recipient, content, [item],
                                                     item["packet_id"], alert=alert.name))
        elif campaign.type == "daily_digest":
            since = self.now - timedelta(hours=24)
            send_key = f"daily:{self.county.key}:{self.now.date().isoformat()}"
            for recipient in self.recipients:
                items = [i for i in self._segment(recipient, "daily_digest") if i["created_at"] >= since]
                items = items[:campaign.max_items]
                if not items:
                    continue
                group = hashlib.sha256(",".join(str(i["packet_id"]) for i in items).encode()).hexdigest()[:16]
                with self._one_email(campaign, send_key, recipient):
                    content = self._content(campaign, f"{campaign.key}|{send_key}|{group}", items, (),
                                            period=self.now.date().isoformat())
                    out.append(self._planned(campaign, send_key, recipient, content, items))
        elif campaign.type == "weekly_summary":
            year, week, _ = self.now.isocalendar()
            send_key = f"weekly:{self.county.key}:{year}-W{week:02d}"
            attachments: tuple[Attachment, ...] = ()
            if campaign.attach_pdf and self.portfolio:
                try:
                    attachments = (Attachment(safe_filename(f"portfolio-{self.county.key}.pdf"),
                                              "application/pdf", self._object(self.portfolio["object_path"])),)
                except Exception as exc:  # no portfolio to attach: this campaign's emails wait, recorded
                    self.failures[f"{campaign.key} {send_key} *"] = f"{type(exc).__name__}: {exc}"[:500]
                    return out
            since = self.now - timedelta(days=7)
            for recipient in self.recipients:
                segment = self._segment(recipient, "weekly_summary")
                if not segment:
                    continue
                items = sorted(segment, key=lambda i: -i["bird_dog_score"])[:campaign.max_items]
                scores = sorted(i["bird_dog_score"] for i in segment)
                stats = {"properties": len(segment), "new_this_week": sum(i["created_at"] >= since for i in segment),
                         "median_score": scores[len(scores) // 2]}
                group = hashlib.sha256((",".join(str(i["packet_id"]) for i in items) + repr(sorted(stats.items())))
                                       .encode()).hexdigest()[:16]
                with self._one_email(campaign, send_key, recipient):
                    content = self._content(campaign, f"{campaign.key}|{send_key}|{group}", items, attachments,
                                            period=f"week {year}-W{week:02d}", stats=stats)
                    out.append(self._planned(campaign, send_key, recipient, content, items))
        return out
