"""A county slice's version (migration 0066, db/slice_versions.py) moves with every write to the
slice, by any writer, and only then; a fingerprint reads again only the parts whose versions
moved (db/input_fingerprints.py)."""

from __future__ import annotations

import importlib
import uuid

import pytest

from realestate_assets.db import input_fingerprints
from realestate_assets.db.input_fingerprints import inputs_digest, read_slices
from realestate_assets.db.slice_versions import VERSIONED_TABLES, version_keys
from realestate_assets.db.warehouse import Warehouse, sync_partition
from tests.scale_rows import prospect_rows

MIGRATION = importlib.import_module("realestate_assets.db.migrations.versions.0066_slice_versions")


def keys(warehouse: Warehouse, county: str, tables: tuple[str, ...] = ("prospects",)) -> dict[str, str | None]:
    with warehouse.transaction() as conn, conn.cursor() as cur:
        return version_keys(cur, tables, county)


def sync(warehouse: Warehouse, county: str, rows: int = 20) -> None:
    with warehouse.transaction() as conn:
        sync_partition(conn, "prospects", prospect_rows(rows), county=county, keys=["prospect_key"])


def test_every_versioned_table_has_its_trigger(warehouse: Warehouse) -> None:
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname = 'slice_version' AND c.relnamespace = current_schema()::regnamespace")
        triggered = {name for (name,) in cur.fetchall()}
    assert triggered == VERSIONED_TABLES == set(MIGRATION.TABLES)


def test_a_slice_version_moves_with_its_writes_and_only_then(warehouse: Warehouse) -> None:
    here, there = (f"sv_{uuid.uuid4().hex[:6]}" for _ in range(2))
    sync(warehouse, here)
    sync(warehouse, there)
    before = keys(warehouse, here)["prospects"]
    assert before is not None and keys(warehouse, here) == {"prospects": before}
    sync(warehouse, there, rows=15)  # another county's slice: this one's key stays
    assert keys(warehouse, here)["prospects"] == before
    sync(warehouse, here, rows=15)  # its own write: moves
    mine = keys(warehouse, here)["prospects"]
    assert mine != before
    with pytest.raises(RuntimeError), warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM prospects WHERE county = %s", (here,))
        raise RuntimeError("rolled back: the write never happened")
    assert keys(warehouse, here)["prospects"] == mine
    # A statement that names no county (psql, the API's on-demand reasons) moves every county's key.
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE prospects SET owner_name = 'x' WHERE county = %s AND prospect_key = 'p1'", (there,))
    assert keys(warehouse, here)["prospects"] != mine
    # After `sync_partition`, a later statement of the same transaction is no longer its county's.
    settled = keys(warehouse, here)["prospects"]
    with warehouse.transaction() as conn:
        sync_partition(conn, "prospects", prospect_rows(15), county=there, keys=["prospect_key"])
        with conn.cursor() as cur:
            cur.execute("UPDATE prospects SET owner_name = 'y' WHERE county = %s AND prospect_key = 'p2'", (here,))
    assert keys(warehouse, here)["prospects"] != settled
    # A TRUNCATE moves every county's key (taken back here: the table is shared with other tests).
    with pytest.raises(RuntimeError), warehouse.transaction() as conn, conn.cursor() as cur:
        now = keys(warehouse, here)["prospects"]
        cur.execute("TRUNCATE prospect_sources, prospects CASCADE")
        assert version_keys(cur, ["prospects"], here)["prospects"] != now
        raise RuntimeError("rolled back")
    # A table without the trigger has no version: never trusted.
    assert keys(warehouse, here, ("prospects", "source_calls"))["source_calls"] is None


def test_a_fingerprint_reads_only_the_parts_whose_versions_moved(warehouse: Warehouse,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    county = f"sv_{uuid.uuid4().hex[:6]}"
    params = {"county": county}
    sync(warehouse, county)
    first = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"])
    assert first.inputs == {t: s for t, s in read_slices(warehouse, ["prospects", "sales"], params).items()}
    scans: list[list[str]] = []
    real = input_fingerprints._slice_states

    def counted(cur: object, tables: list[str], params: dict[str, str]) -> list[str]:
        scans.append(list(tables))
        return real(cur, tables, params)

    monkeypatch.setattr(input_fingerprints, "_slice_states", counted)
    known = {**first.inputs, **first.outputs}
    again = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"], known=known)
    assert again == first and scans == [[]]  # nothing read: every key as recorded
    # The record is what is trusted: a recorded state under the same key is used as it is.
    made_up = {**known, "sales": [known["sales"][0], "7@7"]}
    assert inputs_digest(warehouse, params, tables=["prospects", "sales"], known=made_up).inputs["sales"][1] == "7@7"
    sync(warehouse, county, rows=15)  # prospects moved: read again, sales and scores not
    scans.clear()
    moved = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"], known=known)
    assert scans == [["prospects"]] and moved.digest != first.digest
    assert moved.outputs == first.outputs and moved.inputs["sales"] == first.inputs["sales"]
    # A write that changes no row moves the key, not the state: read again, the same digest.
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE prospects SET owner_name = owner_name WHERE false")
    scans.clear()
    same = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"],
                         known={**moved.inputs, **moved.outputs})
    assert scans == [["prospects"]] and same.digest == moved.digest
    assert same.inputs["prospects"][0] != moved.inputs["prospects"][0]


def test_a_part_the_upstream_stage_recorded_under_its_present_version_is_not_read(
        warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    county = f"sv_{uuid.uuid4().hex[:6]}"
    params = {"county": county}
    sync(warehouse, county)
    upstream_recorded = inputs_digest(warehouse, params, tables=["sales"], outputs=["prospects"])
    scans: list[list[str]] = []
    asked: list[int] = []
    real = input_fingerprints._slice_states

    def counted(cur: object, tables: list[str], params: dict[str, str]) -> list[str]:
        scans.append(list(tables))
        return real(cur, tables, params)

    def upstream() -> dict[str, list[str | None]]:
        asked.append(1)
        return {**upstream_recorded.inputs, **upstream_recorded.outputs}

    monkeypatch.setattr(input_fingerprints, "_slice_states", counted)
    # A first run (no record of its own): the slices the upstream stage wrote or read are its record.
    first = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"], upstream=upstream)
    assert scans == [["scores"]] and asked == [1]
    assert first.inputs == read_slices(warehouse, ["prospects", "sales"], params)
    # Its own record covers every part: the upstream's is not asked for.
    scans.clear()
    again = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"],
                          known={**first.inputs, **first.outputs}, upstream=upstream)
    assert again == first and scans == [[]] and asked == [1]
    # A slice written since the upstream recorded it is read: its key moved.
    sync(warehouse, county, rows=15)
    scans.clear()
    moved = inputs_digest(warehouse, params, tables=["prospects", "sales"], outputs=["scores"], upstream=upstream)
    assert scans == [["prospects", "scores"]] and moved.digest != first.digest
    # The record is what is trusted, whoever made it: a state under the present key is used as it is.
    made_up = {"prospects": [moved.inputs["prospects"][0], "7@7"]}
    trusted = inputs_digest(warehouse, params, tables=["prospects"], upstream=lambda: made_up)
    assert trusted.inputs["prospects"] == [moved.inputs["prospects"][0], "7@7"]
