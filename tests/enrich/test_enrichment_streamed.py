"""Issue 17: the enrichment asset streams the county (prospects read, enriched and staged a chunk
at a time). Its rows and figures must be exactly those of enriching the county as one frame —
on the bundled King County file, first run and a re-run that keeps an outage's values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml

from realestate_assets.assets.common import county_sales
from realestate_assets.assets.enrichment import PREVIOUS_SQL, PROSPECTS_SQL, ROLL_SQL
from realestate_assets.config_models import load_scoring
from realestate_assets.db.warehouse import Warehouse, sync_partition
from realestate_assets.definitions import build_definitions
from realestate_assets.enrich.pipeline import ENRICHMENT_COLUMNS, OUTSIDE_FIELDS, enrich_prospects
from realestate_assets.enrich.provenance import expand, stored_text
from realestate_assets.enrich.source_statuses import SourceStatusIds, columns_sql
from realestate_assets.enrich.sources_config import load_sources_config
from realestate_assets.enrich.stored_provenance import ProvenanceIds
from tests.samples import SOURCE, write_sample_config

pytestmark = pytest.mark.slow

PARAMS = {"county": "king_wa"}
KEPT = {"source": "attom", "fetched_at": "2026-01-02T03:04:05+00:00", "confidence": 0.9}


def whole_county_parcels() -> int:
    return pd.read_csv(SOURCE, dtype=str, usecols=["pinx"])["pinx"].nunique()


def materialize(defs: dg.Definitions, assets: list[str]) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral(),
                                    asset_selection=[dg.AssetKey(a) for a in assets])
    assert result.success
    return result


def rows(wh: Warehouse, since: str) -> pd.DataFrame:
    """The slice's rows (ENRICHMENT_COLUMNS), this run's fetch times replaced by one marker: the
    only value that may differ between two runs (a time per batch)."""
    frame = wh.frame(f"SELECT {columns_sql(ENRICHMENT_COLUMNS, 'e')} FROM enrichment e WHERE county = :county "
                     "ORDER BY prospect_key", PARAMS)

    def same_run(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "<this run>" if k == "fetched_at" and isinstance(v, str) and v >= since else same_run(v)
                    for k, v in value.items()}
        if isinstance(value, list):  # provenance's groups
            return [same_run(v) for v in value]
        return value

    for column in ("provenance", "source_status"):
        frame[column] = frame[column].map(same_run)
    return frame.reset_index(drop=True)


def stored(conn: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (ENRICHMENT_COLUMNS, the documents as values) as the table stores it: each row's
    statuses as its document's id (migration 0061), its provenance as its document's id and the
    row's record (0063: the writer's stored text of it, in any form it is given)."""
    ids = SourceStatusIds(conn, "king_wa").ids(frame["source_status"].map(json.dumps))
    texts, records = zip(*(stored_text(expand(p)) for p in frame["provenance"]), strict=True)
    return frame.drop(columns=["source_status", "provenance"]).assign(
        source_status_id=ids, provenance_id=ProvenanceIds(conn, "king_wa").ids(list(texts)),
        provenance_record=list(records))


def whole_frame(wh: Warehouse, config: Path) -> pd.DataFrame:
    """The county enriched as one frame (the asset's inputs, read as it read them before it
    streamed), written to the slice with one sync_partition (provenance in its stored form)."""
    frame = enrich_prospects(
        wh.frame(PROSPECTS_SQL, PARAMS), county_sales(wh, PARAMS), county_fips="53033", county_state="WA",
        sources=load_sources_config(config / "enrichment_sources.yaml"), comps=load_scoring(config).comps,
        env={}, assessor=wh.frame(ROLL_SQL, PARAMS), previous=wh.frame(PREVIOUS_SQL, PARAMS)).frame
    with wh.transaction() as conn:
        sync_partition(conn, "enrichment", stored(conn, frame), county="king_wa", keys=["prospect_key"])
    return frame


