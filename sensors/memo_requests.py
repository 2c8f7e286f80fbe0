"""Memos asked for through the API (`GET /api/v1/properties/{id}/memo`) → a `packets` run.

The API records each request in `packet_requests`; this sensor looks for open ones every 30 s and
asks for one `packets` run per county that has some, keyed by the newest request, so a burst of
requests is one run and a request is never launched twice. The asset renders the requested
properties beside the ones today's email plan sends and marks the requests done.
"""

from __future__ import annotations

import dagster as dg

from resources import PlatformResource, WarehouseResource

OPEN_REQUESTS_SQL = """
SELECT county, count(*), max(requested_at) FROM packet_requests
WHERE tenant_id = %s AND rendered_at IS NULL GROUP BY county ORDER BY county
"""


def memo_run_requests(open_requests: list[tuple[str, int, object]]) -> list[dg.RunRequest]:
    """One `packets` run per county with open requests, keyed by its newest request."""
    return [dg.RunRequest(run_key=f"memo-requests:{county}:{newest}", partition_key=county,
                          tags={"county": county, "reason": f"{count} memo(s) asked for through the API"})
            for county, count, newest in open_requests]


@dg.sensor(
    name="memo_requests_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    target=[dg.AssetKey("packets")],
    description="Memos asked for through the API (packet_requests) → a packets run for their county.",
)
def memo_requests_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource,
                         warehouse: WarehouseResource) -> dg.SensorResult:
    with warehouse.get().transaction() as conn, conn.cursor() as cur:
        cur.execute(OPEN_REQUESTS_SQL, (platform.tenant_id,))
        open_requests = cur.fetchall()
    if not open_requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("no memo asked for"))
    return dg.SensorResult(run_requests=memo_run_requests(open_requests))
