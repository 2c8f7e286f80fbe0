"""The PostgreSQL warehouse every asset table lives in."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from realestate_assets.db.warehouse import Warehouse


@cache
def _warehouse(url: str) -> Warehouse:
    # One engine per process and URL: steps in the same process share a connection pool.
    return Warehouse(url)


class WarehouseResource(dg.ConfigurableResource):
    """PostgreSQL: `database_url`, or (local runs only) the embedded pgserver under `embedded_dir`.

    Production leaves `embedded_dir` empty, so a pod without a database URL fails with a clear
    message instead of quietly starting its own PostgreSQL.
    """

    database_url: str = Field(default="", description="SQLAlchemy/libpq URL of the warehouse")
    embedded_dir: str = Field(default="", description="data directory of the embedded PostgreSQL used "
                                                      "when database_url is empty (local runs only)")

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        if not self.embedded_dir:
            raise dg.DagsterInvariantViolationError(
                "the warehouse has no database_url (DATABASE_URL) and this environment allows no "
                "embedded PostgreSQL")
        from realestate_assets.db.embedded import embedded_database_url

        return embedded_database_url(Path(self.embedded_dir))

    def get(self) -> Warehouse:
        return _warehouse(self.url())
