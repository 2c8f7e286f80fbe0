"""Rewrite realestate_assets/db/column_schemas.json from a scratch database migrated to the head
(`make column-schemas`, which runs `python -m tests.write_column_schemas`;
tests/test_column_schemas.py says when)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from realestate_assets.db import column_schemas
from realestate_assets.db.warehouse import Warehouse
from tests.databases import scratch_database


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, scratch_database(Path(tmp) / "pg", prefix="reos_schemas") as url:
        wh = Warehouse(url)
        try:
            column_schemas.write(column_schemas.live_schemas(wh))
        finally:
            wh.dispose()
    print(f"wrote {column_schemas.FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
