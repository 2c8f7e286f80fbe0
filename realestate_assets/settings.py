"""Where things live, read from the environment at run time (never at import time).

Every backend switch is an environment variable; the defaults are the embedded ones that
`make demo` and the tests use. See the README's table.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    return Path(os.environ.get("REOS_CONFIG_DIR") or repo_root() / "config")


def state_dir() -> Path:
    """Ignored local state: embedded PostgreSQL, Dagster home, objects, outbox."""
    return Path(os.environ.get("REOS_STATE_DIR") or repo_root() / ".reos")


def tenant_id() -> str:
    return os.environ.get("REOS_TENANT", "default")
