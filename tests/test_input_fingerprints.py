"""What counts as a stage's input (db/input_fingerprints.py, assets/enrichment.py): digests move
when a row the stage reads moves, and only then."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from realestate_assets.assets import unchanged
from realestate_assets.assets.common import rows_after_sync, slice_rows
from realestate_assets.assets.enrichment import PROSPECTS_SQL, outside_sources_called
from realestate_assets.db.input_fingerprints import inputs_digest, loaded_slice_state, read_slices
from realestate_assets.db.warehouse import AuditResult, SyncStats, Warehouse, sync_partition
from realestate_assets.enrich.sources_config import load_sources_config
from tests.scale_rows import prospect_rows


def slice_state(warehouse: Warehouse, table: str, params: dict[str, str]) -> str | None:
    """The slice's state as read now ("count@sum of xmin")."""
    return read_slices(warehouse, [table], params)[table][1]


def test_digests_follow_the_rows_read_and_ignore_the_rest(warehouse: Warehouse) -> None:
    county = f"fp_{uuid.uuid4().hex[:6]}"  # public rows: a county of the test's own
    params = {"county": county}
    frame = prospect_rows(50)

    def sync(rows: pd.DataFrame) -> None:
        with warehouse.transaction() as conn:
            sync_partition(conn, "prospects", rows, county=county,
                           keys=["prospect_key"])

    def digests() -> tuple[str, str]:
        return (inputs_digest(warehouse, params, tables=["prospects"]).digest,
                inputs_digest(warehouse, params, queries={PROSPECTS_SQL: ["prospects"]}).digest)

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
    assert inputs_digest(warehouse, params, queries={PROSPECTS_SQL: ["prospects"]},
                         settings={"x": 1}).digest != digests()[1]
    state = slice_state(warehouse, "prospects", params)
    sync(moved.iloc[1:])  # a row no longer produced
    assert slice_state(warehouse, "prospects", params) != state
    # Several slices in one statement: each as read alone ("count@sum of xmin").
    assert {t: s for t, (_, s) in read_slices(warehouse, ["prospects", "sales"], params).items()} == {
        "prospects": slice_state(warehouse, "prospects", params), "sales": "0@0"}
    assert slice_state(warehouse, "prospects", params).startswith(f"{len(moved) - 1}@")
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(xmin::text::bigint), 0) FROM prospects WHERE county = %s",
                    (county,))
        assert slice_state(warehouse, "prospects", params) == "{}@{}".format(*cur.fetchone())


def test_rows_after_a_sync_are_the_staged_rows_unless_held_back(warehouse: Warehouse) -> None:
    """`rows_after_sync`: a published sync's slice is exactly its staged rows (no count); a write a
    blocking audit held back leaves the previous rows, counted."""
    county = f"fp_{uuid.uuid4().hex[:6]}"
    params = {"county": county}

    def sync(rows: pd.DataFrame, passed: bool = True) -> SyncStats:
        def audit(conn: object, stage: str) -> list[AuditResult]:
            return [AuditResult("gate", passed, "", blocking=True)]
        with warehouse.transaction() as conn:
            return sync_partition(conn, "prospects", rows, county=county, keys=["prospect_key"], audit=audit)

    first = sync(prospect_rows(50))
    assert rows_after_sync(warehouse, "prospects", params, first) == 50 == slice_rows(warehouse, "prospects", params)
    fewer = sync(prospect_rows(50).iloc[5:])
    assert rows_after_sync(warehouse, "prospects", params, fewer) == 45 == slice_rows(warehouse, "prospects", params)
    held = sync(prospect_rows(50).iloc[10:], passed=False)
    assert not held.published and rows_after_sync(warehouse, "prospects", params, held) == 45


def test_a_first_loads_slice_state_is_known_without_a_scan(warehouse: Warehouse,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`prospects` writes two first loads in one transaction: their states after the commit are
    what the scan reads (`read_slices`), from the loads alone (`written_slice` reads nothing), with
    the version keys read in the loads' transaction;
    an upsert, or a load a blocking audit held back, is scanned as before."""
    county = f"fp_{uuid.uuid4().hex[:6]}"  # an empty slice: a first load
    params = {"county": county}
    links = prospect_rows(40)[["prospect_key"]].assign(source="assessor", source_id=lambda f: f["prospect_key"],
                                                       matched_on="parcel_id")
    with warehouse.transaction() as conn:
        linked = sync_partition(conn, "prospect_sources", links, county=county, keys=["source", "source_id"])
        loaded = sync_partition(conn, "prospects", prospect_rows(50), county=county, keys=["prospect_key"])
    assert loaded.loaded_xmin and linked.loaded_xmin  # not None, not 0: rows were loaded
    assert loaded_slice_state(loaded) == slice_state(warehouse, "prospects", params)
    assert loaded_slice_state(linked) == slice_state(warehouse, "prospect_sources", params)
    scanned = unchanged.written_slice(warehouse, "prospects", params, companions=["prospect_sources"])

    def no_scan(*args: object) -> str:
        raise AssertionError("a first load's state was read from the table")

    with monkeypatch.context() as patched:
        patched.setattr(unchanged, "read_slices", no_scan)
        known = unchanged.written_slice(warehouse, "prospects", params, companions=["prospect_sources"],
                                        writes=[loaded, linked])
    assert known == scanned and known.rows == 50 and None not in known.slices["prospects"]
    # An upsert (some rows keep their `xmin`) is no first load: the slice is scanned.
    with warehouse.transaction() as conn:
        upsert = sync_partition(conn, "prospects", prospect_rows(50).iloc[5:], county=county, keys=["prospect_key"])
    assert upsert.loaded_xmin is None and loaded_slice_state(upsert) is None
    after = unchanged.written_slice(warehouse, "prospects", params, writes=[upsert])
    assert (after.rows, after.state) == (45, slice_state(warehouse, "prospects", params))
    # A first load a blocking audit held back leaves the slice as it was (empty): scanned too.
    other = {"county": f"fp_{uuid.uuid4().hex[:6]}"}
    with warehouse.transaction() as conn:
        held = sync_partition(conn, "prospects", prospect_rows(50), county=other["county"], keys=["prospect_key"],
                              audit=lambda conn, stage: [AuditResult("gate", False, "", blocking=True)])
    assert not held.published and held.loaded_xmin is None
    emptied = unchanged.written_slice(warehouse, "prospects", other, writes=[held])
    assert (emptied.rows, emptied.state) == (0, "0@0")
    # An empty first load: no row, the state of an empty slice.
    with warehouse.transaction() as conn:
        empty = sync_partition(conn, "prospects", prospect_rows(50).iloc[:0], county=other["county"],
                               keys=["prospect_key"])
    assert loaded_slice_state(empty) == "0@0" == slice_state(warehouse, "prospects", other)


def test_enrichment_is_only_skippable_without_outside_sources() -> None:
    sources = load_sources_config()  # the shipped config: every HTTP source wants its key
    assert outside_sources_called(sources, {}) == []
    assert outside_sources_called(sources, {"ATTOM_API_KEY": "k"}) == ["attom"]
    assert outside_sources_called(sources, {"CENSUS_API_KEY": "k"}) == ["census_acs", "census_geocoder"]
    offline = sources.model_copy(update={"sources": {
        name: src.model_copy(update={"enabled": src.enabled and not src.is_http})
        for name, src in sources.sources.items()}})
    assert outside_sources_called(offline, {"ATTOM_API_KEY": "k"}) == []
