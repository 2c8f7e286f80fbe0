"""Issue 17: `features` and `scores` are written chunk by chunk as they are built, their checks
and metadata counted per chunk. A run in tiny chunks (many chunks, output parts not aligned with
the input chunks, explained rows in several parts) must write the same tables, pass the same
checks and report the same figures as a run in one chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest

from realestate_assets.assets import features as features_asset
from realestate_assets.assets import scoring as scores_asset
from realestate_assets.assets.common import county_sales, snapshot
from realestate_assets.db.lifecycle import PUBLIC_STATUS, PUBLIC_STATUS_JOINS
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import build_definitions
from realestate_assets.market.index import INDEX_SALE_COLUMNS, HedonicIndex
from realestate_assets.market.stored import stored_index
from realestate_assets.ml import compiled as compiled_module
from tests.samples import write_sample_config

pytestmark = pytest.mark.slow

UPSTREAM = ["sales", "assessor_roll", "prospects", "enrichment", "ml_model"]
STAGES = ["features", "scores"]
# Figures that are times or name the run.
NOT_COMPARED = {"explain_seconds", "explain_rows_per_s", "predict_seconds", "input_fingerprint",
                "output_slice_state", "slice_versions", "recorded_checks", "computed_at"}


def run(defs: dg.Definitions, assets: list[str]) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral(),
                                    asset_selection=[dg.AssetKey(a) for a in assets])
    assert result.success
    return result


def outcome(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """Each stage's metadata (times aside) and check results (passed, description)."""
    out: dict[str, Any] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            out[materialization.asset_key.to_user_string()] = {
                k: getattr(v, "value", v) for k, v in materialization.metadata.items() if k not in NOT_COMPARED}
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.asset_check_evaluation_data
            # county_fresh says when the partition was last materialized: two runs a minute apart
            # (a loaded machine) word it differently, so only its verdict is compared.
            said = None if data.check_name == "county_fresh" else data.description
            out[f"{data.asset_key.to_user_string()}:{data.check_name}"] = (data.passed, said)
    return out


def tables(wh: Warehouse) -> dict[str, Any]:
    """Both slices (every column but the surrogate id and the row timestamps), ordered by key, and
    the prospects' lifecycle."""
    out: dict[str, Any] = {}
    for table in STAGES:
        frame = wh.frame(f"SELECT * FROM {table} WHERE county = 'king_wa' ORDER BY prospect_key")
        out[table] = frame.drop(columns=[c for c in ("id", "created_at", "updated_at") if c in frame])
    out["status"] = wh.frame(f"SELECT {PUBLIC_STATUS} AS status, count(*) AS n FROM prospects p "
                             f"{PUBLIC_STATUS_JOINS} WHERE p.county = 'king_wa' GROUP BY 1 ORDER BY 1")
    return out


def refuse_to_compile(model_text: str) -> bytes:
    raise RuntimeError("the trees were compiled when the models were registered, not by scores")


