"""What the database says about itself: column comments and the schema's Alembic revision.

* `column_descriptions(warehouse, table)` reads `COMMENT ON COLUMN` texts (written by migration
  0006) so asset metadata shows what each column means, from the one place that defines it.
* `schema_is_current(url)` tells whether the warehouse is at the newest migration; the code
  server's readiness probe runs `python -m realestate_assets.db.catalog --check-head`, so schedules
  and sensors never run against an old schema.
* `table_columns(cur, tables)` lists each table's columns as `*` would (a prepared statement names
  them, so that a column added later does not change its result type), and `columns_stamp(tables)`
  is an SQL expression whose value changes when a column is added to one of them.

No Dagster imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text

from realestate_assets.db.urls import sqlalchemy_url

if TYPE_CHECKING:  # the readiness probe imports this module every 20 s: no pandas for it
    from realestate_assets.db.warehouse import Warehouse

_COMMENTS_SQL = """
SELECT a.attname AS column_name, pg_catalog.col_description(a.attrelid, a.attnum) AS description
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = to_regclass(:table) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def column_descriptions(warehouse: Warehouse, table: str) -> dict[str, str]:
    """Column name -> its comment, for the columns of `table` (in the search path) that have one."""
    frame = warehouse.frame(_COMMENTS_SQL, {"table": table})
    return {row.column_name: row.description for row in frame.itertuples() if row.description}


def columns_stamp(tables: Sequence[str]) -> str:
    """SQL whose value grows when a column is added to one of `tables`: the sum of their
    `pg_class.relnatts` (it counts dropped columns too, so an added column always raises it)."""
    names = ", ".join(t.replace("'", "") for t in tables)
    return f"(SELECT sum(relnatts)::int FROM pg_catalog.pg_class WHERE oid = ANY ('{{{names}}}'::regclass[]))"


def table_columns(cur: Any, tables: Sequence[str]) -> tuple[dict[str, list[str]], int]:
    """({table: its columns in `*` order}, `columns_stamp(tables)` read in the same statement), on
    a psycopg2 cursor, tables by name in the search path."""
    cur.execute(f"SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum), {columns_stamp(tables)} "
                "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
                "WHERE c.oid = ANY (%s::regclass[]) AND a.attnum > 0 AND NOT a.attisdropped GROUP BY c.relname",
                (list(tables),))
    rows = cur.fetchall()
    found = {name: list(columns) for name, columns, _ in rows}
    return {t: found[t] for t in tables}, rows[0][2]


def schema_revisions(url: str) -> tuple[set[str], set[str]]:
    """(revisions the database is at, head revisions of the migrations shipped with this code)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from realestate_assets.db.migrate import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return current, heads


def schema_is_current(url: str) -> bool:
    current, heads = schema_revisions(url)
    return current == heads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realestate_assets.db.catalog")
    parser.add_argument("--check-head", action="store_true",
                        help="exit 0 when the warehouse (DATABASE_URL) is at the newest migration, else 1")
    args = parser.parse_args(argv)
    if not args.check_head:
        parser.print_help()
        return 2
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 1
    try:
        current, heads = schema_revisions(url)
    except Exception as exc:  # a probe reports, it never raises a traceback per tick
        print(f"warehouse unreachable: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    if current != heads:
        print(f"warehouse schema at {sorted(current) or 'nothing'}, code expects {sorted(heads)}: "
              "run `reos db upgrade`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
