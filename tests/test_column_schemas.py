"""The column schemas the table assets' definitions carry (realestate_assets/db/column_schemas.json)
are the migrations' at their head, and each table asset carries its own (issue 17: no
materialization carries them)."""

from __future__ import annotations

import difflib
import html
import json

import dagster as dg

from realestate_assets.assets.common import COLUMN_SCHEMA
from realestate_assets.db import column_schemas
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import build_definitions


def test_the_stored_schemas_are_the_migrations(warehouse: Warehouse) -> None:
    live, stored = column_schemas.live_schemas(warehouse), column_schemas.stored_schemas()
    if live != stored:
        diff = difflib.unified_diff(json.dumps(stored, indent=1).splitlines(), json.dumps(live, indent=1).splitlines(),
                                    "column_schemas.json", "the migrations' head", lineterm="", n=2)
        raise AssertionError("a migration changed a table asset's columns: run `make column-schemas`\n"
                             + "\n".join(diff))


def test_each_table_asset_s_definition_carries_its_table_s_columns() -> None:
    graph = build_definitions().resolve_asset_graph()
    for table in column_schemas.TABLES:
        schema = graph.get(dg.AssetKey(table)).metadata[COLUMN_SCHEMA]
        stored = column_schemas.stored_schemas()[table]
        assert [(c.name, c.type, c.constraints.nullable, html.unescape(c.description or "") or None)
                for c in schema.columns] == [
            (c["name"], c["type"], c["nullable"], c["description"]) for c in stored], table
    assert COLUMN_SCHEMA not in graph.get(dg.AssetKey("ml_model")).metadata  # not a table asset
    # The UI renders descriptions as Markdown: a comment's `<county>` is kept, not read as a tag.
    county = next(c for c in graph.get(dg.AssetKey("sales")).metadata[COLUMN_SCHEMA].columns if c.name == "county")
    assert "config/counties/&lt;county&gt;.yaml" in county.description
