"""Shared fixtures: a real PostgreSQL database, migrated, and an isolated pipeline environment.

PostgreSQL is the machine's server at 127.0.0.1:5432 (trust auth, user postgres) when it
answers, else one started from the `pgserver` wheel. Each test session gets its own database;
each pipeline test gets its own tenant, state directory and config directory.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from realestate_assets.db.migrate import upgrade
from realestate_assets.settings import repo_root
from tests.samples import write_sample_config

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _admin_connection(dsn: str):  # -> psycopg2 connection in autocommit
    conn = psycopg2.connect(dsn, connect_timeout=3)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"reos_test_{uuid.uuid4().hex[:10]}"
    server = None
    try:
        admin_dsn = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
        admin = _admin_connection(admin_dsn)
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    except psycopg2.OperationalError:
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
        socket_dir = server.get_uri().split("host=", 1)[1]
        admin_dsn = f"host={socket_dir} user=postgres dbname=postgres"
        admin = _admin_connection(admin_dsn)
        url = f"postgresql+psycopg2://postgres@/{name}?host={socket_dir}"
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    upgrade(url)
    yield url
    from resources.warehouse import _warehouse

    for warehouse in [_warehouse(url)]:
        warehouse.dispose()
    _warehouse.cache_clear()
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()
    if server is not None:
        server.cleanup()


@pytest.fixture
def tenant(database_url: str) -> str:
    """A fresh tenant: pipeline tests share the database but never each other's rows."""
    tenant_id = f"t_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant_id, "test tenant"))
    conn.close()
    return tenant_id


@pytest.fixture
def pipeline_env(database_url: str, tenant: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for one pipeline run: returns the config directory (sample county king_wa)."""
    config = tmp_path / "config"
    write_sample_config(config, tmp_path / "data")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REOS_TENANT", tenant)
    monkeypatch.setenv("REOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REOS_CONFIG_DIR", str(config))
    monkeypatch.delenv("REOS_OBJECT_STORE", raising=False)
    monkeypatch.delenv("REOS_MAILER", raising=False)
    monkeypatch.delenv("REOS_OBJECTS_DIR", raising=False)
    monkeypatch.delenv("REOS_OUTBOX_DIR", raising=False)
    return config


@pytest.fixture
def repo_config(tmp_path: Path) -> Path:
    """A writable copy of the repository's config directory."""
    target = tmp_path / "config"
    shutil.copytree(repo_root() / "config", target)
    return target
