"""What counts as a stage's input (db/input_fingerprints.py, assets/enrichment.py): digests move
when a row the stage reads moves, and only then."""

from __future__ import annotations

import uuid

import pandas as pd

from realestate_assets.assets.enrichment import PROSPECTS_SQL, outside_sources_called
from realestate_assets.db.input_fingerprints import inputs_digest, slice_state
from realestate_assets.db.warehouse import Warehouse, sync_partition
from realestate_assets.enrich.sources_config import load_sources_config
from tests.scale_rows import prospect_rows


def test_digests_follow_the_rows_read_and_ignore_the_rest(warehouse: Warehouse) -> None:
    county = f"fp_{uuid.uuid4().hex[:6]}"  # public rows: a county of the test's own
    params = {"county": county}
    frame = prospect_rows(50)

    def sync(rows: pd.DataFrame) -> None:
        with warehouse.transaction() as conn:
            sync_partition(conn, "prospects", rows, county=county,
                           keys=["prospect_key"])

    def digests() -> tuple[str, str]:
        return (inputs_digest(warehouse, params, tables=["prospects"]),
                inputs_digest(warehouse, params, queries=[PROSPECTS_SQL]))

    sync(frame)
    whole, columns = digests()
    sync(frame)  # the same rows again: the upsert touches nothing
    assert digests() == (whole, columns)
    with warehouse.transaction() as conn, conn.cursor() as cur:  # a column enrichment does not read
        cur.execute("UPDATE prospects SET owner_name = 'someone' WHERE county = %s AND prospect_key = 'p1'",
                    (county,))
    after_owner = digests()
    assert after_owner[0] != whole and after_owner[1] == columns
    moved = frame.copy()
    moved.loc[3, "latitude"] += 0.01
    sync(moved)
    assert digests()[1] != columns
    assert inputs_digest(warehouse, params, queries=[PROSPECTS_SQL], settings={"x": 1}) != digests()[1]
    state = slice_state(warehouse, "prospects", params)
    sync(moved.iloc[1:])  # a row no longer produced
    assert slice_state(warehouse, "prospects", params) != state


def test_enrichment_is_only_skippable_without_outside_sources() -> None:
    sources = load_sources_config()  # the shipped config: every HTTP source wants its key
    assert outside_sources_called(sources, {}) == []
    assert outside_sources_called(sources, {"ATTOM_API_KEY": "k"}) == ["attom"]
    assert outside_sources_called(sources, {"CENSUS_API_KEY": "k"}) == ["census_acs", "census_geocoder"]
    offline = sources.model_copy(update={"sources": {
        name: src.model_copy(update={"enabled": src.enabled and not src.is_http})
        for name, src in sources.sources.items()}})
    assert outside_sources_called(offline, {"ATTOM_API_KEY": "k"}) == []
