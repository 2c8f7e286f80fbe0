"""The code location loads, its generic top-level names are ours, and its graph is as reviewed."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import dagster as dg
import pytest

from realestate_assets.definitions import build_definitions, current_environment, defs, resources_for
from realestate_assets.settings import repo_root

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


@pytest.mark.parametrize("name", ["resources", "sensors", "partitions", "realestate_assets"])
def test_generic_top_level_names_resolve_inside_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(repo_root()), module.__file__


def test_lazy_definitions_load() -> None:
    loaded = defs()
    assert isinstance(loaded, dg.Definitions)
    loaded.resolve_implicit_global_asset_job_def()


def graph_snapshot(definitions: dg.Definitions) -> dict[str, object]:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "partitioned_by": type(node.partitions_def).__name__ if node.partitions_def else None,
            "automation": node.automation_condition.get_label() if node.automation_condition else None,
            "checks": sorted(
                f"{c.name}{' (blocking)' if c.blocking else ''}"
                for c in definitions.resolve_assets_def(key).check_specs),
        }
    return {"assets": assets,
            "partition_keys": graph.get(dg.AssetKey("sales")).partitions_def.get_partition_keys(),
            "sensors": sorted(s.name for s in definitions.sensors or []),
            "schedules": sorted(s.name for s in definitions.schedules or [])}


def test_asset_graph_matches_snapshot(repo_config: Path) -> None:
    """An accidental change to keys, deps, partitions or checks shows up in review.

    Regenerate after an intended change: UPDATE_SNAPSHOTS=1 pytest tests/test_definitions.py
    """
    for extra in (repo_config / "counties").glob("*.yaml"):
        if extra.stem != "king_wa":
            extra.unlink()  # the snapshot covers the graph, not the list of counties
    snapshot = graph_snapshot(build_definitions(repo_config))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
    assert snapshot == json.loads(SNAPSHOT.read_text())


def test_every_table_asset_has_at_least_two_checks_and_outreach_guards_block() -> None:
    definitions = build_definitions()
    for key in ["sales", "prospects", "enrichment", "features", "scores", "packets", "emails"]:
        specs = list(definitions.resolve_assets_def(key).check_specs)
        assert len(specs) >= 2, key
    blocking = {s.name for k in ("scores", "packets", "emails")
                for s in definitions.resolve_assets_def(k).check_specs if s.blocking}
    assert {"scores_in_range_with_model", "packet_files_match_checksums",
            "no_email_to_suppressed_address"} <= blocking


def test_every_county_file_becomes_a_partition(repo_config: Path) -> None:
    text = (repo_config / "counties" / "king_wa.yaml").read_text()
    (repo_config / "counties" / "pierce_wa.yaml").write_text(
        text.replace("King County", "Pierce County").replace('"033"', '"053"'))
    keys = build_definitions(repo_config).resolve_asset_graph().get(
        dg.AssetKey("prospects")).partitions_def.get_partition_keys()
    assert "pierce_wa" in keys and "king_wa" in keys


def test_every_asset_step_gets_its_pod_size_from_deploy_in_production() -> None:
    """Production runs each step in its own pod (k8s_job_executor), sized per asset from
    deploy/k8s-resources.yaml through the executor's `per_step_k8s_config` (op name = asset name)."""
    import yaml

    sizes = yaml.safe_load((repo_root() / "deploy" / "k8s-resources.yaml").read_text())["assets"]
    from realestate_assets.definitions import pod_sizes

    assert resources_for("production").executor.name == "reos_k8s_steps"
    assert pod_sizes() == sizes  # what the executor is configured with as per_step_k8s_config
    definitions = build_definitions()
    for key in definitions.resolve_all_asset_keys():
        op_name = definitions.resolve_assets_def(key).node_def.name
        assert op_name == key.to_user_string() and op_name in sizes, key


def test_local_runs_in_process_and_production_requires_a_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resources_for("local").executor is dg.in_process_executor
    monkeypatch.delenv("DATABASE_URL", raising=False)
    production = resources_for("production")
    with pytest.raises(Exception, match="DATABASE_URL"), \
            dg.build_resources({"warehouse": production.resources["warehouse"]}) as built:
        built.warehouse.url()
    # Every endpoint and secret of production is an EnvVar, so the UI shows where it comes from.
    assert isinstance(production.resources["warehouse"].database_url, dg.EnvVar)
    assert isinstance(production.resources["mailer"].api_key, dg.EnvVar)
    assert isinstance(production.resources["object_store"].bucket, dg.EnvVar)
    with pytest.raises(dg.DagsterInvariantViolationError, match="REOS_ENV"):
        resources_for("prod")
    monkeypatch.delenv("REOS_ENV", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(dg.DagsterInvariantViolationError, match="REOS_ENV is not set"):
        current_environment()


def test_downstream_assets_wait_for_blocking_checks_upstream() -> None:
    from partitions.tenants import TENANT_ASSETS
    from sensors.automation import FOLLOW_UPSTREAM

    definitions = build_definitions()
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.to_user_string() in TENANT_ASSETS:  # launched per tenant by sensors.tenants
            assert node.automation_condition is None, key
        elif node.parent_keys and key.to_user_string() != "ml_model":
            assert node.automation_condition == FOLLOW_UPSTREAM, key


def test_tenant_assets_are_county_by_tenant_and_follow_the_county_scores() -> None:
    graph = build_definitions().resolve_asset_graph()
    packets = graph.get(dg.AssetKey("packets")).partitions_def
    assert isinstance(packets, dg.MultiPartitionsDefinition)
    assert packets.partition_dimension_names == ["county", "tenant"]
    assert packets.get_partitions_def_for_dimension("county") == graph.get(dg.AssetKey("scores")).partitions_def
    mapping = graph.get_partition_mapping(dg.AssetKey("packets"), dg.AssetKey("scores"))
    assert isinstance(mapping, dg.MultiToSingleDimensionPartitionMapping)
    assert graph.get(dg.AssetKey("emails")).partitions_def == packets
