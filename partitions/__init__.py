"""County partitions: one partition key per `config/counties/<key>.yaml` file."""

from partitions.counties import county_partitions

__all__ = ["county_partitions"]
