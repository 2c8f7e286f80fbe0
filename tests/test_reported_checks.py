"""`common.reported` makes the same events as Dagster makes of a `MaterializeResult`'s check
results — each check's output and evaluation, its target the step's own materialization, a failed
blocking check failing the step and holding back what follows — with one look-up of the
partition's materialization per step instead of two per check (issue 17, thirty-fourth round (b)),
and none on production's storage, which remembers the materialization it stored."""

# No `from __future__ import annotations`: Dagster reads the local assets' `context` annotation.
from typing import Any

import dagster as dg
import pytest

from realestate_assets.assets.common import Reported, reported
from realestate_assets.instance_storage import storage_block
from tests.databases import empty_database

PARTS = dg.StaticPartitionsDefinition(["king_wa", "pierce_wa"])
SPECS = [dg.AssetCheckSpec("fine", asset="thing", description="always passes"),
         dg.AssetCheckSpec("gate", asset="thing", blocking=True, description="passes when told to"),
         dg.AssetCheckSpec("warned", asset="thing")]


def definitions(ours: bool, gate_passes: bool, subsettable: bool = False) -> list[dg.AssetsDefinition]:
    """`thing` with three checks, reported our way or Dagster's, and `after` downstream of it;
    `subsettable`: `thing` a one-asset multi-asset whose checks a run may leave out."""

    def thing(context: dg.AssetExecutionContext) -> Reported:
        result = dg.MaterializeResult(metadata={"rows": 3}, check_results=[
            dg.AssetCheckResult(check_name="fine", passed=True, description="ok", metadata={"n": 1}),
            dg.AssetCheckResult(check_name="gate", passed=gate_passes, description="the gate"),
            dg.AssetCheckResult(check_name="warned", passed=False, severity=dg.AssetCheckSeverity.WARN)])
        if ours:
            yield from reported(context, result)
        else:
            yield result  # Dagster's own way

    if subsettable:
        thing_def = dg.multi_asset(specs=[dg.AssetSpec("thing")], partitions_def=PARTS, check_specs=SPECS,
                                   can_subset=True, name="thing")(thing)
    else:
        thing_def = dg.asset(name="thing", partitions_def=PARTS, check_specs=SPECS)(thing)

    @dg.asset(name="after", deps=["thing"], partitions_def=PARTS)
    def after() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rows": 1})

    return [thing_def, after]


def events(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[tuple[Any, ...]]:
    """The run's events that matter, each check evaluation's target as "own" when it is this run's
    materialization of the partition."""
    own = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("thing"), asset_partitions=["king_wa"]), limit=1).records
    own_id = own[0].storage_id if own and own[0].run_id == result.run_id else None
    seen = []
    for e in result.all_events:
        data = e.event_specific_data
        if e.event_type_value == "STEP_OUTPUT":
            seen.append((e.event_type_value, e.step_key, e.step_output_data.output_name))
        elif e.event_type_value == "ASSET_CHECK_EVALUATION":
            target = data.target_materialization_data
            seen.append((e.event_type_value, e.step_key, data.check_name, data.passed, data.severity,
                         data.description, dict(data.metadata), data.blocking, data.partition,
                         "own" if target is not None and target.storage_id == own_id
                         and target.run_id == result.run_id else target))
        elif e.event_type_value in ("ASSET_MATERIALIZATION", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED",
                                    "ASSET_CHECK_EVALUATION_PLANNED", "LOGS_CAPTURED"):
            seen.append((e.event_type_value, e.step_key))
    return seen


def runs(ours: bool, gate_passes: bool, selection: Any, monkeypatch: pytest.MonkeyPatch,
         subsettable: bool = False, instance: dg.DagsterInstance | None = None) -> tuple[list, int]:
    """Two runs of the same partition (the second's targets must be its own, not the first's)
    and the partition's materialization look-ups in them, on `instance` (an ephemeral one)."""
    calls = []
    original = dg.DagsterInstance.fetch_materializations

    def counted(self: dg.DagsterInstance, records_filter: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(records_filter)
        return original(self, records_filter, *args, **kwargs)

    instance = instance or dg.DagsterInstance.ephemeral()
    seen, looked_up = [], 0
    for _ in range(2):
        with monkeypatch.context() as patched:
            patched.setattr(dg.DagsterInstance, "fetch_materializations", counted)
            result = dg.materialize(definitions(ours, gate_passes, subsettable), instance=instance,
                                    partition_key="king_wa", selection=selection, raise_on_error=False)
        looked_up = len(calls)
        seen.append(events(instance, result))
    return seen, looked_up


@pytest.mark.parametrize("gate_passes", [True, False])
def test_the_same_events_with_one_look_up_per_step(gate_passes: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    dagsters, dagster_calls = runs(False, gate_passes, None, monkeypatch)
    ours, our_calls = runs(True, gate_passes, None, monkeypatch)
    assert ours == dagsters
    evaluations = [e for e in ours[1] if e[0] == "ASSET_CHECK_EVALUATION"]
    assert [e[2] for e in evaluations] == ["fine", "gate", "warned"]
    assert all(e[-1] == "own" for e in evaluations)
    assert [e[7] for e in evaluations] == [False, True, False]  # blocking, from the spec
    assert (("STEP_SUCCESS", "after") in ours[1]) == gate_passes  # a failed blocking check holds it back
    assert (("STEP_FAILURE", "thing") in ours[1]) == (not gate_passes)
    assert (dagster_calls, our_calls) == (2 * 6, 2 * 1)  # two a check before, one a step now


def test_on_production_s_storage_the_targets_are_the_step_s_own_without_a_look_up(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`PooledPostgresStorage` remembers the materialization it stored (its `INSERT`'s id): the
    checks point at it as Dagster's own look-up would, and nothing is looked up."""
    for gate_passes in (True, False):
        with empty_database(database_url, prefix="reos_dagster") as url, \
                dg.instance_for_test(overrides={"storage": storage_block(url)}) as pooled:
            dagsters, _ = runs(False, gate_passes, None, monkeypatch, instance=pooled)
        with empty_database(database_url, prefix="reos_dagster") as url, \
                dg.instance_for_test(overrides={"storage": storage_block(url)}) as pooled:
            ours, our_calls = runs(True, gate_passes, None, monkeypatch, instance=pooled)
        assert ours == dagsters
        assert [e[-1] for e in ours[1] if e[0] == "ASSET_CHECK_EVALUATION"] == ["own"] * 3
        assert our_calls == 0


def test_a_check_not_selected_goes_dagsters_way(monkeypatch: pytest.MonkeyPatch) -> None:
    selection = (dg.AssetSelection.assets("thing").without_checks()
                 | dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("thing"), "fine")))
    dagsters, _ = runs(False, True, selection, monkeypatch, subsettable=True)
    ours, _ = runs(True, True, selection, monkeypatch, subsettable=True)
    assert ours == dagsters
    assert [e[2] for e in ours[1] if e[0] == "ASSET_CHECK_EVALUATION"] == ["fine", "gate", "warned"]
    # The multi-asset's output is named after its asset; the checks left out have none.
    assert [e[2] for e in ours[1] if e[0] == "STEP_OUTPUT"] == ["thing", "thing_fine"]