def test_features_and_scores_in_tiny_chunks_write_what_one_chunk_writes(
        make_deployment, database_url: str, tenant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    import yaml

    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=400, packet_threshold=60)
    scoring = yaml.safe_load((config / "scoring.yaml").read_text())
    # `ml_model` compiles the trees of a county `scores` predicts with them (here every county:
    # `compiled_trees_min_rows: 0`) when it registers the models; the first run below predicts
    # with LightGBM (the default minimum), the second reads those compiled trees.
    (config / "scoring.yaml").write_text(yaml.safe_dump({**scoring, "compiled_trees_min_rows": 0}))
    wh = Warehouse(database_url)
    registered = outcome(run(build_definitions(deployment=make_deployment(config)), UPSTREAM))
    assert set(registered["ml_model"]["compiled_trees"].values()) == {"compiled (compiled now)"}
    (config / "scoring.yaml").write_text(yaml.safe_dump(scoring))
    defs = build_definitions(deployment=make_deployment(config))

    one = outcome(run(defs, STAGES))  # 400 prospects: one chunk, one output part
    whole = tables(wh)
    assert len(whole["features"]) == len(whole["scores"]) > 300
    explained = int(whole["scores"]["score_breakdown"].notna().sum())
    with wh.transaction() as conn, conn.cursor() as cur:  # the index it fitted, stored for the API
        stored, _ = stored_index(cur, "king_wa")
    assert stored.method == "hedonic"  # the metadata shows its levels to 4 decimals
    assert stored.to_dict() == pytest.approx(one["features"]["market_index"], abs=5e-5)
    # ...as `enrichment` fitted and stored it, taken by `features` (issue 17): the fit `features`
    # would have made from the sales, to the last bit.
    assert one["features"]["market_index_fitted"] == features_asset.FIT_TAKEN
    own = HedonicIndex.from_sales(county_sales(wh, {"county": "king_wa"}, INDEX_SALE_COLUMNS))
    pd.testing.assert_series_equal(stored.by_month, own.by_month, check_exact=True, check_freq=False)
    assert 20 < explained < len(whole["scores"])  # explained rows in many parts below
    # The county's model versions, once beside its rows (migration 0060), as the run reported them.
    assert wh.scalar("SELECT model_versions FROM score_model_versions WHERE county = 'king_wa'") == \
        one["scores"]["model_versions"] != {}

    with wh.transaction() as conn, conn.cursor() as cur:  # the next run writes every row again
        cur.execute("DELETE FROM scores WHERE county = 'king_wa'")
        cur.execute("DELETE FROM features WHERE county = 'king_wa'")
        # ...and fits the index itself: a write to the sales (no value changed) since enrichment's fit
        cur.execute("UPDATE sales SET sale_price = sale_price WHERE county = 'king_wa' AND sale_id = "
                    "(SELECT min(sale_id) FROM sales WHERE county = 'king_wa')")
    monkeypatch.setattr(features_asset, "FEATURE_CHUNK_ROWS", 37)
    monkeypatch.setattr(scores_asset, "SCORE_CHUNK_ROWS", 41)
    # ...and predicts with the models' compiled trees (a 400-row county is below the default
    # `compiled_trees_min_rows`), those `ml_model` compiled, read from the store (a compile now
    # would fail and leave LightGBM, said in `predict_engines`): the same rows to the bit as
    # LightGBM's.
    (config / "scoring.yaml").write_text(yaml.safe_dump({**scoring, "compiled_trees_min_rows": 0}))
    monkeypatch.setattr(compiled_module, "compile_object", refuse_to_compile)
    defs = build_definitions(deployment=make_deployment(config))
    chunked = outcome(run(defs, STAGES))
    rows = len(whole["features"])
    assert set(one["scores"].pop("predict_engines").values()) == \
        {f"lightgbm: {rows} feature rows, below compiled_trees_min_rows"}
    assert set(chunked["scores"].pop("predict_engines").values()) == {"compiled"}
    assert chunked["features"].pop("market_index_fitted") == features_asset.FITTED_HERE  # the same rows below
    one["features"].pop("market_index_fitted")

    for name, frame in tables(wh).items():
        pd.testing.assert_frame_equal(frame, whole[name], obj=name)
    assert chunked.keys() == one.keys()
    for key in one:  # every figure and check of each stage
        assert chunked[key] == one[key], key
    assert chunked["features:required_features_complete"][0] and chunked["scores:packet_candidates_explained"][0]
    assert chunked["scores"]["explained_rows"] == explained
    # Great Expectations' worker process (`RequiredFeatures`) ended with each run's resources.
    assert not [p for p in psutil.Process().children(recursive=True) if "realestate_assets.gx_worker" in p.cmdline()]


def test_scores_explain_the_best_candidates_within_the_reasons_budget(
        make_deployment, database_url: str, tenant: str, tmp_path: Path) -> None:
    """With a reasons budget smaller than the packet candidates, `scores` explains the best-ranked
    candidates up to it; the blocking check reads the same budget and says how many are left for
    on-demand reasons. The explained rows' inputs, read again by key, are the county read's."""
    import pandas as pd
    import yaml

    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=400, packet_threshold=60)
    scoring = yaml.safe_load((config / "scoring.yaml").read_text())
    scoring["explain_max_rows"] = 12
    (config / "scoring.yaml").write_text(yaml.safe_dump(scoring))
    defs = build_definitions(deployment=make_deployment(config))
    wh = Warehouse(database_url)
    found = outcome(run(defs, [*UPSTREAM, *STAGES]))

    scores = tables(wh)["scores"]
    candidates = scores["bird_dog_score"] >= 60
    explained = scores["score_breakdown"].notna()
    assert candidates.sum() > 12
    assert set(scores.loc[explained, "score_rank"]) == set(range(1, 13))  # the 12 best, candidates all
    assert found["scores"]["explained_rows"] == 12
    assert found["scores"]["candidates_past_budget"] == candidates.sum() - 12
    passed, description = found["scores:packet_candidates_explained"]
    assert passed and f"{candidates.sum() - 12} ranked past the reasons budget (12)" in description

    keys = scores.loc[explained, "prospect_key"].tolist()[::-1]
    with snapshot(wh) as read:
        again = scores_asset.rows_of(wh, read, {"county": "king_wa"}, keys)
    county = wh.frame(scores_asset.SCORE_INPUT_SQL, {"county": "king_wa"}).set_index("prospect_key", drop=False)
    pd.testing.assert_frame_equal(again, county.loc[keys].reset_index(drop=True), check_dtype=False)
