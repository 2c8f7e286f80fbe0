"""Unchanged input, near-zero work (issue 17): a re-run whose inputs did not change reports the
partition unchanged and rewrites nothing; a changed upstream row re-computes downstream."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from realestate_assets import gx_worker
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import build_definitions
from tests.samples import write_sample_config

pytestmark = pytest.mark.slow

FIRST = ["sales", "assessor_roll", "prospects", "enrichment", "features", "ml_model", "scores"]
STAGES = ["enrichment", "features", "scores"]


def offline_sources(config: Path) -> None:
    """No HTTP source enabled: enrichment is then a function of the county's rows (skippable)."""
    path = config / "enrichment_sources.yaml"
    sources = yaml.safe_load(path.read_text())
    for source in sources["sources"].values():
        if source["type"] not in ("county_assessor", "market"):
            source["enabled"] = False
    path.write_text(yaml.safe_dump(sources))


def run(defs: dg.Definitions, instance: dg.DagsterInstance, assets: list[str]) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key="king_wa", instance=instance,
                                    asset_selection=[dg.AssetKey(a) for a in assets])
    assert result.success
    return result


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {e.asset_key.to_user_string(): {k: getattr(v, "value", v) for k, v in
                                           e.event_specific_data.materialization.metadata.items()}
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {f"{e.asset_check_evaluation_data.asset_key.to_user_string()}:"
            f"{e.asset_check_evaluation_data.check_name}": e.asset_check_evaluation_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def last_change(wh: Warehouse, county: str = "king_wa") -> dict[str, str]:
    """The public stages' rows of the county (make_deployment starts them empty)."""
    return {t: str(wh.scalar(f"SELECT count(*) || '@' || max(updated_at) FROM {t} WHERE county = :c",
                             {"c": county})) for t in STAGES}


def test_unchanged_inputs_skip_and_a_changed_row_recomputes(make_deployment, database_url: str, tenant: str,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    write_sample_config(config, tmp_path / "data", n_parcels=150)
    offline_sources(config)
    defs = build_definitions(deployment=make_deployment(config))
    instance = dg.DagsterInstance.ephemeral()
    wh = Warehouse(database_url)

    first = run(defs, instance, FIRST)
    first_checks = checks(first)
    assert all(materialized(first)[a]["unchanged"] is False for a in STAGES)
    before = last_change(wh)

    # A run that computes nothing never starts Great Expectations' worker, though it executes
    # `features` (gx_worker.want / prefetch).
    with monkeypatch.context() as patched:
        patched.setattr(gx_worker, "Worker", lambda *a: pytest.fail("a run that computes nothing started GE"))
        again = run(defs, instance, STAGES)
    meta = materialized(again)
    # The columns are the definitions' (db/column_schemas.py), in no materialization.
    assert not any("dagster/column_schema" in m[a] for m in (meta, materialized(first)) for a in STAGES)
    assert all(meta[a]["unchanged"] is True for a in STAGES), {a: meta[a].get("unchanged") for a in STAGES}
    assert last_change(wh) == before  # nothing rewritten
    again_checks = checks(again)
    assert again_checks == {k: v for k, v in first_checks.items() if k.split(":")[0] in STAGES}
    assert all(again_checks.values())
    assert meta["scores"]["dagster/row_count"] == materialized(first)["scores"]["dagster/row_count"]

    # One upstream row changes: features and scores compute again, and only that row moves.
    key = wh.scalar("SELECT prospect_key FROM enrichment WHERE county = 'king_wa' AND status = 'enriched' "
                    "ORDER BY prospect_key LIMIT 1")
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE enrichment SET living_sqft = living_sqft + 250 WHERE county = 'king_wa' "
                    "AND prospect_key = %s", (key,))
    changed = materialized(run(defs, instance, ["features", "scores"]))
    assert changed["features"]["unchanged"] is False and changed["scores"]["unchanged"] is False
    moved = wh.frame("SELECT prospect_key FROM features WHERE county = 'king_wa' AND updated_at > :since",
                     {"since": before["features"].split("@", 1)[1]})
    assert moved["prospect_key"].tolist() == [key]
    wh.dispose()
