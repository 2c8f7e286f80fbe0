"""The embedded PostgreSQL that `make demo` and the tests use when no database URL is given.

`pgserver` ships a real PostgreSQL 16 in a wheel. The server is left running on purpose
(cleanup_mode=None): Dagster runs steps in several processes, and each one finds the same
server through its data directory instead of starting and stopping its own.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import ModuleType


def embedded_data_dir(state_dir: Path | None = None) -> Path:
    """`<state dir>/pg`; without an argument, the local state directory (tooling: Makefile, alembic)."""
    from realestate_assets.settings import LocalSettings

    return (state_dir or LocalSettings.from_env().state_dir) / "pg"


def _pgserver() -> ModuleType:
    """pgserver, imported here: starting a server is never import-time work.

    Importing it asks platformdirs for the runtime directory (its lock file lives there); without
    XDG_RUNTIME_DIR (root shells, containers, cron) platformdirs warns and falls back to
    /tmp/runtime-<uid>, which is what every process then agrees on. Nothing to act on: no warning.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

    return pgserver


def embedded_database_url(data_dir: Path | None = None) -> str:
    pgserver = _pgserver()
    data_dir = data_dir or embedded_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)  # a fresh state directory
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()


def running_embedded_url(data_dir: Path) -> str | None:
    """The embedded server's URL when one already runs on `data_dir`, else None: for readers that
    may do without the database (the code location's load) and must not start one."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists() or not _running(int(pid_file.read_text().split()[0])):
        return None
    return embedded_database_url(data_dir)


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the embedded server if one runs on `data_dir` (fast shutdown: open sessions are ended);
    True when one was stopped. Without a postmaster.pid nothing runs and nothing is started."""
    data_dir = data_dir or embedded_data_dir()
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists() or not _running(int(pid_file.read_text().split()[0])):
        return False  # never started, or a stale pid file left by a crash
    _pgserver()
    from pgserver._commands import pg_ctl  # pgserver's bundled binaries; get_server() would start one

    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs the server as this user under root
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user, timeout=60)
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
