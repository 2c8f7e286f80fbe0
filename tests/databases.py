"""A scratch PostgreSQL database, migrated: the tests' session database and the chaos harness's.

PostgreSQL is the machine's server at 127.0.0.1:5432 (trust auth, user postgres) when it answers,
else one started from the `pgserver` wheel under `pg_dir`. `scratch_database` creates a uniquely
named database, runs the migrations, yields its SQLAlchemy URL and drops it afterwards.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import psycopg2
from psycopg2 import sql

LOCAL_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def _admin_connection(dsn: str):  # -> psycopg2 connection in autocommit
    conn = psycopg2.connect(dsn, connect_timeout=3)
    conn.autocommit = True
    return conn


def migration_module(number: str) -> ModuleType:
    """Migration `number`'s module (`0057` → versions/0057_*.py), loaded from its file: the tests
    compare what a migration froze (its columns, its SQL) with the application's."""
    from realestate_assets.db.migrate import MIGRATIONS

    path = next((MIGRATIONS / "versions").glob(f"{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{number}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def psycopg2_dsn(url: str) -> str:
    """The libpq form of one of our SQLAlchemy URLs (for psycopg2.connect)."""
    return url.replace("postgresql+psycopg2", "postgresql")


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """`sql` with `params` on a connection of its own, committed: its rows (none for a write)."""
    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def county_partitions(url: str, *counties: str) -> None:
    """Each county's partition of every table partitioned by county (migration 0069), made if it
    has none: a test that INSERTs a county's rows itself asks first, as any writer but the
    pipeline's `sync_partition` must."""
    from realestate_assets.db.county_partitions import ensure_county_partitions

    conn = psycopg2.connect(psycopg2_dsn(url))
    try:
        with conn, conn.cursor() as cur:
            ensure_county_partitions(cur, *counties)
    finally:
        conn.close()


@contextmanager
def scratch_database(pg_dir: Path, prefix: str = "reos_test") -> Iterator[str]:
    # Alembic imported here, not at the top: tests/conftest.py imports this module in xdist's
    # controller process too, which makes no database.
    from realestate_assets.db.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = None
    try:
        admin = _admin_connection(LOCAL_ADMIN_DSN)
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    except psycopg2.OperationalError:
        import pgserver

        server = pgserver.get_server(pg_dir, cleanup_mode="stop")
        socket_dir = server.get_uri().split("host=", 1)[1]
        admin = _admin_connection(f"host={socket_dir} user=postgres dbname=postgres")
        url = f"postgresql+psycopg2://postgres@/{name}?host={socket_dir}"
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        # A scratch database need not survive a server crash: commits stop waiting for the WAL
        # flush (~0.4 ms each on this machine's disk). Planning, locking and visibility are unchanged.
        cur.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))
    try:
        upgrade(url)
        yield url
    finally:
        from resources.warehouse import _warehouse

        _warehouse(url).dispose()
        _warehouse.cache_clear()
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
        if server is not None:
            server.cleanup()


@contextmanager
def empty_database(url: str, prefix: str = "reos_empty") -> Iterator[str]:
    """A new database on `url`'s server, empty (not migrated: for tests that migrate it down and
    up themselves); yields its URL and drops it afterwards."""
    from sqlalchemy.engine import make_url  # as `scratch_database`'s Alembic: not in xdist's controller

    server = make_url(url)
    admin = _admin_connection(psycopg2_dsn(server.set(database="postgres").render_as_string(hide_password=False)))
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def clear_public_tables(url: str) -> None:
    """Empty the public county tables (and the public stages' logs). Public county data has no
    tenant (DESIGN §9): pipeline tests sharing a database start from no county rows, as each used
    to start from a fresh tenant."""
    from realestate_assets.db.tenancy import LOG_TABLES, PUBLIC_TABLES

    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:
        for table in sorted(PUBLIC_TABLES):
            cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        for table in sorted(LOG_TABLES):
            cur.execute(sql.SQL("DELETE FROM {} WHERE tenant_id IS NULL").format(sql.Identifier(table)))
    conn.close()


def create_tenant(url: str, tenant_id: str | None = None, name: str = "test tenant") -> str:
    """A fresh tenant row: runs for it share the database but never another tenant's rows. Its
    recipients and campaigns are seeded from the repository's config files, as `reos demo` seeds
    the local tenant (the emails step reads them from the tenant's tables)."""
    from realestate_assets.config_models import load_campaigns, load_outreach
    from realestate_assets.outreach.tenant_data import seed_from_config
    from realestate_assets.settings import repo_root

    tenant_id = tenant_id or f"t_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(psycopg2_dsn(url))
    with conn, conn.cursor() as cur:
        # Unlimited: pipeline tests are not about plans (tests/api/test_quotas.py is).
        cur.execute("INSERT INTO tenants (id, name, plan) VALUES (%s, %s, 'enterprise')", (tenant_id, name))
        config = repo_root() / "config"
        seed_from_config(cur, tenant_id, load_outreach(config), load_campaigns(config))
    conn.close()
    return tenant_id
