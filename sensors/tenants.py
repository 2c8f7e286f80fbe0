"""Tenants → their (county × tenant) partitions and runs, from the `subscriptions` table.

Every 30 s, as the database owner (no `app.tenant_id`: it reads every tenant):

1. The dynamic `tenant` partition keys follow the `tenants` table: a created tenant gets its key,
   a deleted tenant (`reos tenant delete`) loses it. The API writes only its own tables and needs
   no Dagster handle for this.
2. For each subscription (tenant follows county), a `packets` → `emails` run of (county, tenant)
   when the county's `scores` materialized after that partition's last `packets` (a new
   subscriber's first run too). The run key names the scores materialization, so it is asked
   for once. A suspended tenant, or one its plan holds back (`quota_hold`), is skipped with the
   reason in the tick's log: never a failed run, never the county's other tenants held back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from partitions.tenants import TENANT, county_tenant_key
from realestate_assets.accounts import quotas
from realestate_assets.assets.common import latest_materialization
from resources import WarehouseResource

TENANT_RUN_ASSETS = [dg.AssetKey("packets"), dg.AssetKey("emails")]

TENANTS_SQL = "SELECT id, suspended_at IS NOT NULL, suspended_reason FROM tenants ORDER BY id"
SUBSCRIPTIONS_SQL = "SELECT tenant_id, county FROM subscriptions ORDER BY county, tenant_id"


@dataclass(frozen=True)
class TenantState:
    tenant: str
    suspended: bool = False
    suspended_reason: str | None = None


def quota_hold(cur: Any, tenant: str) -> str | None:
    """Why the tenant's plan holds its runs back, or None. Held only when the run could do nothing:
    no new memo (properties or storage used up) and no email (emails used up). Otherwise the run
    goes ahead and each step skips what its own quota forbids (assets/outreach.py, the same rule:
    `accounts.quotas.blocked`)."""
    no_memos = quotas.blocked(cur.connection, tenant, "properties", "storage")
    no_emails = quotas.blocked(cur.connection, tenant, "emails")
    return f"{no_memos}; {no_emails}" if no_memos and no_emails else None


def key_changes(tenants: Iterable[str], existing: Iterable[str]) -> tuple[list[str], list[str]]:
    """(keys to add, keys to delete) so the partition keys are exactly the tenants."""
    wanted, have = set(tenants), set(existing)
    return sorted(wanted - have), sorted(have - wanted)


def hold_reason(state: TenantState, quota: str | None) -> str | None:
    """Why a tenant's partitions are skipped this tick, or None: one rule for every run the sensors launch."""
    if state.suspended:
        return f"tenant {state.tenant} is suspended ({state.suspended_reason or 'no reason given'})"
    if quota:
        return f"tenant {state.tenant} is over its plan: {quota}"
    return None


@dataclass(frozen=True)
class Due:
    county: str
    tenant: str
    scores_id: int  # the storage id of the county's scores materialization this run follows


def due_partitions(subscriptions: Iterable[tuple[str, str]], scores_at: dict[str, int | None],
                   packets_at: dict[tuple[str, str], int | None], held: dict[str, str],
                   counties: Iterable[str], blocked: dict[str, str] | None = None) -> tuple[list[Due], list[str]]:
    """(partitions to run, one line per partition skipped and why). Pure.

    `scores_at` / `packets_at`: storage ids of the latest materializations (None: never), which
    order events in one instance as their times do, without clock questions. `blocked`: counties
    whose scores failed a blocking check ({county: which}), held back as `FOLLOW_UPSTREAM` holds
    the county's own downstream."""
    known = set(counties)
    due: list[Due] = []
    skipped: list[str] = []
    for tenant, county in subscriptions:
        if county not in known:
            skipped.append(f"{county}|{tenant}: no county partition {county!r} (no county file)")
            continue
        scores = scores_at.get(county)
        if scores is None:
            continue  # nothing scored yet: nothing to send
        packets = packets_at.get((county, tenant))
        if packets is not None and packets > scores:
            continue  # up to date
        if tenant in held:
            skipped.append(f"{county}|{tenant}: {held[tenant]}")
            continue
        if blocked and county in blocked:
            skipped.append(f"{county}|{tenant}: {county} scores failed blocking check(s) {blocked[county]}")
            continue
        due.append(Due(county, tenant, scores))
    return due, skipped


