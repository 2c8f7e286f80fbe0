"""`prospects` skips a re-run whose sales and listings are unchanged (assets/unchanged.py), and
recomputes when an input or one of its two output slices moved (issue 17)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import Deployment, build_definitions
from tests.samples import write_sample_config

PROSPECT_ROWS = ("SELECT prospect_key, parcel_id, latitude, longitude, use_type, sources, xmin::text AS version, "
                 "updated_at FROM prospects WHERE county = 'king_wa' ORDER BY prospect_key")
LINK_ROWS = ("SELECT source, source_id, prospect_key, matched_on, xmin::text AS version FROM prospect_sources "
             "WHERE county = 'king_wa' ORDER BY source, source_id")


def run(deployment: Deployment, instance: dg.DagsterInstance, *assets: str) -> dict:
    defs = build_definitions(deployment=deployment)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey(a) for a in assets})
    result = job.execute_in_process(partition_key="king_wa", instance=instance)
    assert result.success
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    return {"metadata": {k: getattr(v, "value", v) for k, v in
                         result.asset_materializations_for_node("prospects")[0].metadata.items()},
            "checks": checks}


def test_prospects_skip_an_unchanged_rerun_and_recompute_when_a_slice_moved(
        make_deployment, tmp_path: Path, database_url: str) -> None:
    deployment = make_deployment(write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=40))
    instance = dg.DagsterInstance.ephemeral()
    wh = Warehouse(database_url)
    first = run(deployment, instance, "sales", "listings", "prospects")
    assert first["metadata"]["unchanged"] is False and first["metadata"]["dagster/row_count"] == 40
    prospects, links = wh.frame(PROSPECT_ROWS), wh.frame(LINK_ROWS)
    assert len(prospects) == 40 and len(links) == 40

    again = run(deployment, instance, "sales", "listings", "prospects")  # the sources re-read, nothing new
    assert again["metadata"]["unchanged"] is True and again["metadata"]["dagster/row_count"] == 40
    assert again["checks"] == first["checks"] and all(again["checks"].values())
    pd.testing.assert_frame_equal(wh.frame(PROSPECT_ROWS), prospects)  # not one row version rewritten
    pd.testing.assert_frame_equal(wh.frame(LINK_ROWS), links)

    # A link deleted by anything else: the companion slice moved, so prospects are computed again
    # and the link is back (the prospects themselves unchanged: the upsert leaves them alone).
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM prospect_sources WHERE county = 'king_wa' AND source_id = %s",
                    (links["source_id"].iloc[0],))
    restored = run(deployment, instance, "prospects")
    assert restored["metadata"]["unchanged"] is False
    assert wh.frame(LINK_ROWS)[["source", "source_id", "prospect_key", "matched_on"]].equals(
        links[["source", "source_id", "prospect_key", "matched_on"]])
    pd.testing.assert_frame_equal(wh.frame(PROSPECT_ROWS), prospects)
    assert run(deployment, instance, "prospects")["metadata"]["unchanged"] is True

    # An input row changed (a sale moved): computed again, exactly that prospect rewritten.
    key = prospects["prospect_key"].iloc[3]
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE sales SET latitude = latitude + 0.0001 WHERE county = 'king_wa' AND parcel_id = %s",
                    (prospects["parcel_id"].iloc[3],))
    moved = run(deployment, instance, "prospects")
    assert moved["metadata"]["unchanged"] is False and moved["metadata"]["updated"] == 1
    after = wh.frame(PROSPECT_ROWS).set_index("prospect_key")
    changed = after["version"] != prospects.set_index("prospect_key")["version"]
    assert list(after.index[changed]) == [key]
    wh.dispose()
