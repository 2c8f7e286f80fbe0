"""Outgoing webhooks: new deals and sent campaigns → each tenant's endpoints (Standard Webhooks).

Every 30 s: enqueue the events that happened since the cursor (scores crossing the packet
threshold in counties a tenant follows; a county's campaign emails all settled for a day), then
send what is due within a 20 s budget, each attempt with a 10 s timeout
(realestate_assets/outreach/webhooks.py). Sending happens here, outside every run: a slow or dead
endpoint delays only its own deliveries and never a materialization. Retries are rows with a due
time, so a restarted daemon picks up where it was. Then the saved-search digests: one email per
search with new matches to its owner, through the account mailer (outreach/search_alerts.py).
Last, the quota notices: a tenant past 80 % of a monthly limit gets one email to its owners and
admins and one `quota.warning` event, once per quota and month (accounts/quota_notices.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg

from resources import MailerResource, ObjectStoreResource, PlatformResource, WarehouseResource


@dg.sensor(
    name="webhooks_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New deals and sent campaigns → signed deliveries to tenants' webhook endpoints, with retries; "
                "saved-search matches → a digest email to each search's owner.",
)
def webhooks_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource, warehouse: WarehouseResource,
                    object_store: ObjectStoreResource, mailer: MailerResource) -> dg.SensorResult:
    from realestate_assets.accounts.notices import AccountMail
    from realestate_assets.accounts.quota_notices import send_quota_notices
    from realestate_assets.config_models import load_scoring
    from realestate_assets.outreach.search_alerts import send_search_digests
    from realestate_assets.outreach.webhooks import deliver_due, delivery_summary, enqueue, enqueue_events

    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    threshold = load_scoring(Path(platform.config_dir)).packet_threshold
    wh = warehouse.get()
    with wh.transaction() as conn, conn.cursor() as cur:
        enqueued, cursor = enqueue_events(cur, threshold=threshold, since=since,
                                          public_base_url=object_store.public_base_url or None)
    with wh.transaction() as conn:
        summary = delivery_summary(deliver_due(conn))
    sender = platform.outreach().sender  # account mail's sender (api/app.py account_mail reads the same)
    account_mail = AccountMail(mailer.get(), from_email=sender.email, from_name=sender.name)
    with wh.transaction() as conn:
        digests = send_search_digests(conn, account_mail, public_base_url=object_store.public_base_url or None)
    with wh.transaction() as conn:
        notices = send_quota_notices(conn, account_mail, enqueue=enqueue,
                                     base_url=object_store.public_base_url or None)
    message = (f"{enqueued} deliveries enqueued; {summary['delivered']} delivered, "
               f"{summary['failed']} failed attempts; saved-search digests: {digests['sent']} sent, "
               f"{digests['skipped']} skipped, {digests['failed']} refused by the mailer, "
               f"{digests['held']} holding matches past the properties quota; "
               f"{notices} quota notices")
    new_cursor = cursor.isoformat() if cursor is not None else context.cursor
    if not enqueued and not summary["attempted"] and not sum(digests.values()) and not notices:
        return dg.SensorResult(skip_reason=dg.SkipReason("no webhook events and nothing due"), cursor=new_cursor)
    context.log.info(message)
    return dg.SensorResult(skip_reason=dg.SkipReason(message), cursor=new_cursor)
