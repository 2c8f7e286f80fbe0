"""Shared fixtures: a real PostgreSQL database, migrated, and an isolated pipeline deployment.

PostgreSQL is the machine's server at 127.0.0.1:5432 (trust auth, user postgres) when it
answers, else one started from the `pgserver` wheel. Each test session gets its own database;
each pipeline test gets its own tenant, state directory and config directory, passed to the
local resource set as configuration (no environment variables).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from realestate_assets.db.migrate import upgrade
from realestate_assets.definitions import Deployment, resources_for
from realestate_assets.settings import LocalSettings, repo_root
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
def make_deployment(database_url: str, tenant: str, tmp_path: Path) -> Callable[..., Deployment]:
    """The local resource set for a config directory, this test's tenant and state directory."""

    def make(config: Path, state: Path | None = None) -> Deployment:
        settings = LocalSettings(config_dir=config, state_dir=state or tmp_path / "state", tenant_id=tenant)
        return resources_for("local", settings, database_url=database_url)

    return make


@pytest.fixture
def pipeline_env(make_deployment: Callable[..., Deployment], tmp_path: Path) -> Deployment:
    """One pipeline run's deployment: the sample county king_wa under tmp_path/config."""
    config = tmp_path / "config"
    write_sample_config(config, tmp_path / "data")
    return make_deployment(config)


@pytest.fixture
def repo_config(tmp_path: Path) -> Path:
    """A writable copy of the repository's config directory."""
    target = tmp_path / "config"
    shutil.copytree(repo_root() / "config", target)
    return target


@pytest.fixture
def redis_url():
    """The real Redis at 127.0.0.1:6379 (db 15), or skip."""
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_connect_timeout=0.3)
        client.ping()
    except Exception as exc:  # pragma: no cover - environment dependent
        pytest.skip(f"no Redis at 127.0.0.1:6379: {exc}")
    yield "redis://127.0.0.1:6379/15"
    for key in client.scan_iter("reos-test-*"):
        client.delete(key)
    client.close()
