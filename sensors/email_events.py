"""Provider events → the `emails` asset's metadata (open, click, bounce rates per campaign).

The API records SendGrid events in `email_events`; this sensor watches that table (cursor: the
last event id it has seen) and, when new events arrived, reports an `AssetObservation` of
`emails` for each (county, tenant) partition they touched, carrying the tenant's per-campaign
rates in that county (events of a tenant whose partition key is gone are not observed). Observations
update the asset's metadata in the UI without re-running (or re-sending) anything.
"""

from __future__ import annotations

import dagster as dg

from partitions.tenants import TENANT, county_tenant_key
from resources import WarehouseResource


@dg.sensor(
    name="email_events_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New SendGrid events (email_events) → AssetObservation of `emails` with per-campaign rates.",
)
def email_events_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    from realestate_assets.outreach.events import campaign_rates

    last_seen = int(context.cursor or 0)
    keyed = set(context.instance.get_dynamic_partitions(TENANT))
    with warehouse.get().transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT max(id), count(*) FROM email_events WHERE id > %s", (last_seen,))
        newest, count = cur.fetchone()
        if not count:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"no new email events after id {last_seen}"))
        cur.execute("SELECT DISTINCT tenant_id, county FROM email_events WHERE id > %s AND id <= %s "
                    "AND tenant_id IS NOT NULL AND county IS NOT NULL ORDER BY 1, 2", (last_seen, newest))
        touched = [(tenant, county) for tenant, county in cur.fetchall() if tenant in keyed]
        observations = []
        for tenant, county in touched:
            rates = campaign_rates(conn, tenant, county)
            metadata: dict[str, object] = {"campaign_rates": dg.MetadataValue.json(rates),
                                           "events_seen_up_to_id": int(newest)}
            for campaign, r in rates.items():
                if campaign.startswith("_"):
                    continue
                for name, label in (("opened_rate", "open_rate"), ("clicked_rate", "click_rate"),
                                    ("bounced_rate", "bounce_rate")):
                    metadata[f"{campaign}/{label}"] = dg.MetadataValue.float(r[name])
            partition = str(county_tenant_key(county, tenant))
            observations.append(dg.AssetObservation(asset_key="emails", partition=partition, metadata=metadata))
    context.log.info(f"{count} new email events; observed {len(observations)} partitions")
    return dg.SensorResult(asset_events=observations, cursor=str(newest))
