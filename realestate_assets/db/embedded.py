"""The embedded PostgreSQL that `make demo` and the tests use when no database URL is given.

`pgserver` ships a real PostgreSQL 16 in a wheel. The server is left running on purpose
(cleanup_mode=None): Dagster runs steps in several processes, and each one finds the same
server through its data directory instead of starting and stopping its own.
"""

from __future__ import annotations

from pathlib import Path


def embedded_data_dir(state_dir: Path | None = None) -> Path:
    """`<state dir>/pg`; without an argument, the local state directory (tooling: Makefile, alembic)."""
    from realestate_assets.settings import LocalSettings

    return (state_dir or LocalSettings.from_env().state_dir) / "pg"


def embedded_database_url(data_dir: Path | None = None) -> str:
    import pgserver  # imported here: starting a server is never import-time work

    data_dir = data_dir or embedded_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)  # a fresh state directory
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()


def stop_embedded(data_dir: Path | None = None) -> None:
    import pgserver

    pgserver.get_server(data_dir or embedded_data_dir(), cleanup_mode="stop").cleanup()