def run_request(due: Due) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"scores:{due.county}:{due.scores_id}:{due.tenant}",
        partition_key=county_tenant_key(due.county, due.tenant), asset_selection=TENANT_RUN_ASSETS,
        tags={"county": due.county, "reos/tenant": due.tenant,
              "reason": f"{due.county} scores (materialization {due.scores_id}) newer than the tenant's packets"})


def latest_storage_id(instance: dg.DagsterInstance, asset: str, partition: str) -> int | None:
    record = latest_materialization(instance, dg.AssetKey(asset), partition)
    return record.storage_id if record is not None else None


def failed_blocking_checks(instance: dg.DagsterInstance, checks: Iterable[dg.AssetCheckKey], county: str) -> str:
    """The blocking checks whose latest result on the county's partition failed ("" when none)."""
    # Dagster 1.13 reads partitioned check history only through the event log storage.
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    failed = []
    for check in checks:
        latest = instance.event_log_storage.get_asset_check_execution_history(
            check, limit=1, status={Status.SUCCEEDED, Status.FAILED}, partition_filter=PartitionKeyFilter(key=county))
        if latest and latest[0].status == Status.FAILED:
            failed.append(check.name)
    return ", ".join(failed)


def blocking_checks_of(context: dg.SensorEvaluationContext, asset: str) -> list[dg.AssetCheckKey]:
    defs = context.repository_def
    if defs is None:
        return []
    return [dg.AssetCheckKey(dg.AssetKey(asset), spec.name) for spec in defs.assets_defs_by_key[dg.AssetKey(asset)]
            .check_specs if spec.blocking]


def read_tenants(cur: Any) -> tuple[list[str], dict[str, str]]:
    """(every tenant id, {tenant: why its runs are held}) from the database."""
    cur.execute(TENANTS_SQL)
    states = [TenantState(tenant, suspended, reason) for tenant, suspended, reason in cur.fetchall()]
    held = {s.tenant: why for s in states if (why := hold_reason(s, quota_hold(cur, s.tenant)))}
    return [s.tenant for s in states], held


def tenant_partitions_sensor(county_keys: Iterable[str], *, minimum_interval_seconds: int = 30
                             ) -> dg.SensorDefinition:
    counties = sorted(county_keys)

    @dg.sensor(name="tenant_partitions_sensor", minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING, target=TENANT_RUN_ASSETS,
               description="Tenants → their (county × tenant) partition keys; a county's new scores → "
                           "packets and emails runs for each tenant that follows it (suspended tenants skipped).")
    def tenant_partitions(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        with warehouse.get().transaction() as conn, conn.cursor() as cur:
            tenants, held = read_tenants(cur)
            cur.execute(SUBSCRIPTIONS_SQL)
            subscriptions = [(tenant, county) for tenant, county in cur.fetchall()]
        add, delete = key_changes(tenants, context.instance.get_dynamic_partitions(TENANT))
        instance = context.instance
        followed = sorted({county for _, county in subscriptions if county in counties})
        scores_at = {county: latest_storage_id(instance, "scores", county) for county in followed}
        packets_at = {(county, tenant): latest_storage_id(instance, "packets", str(county_tenant_key(county, tenant)))
                      for tenant, county in subscriptions if scores_at.get(county) is not None}
        checks = blocking_checks_of(context, "scores")
        blocked = {county: why for county in followed if scores_at[county] is not None
                   and (why := failed_blocking_checks(instance, checks, county))}
        due, skipped = due_partitions(subscriptions, scores_at, packets_at, held, counties, blocked)
        for line in skipped:
            context.log.info(f"skipped {line}")
        requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
        if add:
            requests.append(dg.AddDynamicPartitionsRequest(TENANT, add))
        if delete:
            requests.append(dg.DeleteDynamicPartitionsRequest(TENANT, delete))
        if add or delete:
            context.log.info(f"tenant partitions: added {add or 'none'}, deleted {delete or 'none'}")
        runs = [run_request(d) for d in due]
        if not runs and not requests:
            reason = "; ".join(skipped[:5]) or "every followed county's packets are newer than its scores"
            return dg.SensorResult(skip_reason=dg.SkipReason(reason))
        return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=requests)

    return tenant_partitions
