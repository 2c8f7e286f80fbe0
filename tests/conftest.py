"""Shared fixtures: a real PostgreSQL database, migrated, and an isolated pipeline deployment.

PostgreSQL is the machine's server at 127.0.0.1:5432 (trust auth, user postgres) when it
answers, else one started from the `pgserver` wheel. Each test session gets its own database;
each pipeline test gets its own tenant, state directory and config directory, passed to the
local resource set as configuration (no environment variables), and starts with empty public
county tables (one set of rows per county, whoever runs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from realestate_assets.settings import LocalSettings, repo_root
from tests.databases import clear_public_tables, create_tenant, empty_database, scratch_database

if TYPE_CHECKING:
    # Imported where used (as is tests.samples, for pandas): xdist's controller process loads this
    # file too and runs no test; the asset graph's import (Dagster, ~6 CPU s) there only delayed the
    # workers' start.
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.definitions import Deployment

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def warehouse(database_url: str) -> Iterator[Warehouse]:
    """A Warehouse (its own pool) on the test database, disposed after the test."""
    from realestate_assets.db.warehouse import Warehouse

    wh = Warehouse(database_url)
    yield wh
    wh.dispose()


@pytest.fixture
def tenant(database_url: str) -> str:
    """A fresh tenant: pipeline tests share the database but never each other's rows."""
    return create_tenant(database_url)


@pytest.fixture
def make_deployment(database_url: str, tenant: str, tmp_path: Path) -> Callable[..., Deployment]:
    """The local resource set for a config directory and state directory. The public county tables
    start empty (they are shared by every tenant: tests/databases.py). The resources name no tenant:
    a run's tenant is its (county, tenant) partition key (county_runs.materialize_county)."""
    from realestate_assets.definitions import resources_for

    clear_public_tables(database_url)

    def make(config: Path, state: Path | None = None) -> Deployment:
        settings = LocalSettings(config_dir=config, state_dir=state or tmp_path / "state")
        return resources_for("local", settings, database_url=database_url)

    return make


@pytest.fixture
def pipeline_env(make_deployment: Callable[..., Deployment], tmp_path: Path) -> Deployment:
    """One pipeline run's deployment: the sample county king_wa under tmp_path/config."""
    from tests.samples import write_sample_config

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


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """An empty database of its own on the tests' server, for a test that migrates it down and up."""
    with empty_database(database_url) as url:
        yield url
