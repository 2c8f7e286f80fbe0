"""Checks explain themselves: every check has a description, its results name the county they
judged (partitioned checks), and the numbers in metadata are rounded for people to read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import dagster as dg
import numpy as np
import pytest

from realestate_assets.assets.common import rounded, rounded_metadata
from realestate_assets.definitions import Deployment, build_definitions


def all_check_specs(defs: dg.Definitions) -> list[dg.AssetCheckSpec]:
    """The assets' own checks (check_specs) and the separate ones (county_fresh)."""
    return [spec for assets_def in defs.resolve_asset_graph().assets_defs for spec in assets_def.check_specs]


def test_every_check_has_a_description() -> None:
    specs = all_check_specs(build_definitions())
    assert len(specs) > 30  # the assets' own checks and the county_fresh ones
    missing = sorted(spec.key.to_user_string() for spec in specs if not (spec.description or "").strip())
    assert not missing, f"checks without a description: {missing}"


def test_every_check_of_a_partitioned_asset_is_partitioned_like_it() -> None:
    """So its results carry the county: the UI shows which county failed, and a failed blocking
    check holds back only that county (tests/test_automation.py)."""
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    for spec in all_check_specs(defs):
        asset_partitions = graph.get(spec.asset_key).partitions_def
        assert asset_partitions is not None, spec.asset_key
        assert spec.partitions_def == asset_partitions, spec.key.to_user_string()


@pytest.mark.parametrize(("raw", "shown"), [
    (0.123456789, 0.1235), (0.0123456, 0.01235), (0.00001234567, 0.00001235), (12.3456789, 12.3457),
    (1234567.891234, 1234567.8912), (0.5, 0.5), (3.0, 3.0), (np.float64(0.987654321), 0.9877)])
def test_rounded_keeps_four_decimals_or_four_significant_digits_below_one(raw: float, shown: float) -> None:
    assert rounded(raw) == shown and type(rounded(raw)) is float


def test_rounded_reaches_inside_json_lists_and_float_metadata() -> None:
    out = rounded_metadata({
        "rate": 0.333333333, "n": 7, "label": "x", "nan": float("nan"),
        "by_source": dg.MetadataValue.json({"attom": 0.66666666, "census": [0.1111111, 2]}),
        "seconds": dg.MetadataValue.float(12.3456789), "md": dg.MetadataValue.md("0.123456789")})
    assert out["rate"] == 0.3333 and out["n"] == 7 and out["label"] == "x" and out["nan"] == "nan"
    assert out["by_source"].data == {"attom": 0.6667, "census": [0.1111, 2]}
    assert out["seconds"].value == 12.3457
    assert out["md"].value == "0.123456789"  # text is what its author wrote


# ------------------------------------------------------------------ one real county, end to end

def too_precise(value: Any) -> list[float]:
    """Floats with more than 4 decimals (below 1: more than 4 significant digits), checked on the
    number itself, not with the helper under test."""
    if isinstance(value, dg.FloatMetadataValue):
        value = value.value
    elif isinstance(value, dg.JsonMetadataValue):
        value = value.data
    if isinstance(value, dict):
        return [f for v in value.values() for f in too_precise(v)]
    if type(value) in (list, tuple):  # exact types: Dagster's metadata records are tuples too
        return [f for v in value for f in too_precise(v)]
    if isinstance(value, float) and np.isfinite(value) and value != 0:
        digits = Decimal(repr(value)).as_tuple()
        if abs(value) >= 1 and -int(digits.exponent) > 4:
            return [value]
        if abs(value) < 1 and len(digits.digits) > 4:
            return [value]
    return []


@pytest.mark.slow
def test_a_county_run_names_its_county_in_every_check_and_rounds_its_numbers(pipeline_env: Deployment,
                                                                             tenant: str) -> None:
    from tests.test_pipeline_e2e import materialize_all

    result = materialize_all(pipeline_env, tenant)
    assert result.success
    evaluations = [e.asset_check_evaluation_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) > 20
    # The county's public checks on its partition, the tenant's on (county, tenant).
    assert {e.partition for e in evaluations} == {"king_wa", f"king_wa|{tenant}"}
    loud: dict[str, list[float]] = {}
    for event in [e for r in result.results for e in r.get_asset_materialization_events()]:
        materialization = event.materialization
        for key, value in materialization.metadata.items():
            if found := too_precise(value):
                loud[f"{materialization.asset_key.to_user_string()}:{key}"] = found
    for evaluation in evaluations:
        for key, value in evaluation.metadata.items():
            if found := too_precise(value):
                loud[f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}:{key}"] = found
    assert not loud, loud
