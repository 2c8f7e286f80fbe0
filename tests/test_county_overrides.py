"""A county's run-time override (county_overrides, migration 0034) as the pipeline applies it:
PlatformResource.county reads it at each step, an edit re-computes the stages it affects (their
input fingerprint holds the effective county), and an override the file no longer admits
disables the county with the reason, like an invalid file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from realestate_assets.config_models import CountyOverride, editable_county_values, load_county
from realestate_assets.db.county_overrides import write_override
from realestate_assets.definitions import build_definitions
from tests.api.helpers_api import owner_cursor
from tests.samples import write_sample_config
from tests.test_unchanged_rerun import materialized, offline_sources

pytestmark = pytest.mark.slow


def check_descriptions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.description or ""
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_patch_applies_to_the_file_and_bad_paths_are_named(repo_config: Path) -> None:
    path = repo_config / "counties" / "king_wa.yaml"
    plain = load_county(path)
    patched = load_county(path, CountyOverride({"quality.min_enrichment_coverage": 0.5,
                                                "sources.kc_assessor_sales.enabled": False}, 3))
    assert patched.quality.min_enrichment_coverage == 0.5 and not patched.sources_providing("sales")
    assert patched.model_copy(update={"quality": plain.quality, "sources": plain.sources}) == plain
    values = editable_county_values(patched)
    assert values["quality.min_enrichment_coverage"] == 0.5 and values["sources.kc_assessor_sales.enabled"] is False
    with pytest.raises(ValueError, match=r"king_wa.yaml with its override \(county_overrides version 4\)"
                                         r"[\s\S]*sources.gone.enabled: not an editable field"):
        load_county(path, CountyOverride({"sources.gone.enabled": False}, 4))
    with pytest.raises(ValueError, match=r"version 5[\s\S]*quality.max_reject_rate"):
        load_county(path, CountyOverride({"quality.max_reject_rate": 7}, 5))
    wayne = repo_config / "counties" / "wayne_mi.yaml"  # its only source is unverified: it stays off
    with pytest.raises(ValueError, match=r"sources.detroit_parcels.enabled: source detroit_parcels is not verified"):
        load_county(wayne, CountyOverride({"sources.detroit_parcels.enabled": True}, 1))
    assert not load_county(wayne, CountyOverride({"sources.detroit_parcels.enabled": False}, 1)).sources[0].enabled


def test_a_run_applies_the_override_and_an_edit_recomputes(make_deployment, database_url: str, tenant: str,
                                                           tmp_path: Path) -> None:
    config = tmp_path / "config"
    write_sample_config(config, tmp_path / "data", n_parcels=150)
    offline_sources(config)
    defs = build_definitions(deployment=make_deployment(config))
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()

    def run(*assets: str, ok: bool = True) -> dg.ExecuteInProcessResult:
        result = job.execute_in_process(partition_key="king_wa", instance=instance, raise_on_error=False,
                                        asset_selection=[dg.AssetKey(a) for a in assets])
        assert result.success is ok
        return result

    def override(patch: dict, based_on: int) -> None:
        with owner_cursor(database_url) as cur:
            assert write_override(cur, "king_wa", patch, based_on=based_on, reason="test", user_id=None)

    try:
        override({"quality.max_reject_rate": 0.5}, 0)
        first = run("sales", "assessor_roll", "prospects", "enrichment")
        assert "(ceiling 50.00%)" in check_descriptions(first)["reject_rate_below_ceiling"]
        assert "(floor 90%)" in check_descriptions(first)["enrichment_coverage_above_floor"]
        assert materialized(run("enrichment"))["enrichment"]["unchanged"] is True

        override({"quality.max_reject_rate": 0.5, "quality.min_enrichment_coverage": 0.5}, 1)
        edited = run("enrichment")  # the effective county is in its fingerprint: recomputed
        assert materialized(edited)["enrichment"]["unchanged"] is False
        assert "(floor 50%)" in check_descriptions(edited)["enrichment_coverage_above_floor"]

        override({"sources.renamed_in_the_file.enabled": False}, 2)
        failed = run("sales", ok=False)
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        text = str(failure.event_specific_data.user_failure_data.description)
        assert text.startswith("county disabled: its configuration is invalid")
        assert "county_overrides version 3" in text and "sources.renamed_in_the_file.enabled" in text
    finally:
        with owner_cursor(database_url) as cur:
            cur.execute("DELETE FROM county_overrides WHERE county = 'king_wa'")
