"""(county × tenant) partitions: the tenant keys follow the tenants table, a county's new scores
launch each subscriber's packets → emails, held tenants and failed blocking checks are skipped."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest

from partitions.tenants import county_and_tenant, county_tenant_key
from realestate_assets.api.dagster_runs import PARTITION_TAG, partition_tags
from realestate_assets.definitions import build_definitions
from resources import WarehouseResource
from sensors.tenants import (
    Due,
    TenantState,
    due_partitions,
    hold_reason,
    key_changes,
    quota_hold,
    tenant_partitions_sensor,
)
from tests.api.helpers_api import owner_cursor
from tests.databases import create_tenant


def test_keys_follow_the_tenants() -> None:
    assert key_changes(["a", "b", "c"], ["b", "gone"]) == (["a", "c"], ["gone"])
    assert key_changes([], []) == ([], [])


def test_the_partition_key_names_county_and_tenant_as_dagster_writes_it() -> None:
    key = county_tenant_key("king_wa", "acme")
    assert county_and_tenant(key) == county_and_tenant(str(key)) == ("king_wa", "acme")
    assert county_and_tenant("king_wa") == ("king_wa", None)
    assert partition_tags("king_wa", "acme")[PARTITION_TAG] == str(key)  # what the API launches


def test_a_held_tenant_says_why() -> None:
    assert hold_reason(TenantState("a"), None) is None
    assert "suspended (unpaid)" in hold_reason(TenantState("a", True, "unpaid"), None)
    assert "over its plan: 500 of 500 emails" in hold_reason(TenantState("a"), "500 of 500 emails")


def test_due_when_the_county_scores_are_newer_than_the_tenant_packets() -> None:
    subscriptions = [("a", "king"), ("b", "king"), ("c", "king"), ("d", "king"), ("a", "nowhere"), ("a", "cook")]
    due, skipped = due_partitions(
        subscriptions, scores_at={"king": 10, "cook": None}, packets_at={("king", "a"): 12, ("king", "b"): 5},
        held={"c": "tenant c is suspended (unpaid)"}, counties=["king", "cook"])
    # a is up to date, b is older than the scores, d never ran, c is held; cook has no scores yet.
    assert due == [Due("king", "b", 10), Due("king", "d", 10)]
    assert skipped == ["king|c: tenant c is suspended (unpaid)",
                       "nowhere|a: no county partition 'nowhere' (no county file)"]
    blocked, why = due_partitions(subscriptions[:2], {"king": 10}, {}, {}, ["king"], {"king": "scores_in_range"})
    assert blocked == [] and all("failed blocking check(s) scores_in_range" in line for line in why)


@pytest.mark.slow
def test_sensor_adds_and_deletes_tenant_keys_and_launches_each_subscriber(database_url: str,
                                                                       repo_config: Path) -> None:
    county = f"tp_{uuid.uuid4().hex[:6]}"
    a, b, c = (create_tenant(database_url) for _ in range(3))
    with owner_cursor(database_url) as cur:
        for tenant in (a, b, c):
            cur.execute("INSERT INTO subscriptions (tenant_id, county) VALUES (%s, %s)", (tenant, county))
        cur.execute("UPDATE tenants SET suspended_at = now(), suspended_reason = 'unpaid' WHERE id = %s", (c,))
    sensor = tenant_partitions_sensor([county, "king_wa"])
    repository = build_definitions(repo_config).get_repository_def()
    resources = {"warehouse": WarehouseResource(database_url=database_url)}

    def tick(instance: dg.DagsterInstance) -> dg.SensorResult:
        result = sensor(dg.build_sensor_context(instance=instance, resources=resources, repository_def=repository))
        for request in result.dynamic_partitions_requests or []:  # what the daemon does with them
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
        return result

    def ours(result: dg.SensorResult) -> set[str]:
        return {str(r.partition_key) for r in result.run_requests or [] if r.tags["county"] == county}

    with dg.instance_for_test() as instance:
        first = tick(instance)
        (added,) = first.dynamic_partitions_requests
        assert {a, b, c} <= set(added.partition_keys)  # every tenant gets its key, suspended or not
        assert not ours(first)  # nothing scored yet in the county: nothing to send

        instance.report_runless_asset_event(dg.AssetMaterialization("scores", partition=county))
        scored = tick(instance)
        assert ours(scored) == {f"{county}|{a}", f"{county}|{b}"}  # c is suspended: skipped, not failed
        request = next(r for r in scored.run_requests if r.partition_key == f"{county}|{a}")
        assert request.asset_selection == [dg.AssetKey("packets"), dg.AssetKey("emails")]
        assert request.run_key.startswith(f"scores:{county}:") and request.tags["reos/tenant"] == a

        instance.report_runless_asset_event(dg.AssetMaterialization("packets", partition=f"{county}|{a}"))
        assert ours(tick(instance)) == {f"{county}|{b}"}  # a's packets are newer than the scores

        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("scores"), check_name="scores_in_range_with_model", passed=False,
            partition=county))
        assert not ours(tick(instance))  # the county's scores failed a blocking check: no tenant runs

        with owner_cursor(database_url) as cur:
            cur.execute("DELETE FROM tenants WHERE id = %s", (b,))
        deleted = tick(instance)
        assert any(isinstance(r, dg.DeleteDynamicPartitionsRequest) and b in r.partition_keys
                   for r in deleted.dynamic_partitions_requests)
        assert b not in instance.get_dynamic_partitions("tenant")


def test_a_tenant_is_held_only_when_its_plan_leaves_its_run_nothing_to_do(database_url: str) -> None:
    from tests.outreach.test_quota_skip import _over_quota

    tenant = create_tenant(database_url)
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
        assert quota_hold(cur, tenant) is None  # a fresh free tenant: everything left
    _over_quota(database_url, tenant)  # properties and emails of the month used up
    with owner_cursor(database_url) as cur:
        held = quota_hold(cur, tenant)
        assert held is not None and "quota properties" in held and "quota emails" in held
        cur.execute("DELETE FROM emails WHERE tenant_id = %s", (tenant,))  # emails left: the run may send
        assert quota_hold(cur, tenant) is None
