"""The PostgreSQL warehouse every asset table lives in."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from realestate_assets.db.idle_ping import PING_IDLE_S
from realestate_assets.db.warehouse import Warehouse


@cache
def _warehouse(url: str) -> Warehouse:
    # One engine per process and URL: steps in the same process share a connection pool. A
    # connection is pinged before use only after PING_IDLE_S idle (one the database dropped
    # meanwhile is still replaced): a step's transactions follow each other within milliseconds,
    # and a ping before each was a round trip apiece (issue 17: fixed costs per step).
    return Warehouse(url, ping_idle_s=PING_IDLE_S)


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

    def url_if_available(self) -> tuple[str | None, str]:
        """(URL, where it came from) outside a run, where EnvVars are not resolved yet (the code
        location's load): the variable's value, the URL given, or the embedded server's only when
        it already runs (nothing is started); (None, why not) otherwise."""
        configured = self.database_url
        if isinstance(configured, dg.EnvVar):
            value = configured.get_value()
            return (value, f"${configured.env_var_name}") if value else (None, f"${configured.env_var_name} is not set")
        if configured:
            return configured, "the configured database_url"
        if not self.embedded_dir:
            return None, "no database_url (DATABASE_URL) is configured"
        from realestate_assets.db.embedded import running_embedded_url

        url = running_embedded_url(Path(self.embedded_dir))
        return (url, "the embedded PostgreSQL") if url else (None, "the embedded PostgreSQL is not running")
