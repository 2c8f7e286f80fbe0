"""The PostgreSQL warehouse every asset table lives in."""

from __future__ import annotations

import os
from functools import cache

import dagster as dg

from realestate_assets.db.warehouse import Warehouse


@cache
def _warehouse(url: str) -> Warehouse:
    # One engine per process and URL: steps in the same process share a connection pool.
    return Warehouse(url)


def resolve_database_url(env_var: str = "DATABASE_URL") -> str:
    """DATABASE_URL when set, else the embedded pgserver PostgreSQL (started on first use)."""
    url = os.environ.get(env_var)
    if url:
        return url
    from realestate_assets.db.embedded import embedded_database_url

    return embedded_database_url()


class WarehouseResource(dg.ConfigurableResource):
    """PostgreSQL warehouse: `DATABASE_URL`, or the embedded server under REOS_STATE_DIR."""

    database_url_env: str = "DATABASE_URL"

    def get(self) -> Warehouse:
        return _warehouse(resolve_database_url(self.database_url_env))
