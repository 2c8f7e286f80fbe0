"""A county's whole graph in this process (`reos materialize`, `reos demo`, tests, benches).

A Dagster run has one partition key, and the public assets are per county while packets and
emails are per (county × tenant) (partitions/tenants.py). So "materialize king_wa" is one run of
the public assets on `king_wa`, then one run of the tenant-owned assets on `king_wa|<tenant>` for
each tenant asked for — the same runs the schedules and `sensors.tenants` launch in a deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from partitions.tenants import TENANT, county_tenant_key, is_tenant_partitioned


@dataclass(frozen=True)
class CountyRuns:
    """The runs of one county, in order: the public one first (when selected), then one per tenant."""

    results: list[dg.ExecuteInProcessResult]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def all_events(self) -> list[Any]:
        return [e for r in self.results for e in r.all_events]

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.results]

    @property
    def run_id(self) -> str:
        """The first run's: the public assets' when they were selected."""
        return self.results[0].run_id

    def asset_materializations_for_node(self, node: str) -> list[dg.AssetMaterialization]:
        return [m for r in self.results if node in r.job_def.graph.node_dict
                for m in r.asset_materializations_for_node(node)]


def split_selection(job: dg.JobDefinition, selection: Iterable[dg.AssetKey] | None = None
                    ) -> tuple[list[dg.AssetKey], list[dg.AssetKey]]:
    """(county-partitioned, county × tenant-partitioned) asset keys of `selection` (default: the job's)."""
    graph = job.asset_layer.asset_graph
    keys = sorted(selection if selection is not None else graph.materializable_asset_keys,
                  key=lambda k: k.to_user_string())
    tenant = [k for k in keys if is_tenant_partitioned(graph.get(k).partitions_def)]
    return [k for k in keys if k not in tenant], tenant


def add_tenant_partitions(instance: dg.DagsterInstance, tenants: Iterable[str]) -> None:
    """What `sensors.tenants` does in a deployment, for a local instance: the tenants' keys exist."""
    missing = [t for t in tenants if not instance.has_dynamic_partition(TENANT, t)]
    if missing:
        instance.add_dynamic_partitions(TENANT, missing)


def materialize_county(job: dg.JobDefinition, county: str, tenants: Sequence[str] = ("default",), *,
                       instance: dg.DagsterInstance, asset_selection: Iterable[dg.AssetKey] | None = None,
                       before_run: Callable[[str], None] | None = None, raise_on_error: bool = True,
                       **kwargs: Any) -> CountyRuns:
    """Materialize `asset_selection` (default: every asset) of `county`, the tenant-owned assets for
    each of `tenants`. A failed public run stops there, as its downstream would in one run.
    `before_run(run_id)` is called before each run starts (e.g. to listen to its events)."""
    public, owned = split_selection(job, asset_selection)
    runs: list[tuple[str | dg.MultiPartitionKey, list[dg.AssetKey]]] = []
    if public:
        runs.append((county, public))
    if owned:
        add_tenant_partitions(instance, tenants)
        runs += [(county_tenant_key(county, tenant), owned) for tenant in tenants]
    results: list[dg.ExecuteInProcessResult] = []
    for partition_key, keys in runs:
        run_id = str(uuid.uuid4())  # known before the run starts, so a listener can follow it
        if before_run is not None:
            before_run(run_id)
        result = job.execute_in_process(partition_key=partition_key, instance=instance, asset_selection=keys,
                                        raise_on_error=raise_on_error, run_id=run_id, **kwargs)
        results.append(result)
        if not result.success:
            break
    return CountyRuns(results)
