"""Each table asset's columns — name, type, nullability and the migrations' comment — as the
migrations at their head make them, kept in `column_schemas.json` beside this module.

The asset definitions carry them as `dagster/column_schema` definition metadata
(`definitions.apply_policy`): Dagster's UI shows an asset's columns from its latest
materialization, else from its definition, so they are there before the first run and no
materialization has to carry them. Materializations carried them until stop 53 (issue 17): ≈17 KB
of each `enrichment` materialization (the comments are long), serialized into its STEP_OUTPUT, its
ASSET_MATERIALIZATION and its asset record, and read back by every downstream step's provenance
look-up — ≈10 ms of an unchanged re-run's three steps of ≈115 ms (three noisy pairs) — and read
from the catalog by each step of a new process (two queries a table).

Why a file, not the database: a code location loads without its database (`make demo`'s embedded
PostgreSQL may not run yet). The migrations stay the one place the columns are decided; the file
is what they make, read from a database at their head (`live_schemas`), and
`tests/test_column_schemas.py` fails, showing the difference, when a migration changed a table and
the file was not rewritten (`make column-schemas`).

No Dagster imports: `assets/common.column_schema` makes Dagster's `TableSchema` of an entry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from realestate_assets.db.catalog import column_descriptions

if TYPE_CHECKING:
    from realestate_assets.db.warehouse import Warehouse

FILE = Path(__file__).with_name("column_schemas.json")
# The tables an asset of the same name writes (the partition's rows): the assets with a schema.
TABLES = ("sales", "assessor_roll", "listings", "prospects", "enrichment", "features", "scores", "packets",
          "emails")

Column = dict[str, Any]  # {"name", "type", "nullable", "description" (None when uncommented)}


def live_schemas(warehouse: Warehouse, tables: Sequence[str] = TABLES) -> dict[str, list[Column]]:
    """Each table's columns as `warehouse`'s database has them, in their order."""
    schemas = {}
    for table in tables:
        columns = warehouse.frame_rows(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :table ORDER BY ordinal_position",
            {"table": table})
        descriptions = column_descriptions(warehouse, table)  # COMMENT ON COLUMN, from the migrations
        schemas[table] = [{"name": row.column_name, "type": row.data_type, "nullable": row.is_nullable == "YES",
                           "description": descriptions.get(row.column_name)} for row in columns.itertuples()]
    return schemas


@functools.cache
def stored_schemas() -> dict[str, list[Column]]:
    """The file's schemas (read once per process)."""
    return json.loads(FILE.read_text())


def write(schemas: dict[str, list[Column]]) -> None:
    FILE.write_text(json.dumps(schemas, indent=1, ensure_ascii=False) + "\n")
