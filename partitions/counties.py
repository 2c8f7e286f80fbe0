"""Partition keys are the county file stems, validated; adding a file adds a partition.

The keys are read when the code location loads (a reload in the UI picks up a new file).
An invalid county file fails loading with a message naming the file and the field.
"""

from __future__ import annotations

import dagster as dg

from realestate_assets.config_models import CountyConfig, load_counties


def county_partitions(counties: dict[str, CountyConfig] | None = None) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(sorted(counties or load_counties()))
