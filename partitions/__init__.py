"""County partitions (one key per `config/counties/<key>.yaml` file) and, for tenant-owned
assets, county × tenant partitions."""

from partitions.counties import county_partitions
from partitions.tenants import county_tenant_key, county_tenant_partitions, tenant_partitions

__all__ = ["county_partitions", "county_tenant_key", "county_tenant_partitions", "tenant_partitions"]
