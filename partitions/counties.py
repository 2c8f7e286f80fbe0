"""Partition keys are the county file stems, validated; adding a file adds a partition.

The keys are read when the code location loads (a reload in the UI picks up a new file).
An invalid county file disables that county only (`config_models.read_county_files`): it keeps
its partition, whose runs fail fast naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from realestate_assets.config_models import read_county_files


def county_partitions(keys: Iterable[str] | None = None) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(sorted(read_county_files().partition_keys if keys is None else keys))