def figures(frame: pd.DataFrame) -> dict[str, Any]:
    """The asset's figures as it computed them from the whole frame before it streamed."""
    enriched = frame["status"] == "enriched"
    answered: dict[str, int] = {}
    for statuses in frame["source_status"]:
        for name, status in statuses.items():
            answered[name] = answered.get(name, 0) + (status["status"] == "ok")
    return {
        "enriched": int(enriched.sum()), "failed": int((~enriched).sum()),
        "coverage": round(float(enriched.mean()), 4),
        "comps_coverage": round(float(frame.loc[enriched, "comps_estimated_value"].notna().mean()), 4),
        "failure_reasons": frame.loc[~enriched, "failure_reason"].value_counts().to_dict(),
        "coverage_by_source": {n: round(c / len(frame), 4) for n, c in sorted(answered.items())},
        "coverage_by_outside_field": {c: round(float(frame[c].notna().mean()), 4) for c in OUTSIDE_FIELDS},
    }


def test_streamed_enrichment_writes_the_rows_and_figures_of_the_whole_county(make_deployment, database_url: str,
                                                                             tenant: str, tmp_path: Path) -> None:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=whole_county_parcels())
    path = config / "enrichment_sources.yaml"
    sources = yaml.safe_load(path.read_text())
    # Chunks not aligned with batches, and a last chunk shorter than the others.
    sources["runtime"].update(chunk_size=1_000, batch_size=300)
    path.write_text(yaml.safe_dump(sources))
    defs = build_definitions(deployment=make_deployment(config))
    wh = Warehouse(database_url)
    since = datetime.now(UTC).isoformat()

    streamed = materialize(defs, ["sales", "assessor_roll", "prospects", "enrichment"])
    assert wh.scalar("SELECT count(*) FROM prospects WHERE county = 'king_wa'") > 4 * 1_000
    by_stream = rows(wh, since)
    metadata = {k: getattr(v, "value", v) for k, v in
                streamed.asset_materializations_for_node("enrichment")[0].metadata.items()}
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM enrichment WHERE county = 'king_wa'")  # the whole path's first run too
    whole = whole_frame(wh, config)
    pd.testing.assert_frame_equal(by_stream, rows(wh, since))
    assert {k: metadata[k] for k in figures(whole)} == figures(whole)
    assert metadata["dagster/row_count"] == len(whole)

    # A re-run during an ATTOM outage: prospects in several chunks hold ATTOM values, kept with
    # their provenance (enrich_one through _Previous, per chunk in the streamed path).
    before = wh.frame(f"SELECT {columns_sql(ENRICHMENT_COLUMNS, 'e')} FROM enrichment e WHERE county = 'king_wa' "
                      "ORDER BY prospect_key")
    chosen = (before.index + 1) % 97 == 0
    before.loc[chosen, "assessed_value"] = 123456
    before.loc[chosen, "provenance"] = pd.Series([{**expand(p), "assessed_value": KEPT}
                                                  for p in before.loc[chosen, "provenance"]],
                                                 index=before.index[chosen], dtype=object)
    with wh.transaction() as conn:
        sync_partition(conn, "enrichment", stored(conn, before), county="king_wa", keys=["prospect_key"])
    kept_keys = set(before.loc[chosen, "prospect_key"])
    assert len(kept_keys) > 10
    since = datetime.now(UTC).isoformat()
    whole = whole_frame(wh, config)
    by_whole = rows(wh, since)
    with wh.transaction() as conn:  # the slice as the whole path found it
        sync_partition(conn, "enrichment", stored(conn, before), county="king_wa", keys=["prospect_key"])
    materialize(defs, ["enrichment"])
    by_stream = rows(wh, since)
    pd.testing.assert_frame_equal(by_stream, by_whole)
    kept = by_stream[by_stream["prospect_key"].isin(kept_keys)]
    assert (kept["assessed_value"] == 123456).all()
    assert all(expand(p)["assessed_value"]["kept"] and expand(p)["assessed_value"]["fetched_at"] == KEPT["fetched_at"]
               for p in kept["provenance"])
    assert int((whole["assessed_value"] == 123456).sum()) == len(kept_keys)
    wh.dispose()
