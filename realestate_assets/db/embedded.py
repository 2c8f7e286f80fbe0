"""The embedded PostgreSQL that `make demo` and the tests use when DATABASE_URL is unset.

`pgserver` ships a real PostgreSQL 16 in a wheel. The server is left running on purpose
(cleanup_mode=None): Dagster runs steps in several processes, and each one finds the same
server through its data directory instead of starting and stopping its own.
"""

from __future__ import annotations

from pathlib import Path

from realestate_assets.settings import state_dir


def embedded_data_dir() -> Path:
    return state_dir() / "pg"


def embedded_database_url(data_dir: Path | None = None) -> str:
    import pgserver  # imported here: starting a server is never import-time work

    server = pgserver.get_server(data_dir or embedded_data_dir(), cleanup_mode=None)
    return server.get_uri()


def stop_embedded(data_dir: Path | None = None) -> None:
    import pgserver

    pgserver.get_server(data_dir or embedded_data_dir(), cleanup_mode="stop").cleanup()
