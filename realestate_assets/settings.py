"""Where things live by default, and the one place local runs read their REOS_* variables.

Assets and domain code never call into this module for configuration: the config directory,
the state directory and the tenant reach them as resource fields (`resources.PlatformResource`),
chosen by `realestate_assets.definitions.resources_for`. `LocalSettings.from_env` is read by
that picker (local set only) and by the CLI; nothing else reads REOS_* variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEPLOYMENT_PLAN = Path("deploy") / "k8s-resources.yaml"
ENVIRONMENT_VARIABLE = "REOS_ENV"


def environment_name(environ: Mapping[str, str] | None = None) -> str | None:
    """REOS_ENV, `local` when unset — except inside a Kubernetes pod, which must say which
    environment it is rather than quietly running the local set (embedded PostgreSQL, outbox):
    there an unset REOS_ENV gives None, for the caller to refuse."""
    env = os.environ if environ is None else environ
    if env.get(ENVIRONMENT_VARIABLE):
        return env[ENVIRONMENT_VARIABLE]
    return None if env.get("KUBERNETES_SERVICE_HOST") else "local"


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@cache
def deployment_plan() -> dict[str, Any]:
    """deploy/k8s-resources.yaml: per-asset pod sizes (`assets`) and Dagster pools (`pools`),
    kept in deploy/ beside the Helm values that set the pool limits."""
    return yaml.safe_load((repo_root() / DEPLOYMENT_PLAN).read_text())


def default_config_dir() -> Path:
    return repo_root() / "config"


def default_state_dir() -> Path:
    """Ignored local state: embedded PostgreSQL, Dagster home, objects, outbox."""
    return repo_root() / ".reos"


@dataclass(frozen=True)
class LocalSettings:
    """A local run's directories and tenant (`make demo`, the CLI, `dagster dev`)."""

    config_dir: Path
    state_dir: Path
    tenant_id: str = "default"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if environ is None else environ
        return cls(config_dir=Path(env.get("REOS_CONFIG_DIR") or default_config_dir()),
                   state_dir=Path(env.get("REOS_STATE_DIR") or default_state_dir()),
                   tenant_id=env.get("REOS_TENANT") or "default")


def local_secret(path: Path) -> str:
    """A per-installation random secret kept in a file (local runs; production passes its own)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(os.urandom(32).hex())
        partial.chmod(0o600)
        partial.replace(path)
    return path.read_text().strip()
