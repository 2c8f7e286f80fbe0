"""Issue 17: the enrichment asset builds the local shortcut's rows by column (fields, statuses,
provenance as JSON text) and writes them through Arrow's CSV writer. On the bundled King County
file its published rows must be exactly those of the per-prospect path — `enrich_one` for every
prospect, provenance serialized value by value — apart from the fetch times (one per chunk
instead of one per source and prospect)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import build_definitions
from realestate_assets.enrich.clients import Enricher
from realestate_assets.enrich.local_columns import json_strings, provenance_text
from realestate_assets.enrich.provenance import compact_text, expand
from tests.enrich.test_enrichment_streamed import materialize, rows, whole_county_parcels, whole_frame
from tests.samples import write_sample_config


@pytest.mark.slow
def test_the_asset_publishes_enrich_ones_rows_for_the_bundled_county(make_deployment, database_url: str, tenant: str,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=whole_county_parcels())
    defs = build_definitions(deployment=make_deployment(config))
    wh = Warehouse(database_url)
    since = datetime.now(UTC).isoformat()
    materialize(defs, ["sales", "assessor_roll", "prospects", "enrichment"])
    by_columns = rows(wh, since)
    assert len(by_columns) == whole_county_parcels() and (by_columns["status"] == "enriched").mean() > 0.9
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM enrichment WHERE county = 'king_wa'")
    monkeypatch.setattr(Enricher, "local_plan", lambda self: None)  # every prospect through enrich_one
    whole_frame(wh, config)
    pd.testing.assert_frame_equal(by_columns, rows(wh, since))
    wh.dispose()


def test_json_text_by_column_is_what_json_dumps_writes() -> None:
    records = np.array(["kc sale 1", 'a "quoted" \\ path', "tab\there", "nul\x00byte", "é ü", ""], dtype=object)
    texts = json_strings(records).to_pylist()
    assert [json.loads(t) for t in texts] == [r.replace("\x00", "") for r in records]
    assert texts[:2] + texts[4:] == [json.dumps(r, ensure_ascii=False) for r in records[[0, 1, 4, 5]]]
    entry = '{"source": "market"}'
    present = {"b": np.array([True, False, False]), "a": np.array([True, True, False])}
    made = provenance_text({name: (mask, entry) for name, mask in present.items()}, 3).to_pylist()
    assert [expand(t) for t in made] == [{"a": {"source": "market"}, "b": {"source": "market"}},
                                         {"a": {"source": "market"}}, {}]
    # The text compact_text writes for the same provenance (the stored, grouped form).
    assert made == [compact_text(expand(t)) for t in made]
    county = pa.array(['{"source": "county", "record": "r1"}', '{"source": "county"}'], type=pa.large_string())
    both = {"c": (np.array([True, True]), county), "b": (np.array([True, False]), entry),
            "a": (np.array([True, True]), county)}
    made = provenance_text(both, 2).to_pylist()
    assert made == [compact_text(expand(t)) for t in made]
    assert json.loads(made[0]) == {"groups": [{"entry": {"source": "county", "record": "r1"}, "fields": ["a", "c"]},
                                              {"entry": {"source": "market"}, "fields": ["b"]}]}


def test_taken_masks_are_is_given_and_is_present_of_its_values() -> None:
    """`Taken`'s masks come from the county frame's missing values and dtypes, not from comparing
    each Python value: they must be exactly `is_given` and `is_present` of the values it gives."""
    from realestate_assets.enrich.local_columns import ByParcel, is_given, is_present, taken

    frame = pd.DataFrame({
        "number": [1.5, np.nan, 0.0, 2.0],
        "count": pd.array([1, None, 3, 0], dtype="Int64"),
        "text": ["a", "", None, np.nan],
        "day": pd.to_datetime(["2020-01-02", None, "2021-03-04", "2022-05-06"]),
        "mixed": [pd.Timestamp("2020-01-02"), None, "", 7],
        "flag": [True, False, True, False],
    }, index=pd.Index(["p1", "p2", "p3", "p4"], name="parcel_id"))
    parcels = pd.Series(["p4", "unknown", "p1", "p2", "p3", "p1"])
    for source in (ByParcel(frame), ByParcel(None), frame):
        columns = list(frame.columns) if not isinstance(source, ByParcel) or source.frame is not None else []
        got = taken(source, parcels, columns)
        for column in columns:
            values = got.values[column]
            assert (got.given(column) == is_given(values)).all(), column
            assert (got.present(column) == is_present(values)).all(), column


def test_the_tally_counts_known_plain_rows_as_their_text_would() -> None:
    """Rows the shortcut made (`known_plain`) are counted without searching their provenance: the
    same figures as searching it, kept and stale rows elsewhere in the chunk included."""
    from realestate_assets.enrich.pipeline import ENRICHMENT_COLUMNS, EnrichmentTally

    plain = json.dumps({"groups": [{"entry": {"source": "market", "fetched_at": "t", "confidence": 0.6},
                                    "fields": ["comps_count"]}]})
    kept = json.dumps({"groups": [{"entry": {"source": "attom", "fetched_at": "t", "kept": True, "stale": True},
                                   "fields": ["avm_value"]}]})
    frame = pd.DataFrame({c: [None] * 4 for c in ENRICHMENT_COLUMNS})
    frame["status"] = ["enriched", "enriched", "failed", "enriched"]
    frame["provenance"] = [plain, kept, plain, kept]
    frame["source_status"] = ['{"market": {"status": "ok"}}'] * 4
    searched, told = EnrichmentTally(), EnrichmentTally()
    searched.add(frame)
    told.add(frame, known_plain=np.array([True, False, True, False]))
    assert told == searched and told.freshness.summary()["with_kept"] == 2
