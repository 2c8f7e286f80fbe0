"""(county × tenant) partitions of the tenant-owned assets (packets, emails). DESIGN §9.

Public county data is computed once per county; a tenant's packets and emails are its own, so
their partitions are the county's crossed with a dynamic `tenant` dimension. The tenant keys are
added and deleted by `sensors.tenants` from the `subscriptions` table, so the API needs no Dagster
handle for them. A run's tenant is its partition key, never an environment variable or a
resource field read inside an asset.
"""

from __future__ import annotations

import dagster as dg

COUNTY = "county"
TENANT = "tenant"
# The assets whose rows and objects belong to a tenant (the rest is public county data).
TENANT_ASSETS = frozenset({"packets", "emails"})

tenant_partitions = dg.DynamicPartitionsDefinition(name=TENANT)


def county_tenant_partitions(counties: dg.PartitionsDefinition) -> dg.MultiPartitionsDefinition:
    """The tenant-owned assets' partitions. `scores` (county) → `packets` (county × tenant) maps
    the county dimension (Dagster 1.13 infers MultiToSingleDimensionPartitionMapping)."""
    return dg.MultiPartitionsDefinition({COUNTY: counties, TENANT: tenant_partitions})


def county_tenant_key(county: str, tenant: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({COUNTY: county, TENANT: tenant})


def county_and_tenant(partition_key: str) -> tuple[str, str | None]:
    """(county, tenant) of a partition key: a county key has no tenant; a (county × tenant) key,
    as a MultiPartitionKey or its string "county|tenant" (the dimensions in name order)."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        keys = partition_key.keys_by_dimension
        return keys[COUNTY], keys[TENANT]
    county, _, tenant = partition_key.partition("|")
    return county, tenant or None


def is_tenant_partitioned(partitions_def: dg.PartitionsDefinition | None) -> bool:
    return (isinstance(partitions_def, dg.MultiPartitionsDefinition)
            and TENANT in partitions_def.partition_dimension_names)
