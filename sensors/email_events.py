"""Provider events → the `emails` asset's metadata (open, click, bounce rates per campaign).

The API records SendGrid events in `email_events`; this sensor watches that table (cursor: the
last event id it has seen) and, when new events arrived, reports an `AssetObservation` of
`emails` for each county partition they touched, carrying the per-campaign rates. Observations
update the asset's metadata in the UI without re-running (or re-sending) anything.
"""

from __future__ import annotations

import dagster as dg

from resources import PlatformResource, WarehouseResource


@dg.sensor(
    name="email_events_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New SendGrid events (email_events) → AssetObservation of `emails` with per-campaign rates.",
)
def email_events_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource,
                        warehouse: WarehouseResource) -> dg.SensorResult:
    from realestate_assets.outreach.events import campaign_rates

    last_seen = int(context.cursor or 0)
    tenant = platform.tenant_id
    with warehouse.get().transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT max(id), count(*), array_agg(DISTINCT county) FILTER (WHERE county IS NOT NULL) "
                    "FROM email_events WHERE tenant_id = %s AND id > %s", (tenant, last_seen))
        newest, count, counties = cur.fetchone()
        if not count:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"no new email events after id {last_seen}"))
        observations = []
        for county in sorted(counties or []):
            rates = campaign_rates(conn, tenant, county)
            metadata: dict[str, object] = {"campaign_rates": dg.MetadataValue.json(rates),
                                           "events_seen_up_to_id": int(newest)}
            for campaign, r in rates.items():
                if campaign.startswith("_"):
                    continue
                for name, label in (("opened_rate", "open_rate"), ("clicked_rate", "click_rate"),
                                    ("bounced_rate", "bounce_rate")):
                    metadata[f"{campaign}/{label}"] = dg.MetadataValue.float(r[name])
            observations.append(dg.AssetObservation(asset_key="emails", partition=county, metadata=metadata))
    context.log.info(f"{count} new email events; observed {len(observations)} partitions")
    return dg.SensorResult(asset_events=observations, cursor=str(newest))
