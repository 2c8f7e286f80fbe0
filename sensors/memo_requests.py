"""Memos asked for through the API (`GET /api/v1/properties/{id}/memo`) → a `packets` run.

The API records each request in `packet_requests`; this sensor looks for open ones every 30 s and
asks for one `packets` run per (county, tenant) that has some, keyed by the newest request, so a
burst of requests is one run and a request is never launched twice. The asset renders the
requested properties beside the ones today's email plan sends and marks the requests done.
A tenant whose partition key `sensors.tenants` has not added yet waits for the next tick; a held
tenant (suspended, over its plan) is skipped with the reason in the log.
"""

from __future__ import annotations

import dagster as dg

from partitions.tenants import TENANT, county_tenant_key
from resources import WarehouseResource
from sensors.tenants import read_tenants

OPEN_REQUESTS_SQL = """
SELECT tenant_id, county, count(*), max(requested_at) FROM packet_requests
WHERE rendered_at IS NULL GROUP BY tenant_id, county ORDER BY tenant_id, county
"""


def memo_run_requests(open_requests: list[tuple[str, str, int, object]]) -> list[dg.RunRequest]:
    """One `packets` run per (tenant, county) with open requests, keyed by its newest request."""
    return [dg.RunRequest(run_key=f"memo-requests:{county}:{tenant}:{newest}",
                          partition_key=county_tenant_key(county, tenant),
                          tags={"county": county, "reos/tenant": tenant,
                                "reason": f"{count} memo(s) asked for through the API"})
            for tenant, county, count, newest in open_requests]


@dg.sensor(
    name="memo_requests_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=[dg.AssetKey("packets")],
    description="Memos asked for through the API (packet_requests) → a packets run for their (county, tenant).",
)
def memo_requests_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    with warehouse.get().transaction() as conn, conn.cursor() as cur:
        _, held = read_tenants(cur)
        cur.execute(OPEN_REQUESTS_SQL)
        open_requests = cur.fetchall()
    if not open_requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("no memo asked for"))
    keyed = set(context.instance.get_dynamic_partitions(TENANT))
    ready = []
    for row in open_requests:
        tenant, county = row[0], row[1]
        if tenant in held:
            context.log.info(f"skipped {county}|{tenant}: {held[tenant]}")
        elif tenant not in keyed:
            context.log.info(f"waiting for {county}|{tenant}: its tenant partition is not added yet")
        else:
            ready.append(row)
    if not ready:
        return dg.SensorResult(skip_reason=dg.SkipReason("memos asked for only by tenants held or not yet keyed"))
    return dg.SensorResult(run_requests=memo_run_requests(ready))
