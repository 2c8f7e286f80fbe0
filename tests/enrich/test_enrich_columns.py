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
from realestate_assets.enrich.local_columns import provenance_text
from realestate_assets.enrich.provenance import expand, stored_text
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


def test_provenance_by_column_is_what_stored_text_writes() -> None:
    """One document per pattern of present fields, dictionary-encoded, each the text
    `stored_text` writes for its rows' provenance; the county entry's groups marked where the row
    has a record (migration 0063), not where none of its fields is present."""
    entry = '{"source": "market"}'
    present = {"b": np.array([True, False, False]), "a": np.array([True, True, False])}
    made, named = provenance_text({name: (mask, entry) for name, mask in present.items()}, 3)
    texts = made.cast(pa.large_string()).to_pylist()
    assert [expand(t) for t in texts] == [{"a": {"source": "market"}, "b": {"source": "market"}},
                                          {"a": {"source": "market"}}, {}]
    assert not named.any() and texts == [stored_text(expand(t))[0] for t in texts]
    county = '{"source": "county"}'
    both = {"c": (np.array([True, True, False]), county), "b": (np.array([True, False, True]), entry),
            "a": (np.array([True, True, False]), county)}
    made, named = provenance_text(both, 3, (county, np.array([True, False, True])))
    assert list(named) == [True, False, False]  # the third row's record: no county field to name it
    texts = made.cast(pa.large_string()).to_pylist()
    records = np.where(named, np.array(["r1", "r2", "r3"], dtype=object), None)
    per_field = [expand(t, r) for t, r in zip(texts, records, strict=True)]
    assert per_field[0] == {"a": {"source": "county", "record": "r1"}, "b": {"source": "market"},
                            "c": {"source": "county", "record": "r1"}}
    assert per_field[1] == {"a": {"source": "county"}, "c": {"source": "county"}}
    assert [stored_text(p) for p in per_field] == list(zip(texts, records, strict=True))
    assert json.loads(texts[0]) == {"groups": [{"entry": {"source": "county"}, "fields": ["a", "c"], "record": True},
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
