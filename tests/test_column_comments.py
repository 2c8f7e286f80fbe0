"""Every column of every table explains itself (COMMENT ON COLUMN, migration 0006)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from realestate_assets.db.catalog import column_descriptions, main, schema_is_current, schema_revisions
from realestate_assets.db.migrate import downgrade, upgrade
from realestate_assets.db.warehouse import Warehouse

UNCOMMENTED = """
SELECT c.relname, a.attname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND coalesce(pg_catalog.col_description(c.oid, a.attnum), '') = ''
ORDER BY 1, 2
"""


def _dsn(url: str) -> dict:
    u = make_url(url)
    return {"host": u.query.get("host") or u.host, "port": u.port, "user": u.username or "postgres",
            "dbname": u.database}




def test_every_column_of_every_table_has_a_comment(database_url):
    warehouse = Warehouse(database_url)
    try:
        missing = warehouse.frame(UNCOMMENTED)
        assert missing.empty, "columns without COMMENT ON COLUMN:\n" + missing.to_string()
        tables = warehouse.frame(  # a partition's columns are its table's (migration 0069)
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND NOT (SELECT relispartition FROM pg_class WHERE oid = tablename::regclass)")["tablename"]
        assert len(tables) >= 15
        for table in tables:
            columns = warehouse.frame(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = :t", {"t": table})["column_name"]
            descriptions = column_descriptions(warehouse, table)
            assert set(descriptions) == set(columns), table
            assert all(len(d) > 10 for d in descriptions.values()), table
        # Table-specific wording wins over the shared one.
        assert column_descriptions(warehouse, "scores")["bird_dog_score"].startswith("Deal score 0-100")
        assert "tax purposes" in column_descriptions(warehouse, "enrichment")["assessed_value"]
        assert column_descriptions(warehouse, "no_such_table") == {}
    finally:
        warehouse.dispose()


def test_comments_come_and_go_with_the_migration_and_the_probe_sees_the_head(fresh_database):
    url = fresh_database
    assert main_check(url) == 1  # empty database: not at head
    upgrade(url, "0004")
    current, heads = schema_revisions(url)
    assert current == {"0004"} and current != heads and not schema_is_current(url)
    upgrade(url)
    assert schema_is_current(url) and main_check(url) == 0
    warehouse = Warehouse(url)
    try:
        assert warehouse.frame(UNCOMMENTED).empty
        downgrade(url, "0004")
        assert column_descriptions(warehouse, "sales") == {}
    finally:
        warehouse.dispose()
    upgrade(url)
    assert schema_is_current(url)


def main_check(url: str) -> int:
    import os

    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        return main(["--check-head"])
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
