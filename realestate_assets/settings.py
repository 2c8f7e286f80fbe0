"""Where things live by default, and the one place local runs read their REOS_* variables.

Assets and domain code never call into this module for configuration: the config directory,
the state directory and the tenant reach them as resource fields (`resources.PlatformResource`),
chosen by `realestate_assets.definitions.resources_for`. `LocalSettings.from_env` is read by
that picker (local set only) and by the CLI; nothing else reads REOS_* variables.

The shared secrets (unsubscribe and link signing, shared by the API and pipeline runs; the JWT
secret, shared by API replicas) are decided here too, once: `shared_secret` returns the
configured value, or invents a per-installation file only where that cannot split two processes
(`secrets_required_because`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def sends_real_email(environment: str | None) -> bool:
    """Production sends through SendGrid (SENDGRID_API_KEY); local and staging write .eml files to
    the outbox under the state directory. One rule for the pipeline's mailer and the API's account
    mail, so a staging API never emails a real person either."""
    return environment == "production"


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
    """A per-installation random secret kept in a file (local runs; production passes its own).
    Processes starting together (the API's, a run's) agree on one: each writes its own candidate
    and links it into place only if nothing is there yet (a hard link fails on an existing name),
    so the first one wins and every process reads the winner's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, candidate = tempfile.mkstemp(prefix=path.name + ".", suffix=".partial", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as out:  # mkstemp's file is already 0600
                out.write(os.urandom(32).hex())
            with contextlib.suppress(FileExistsError):
                os.link(candidate, path)
        finally:
            os.unlink(candidate)
    return path.read_text().strip()


# name -> the variable that carries it. unsubscribe and link are shared by the API and every
# pipeline run (tokens and links one signs, the other verifies); jwt by every API replica.
SECRET_VARIABLES = {"unsubscribe": "REOS_UNSUBSCRIBE_SECRET", "link": "REOS_LINK_SECRET", "jwt": "REOS_JWT_SECRET"}
PUBLIC_BASE_URL_VARIABLE = "REOS_PUBLIC_BASE_URL"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
MIN_SECRET_CHARS = 16


class MissingSecret(RuntimeError):
    """A secret that must be configured is not (or is a placeholder): a start-up error."""


def is_public_url(url: str | None) -> bool:
    """A base URL other people reach (not empty, not loopback)."""
    if not url:
        return False
    host = (urlsplit(url.strip()).hostname or "").lower()
    return bool(host) and host not in LOOPBACK_HOSTS and not host.endswith(".localhost")


def secrets_required_because(environ: Mapping[str, str] | None = None, mailer_backend: str = "outbox") -> str | None:
    """Why the shared secrets must be configured rather than invented, or None.

    An invented secret is a file under one state directory: fine for one machine where the
    local API and runs read the same file, wrong as soon as they may not — in Kubernetes
    (staging, production: each pod would invent its own), with a real mailer (links go to
    real people), or with a public base URL (the API serves people off this machine)."""
    env = os.environ if environ is None else environ
    environment = environment_name(env)
    if environment != "local":
        return f"{ENVIRONMENT_VARIABLE}={environment}" if environment else "running in a Kubernetes pod"
    if mailer_backend != "outbox":
        return f"the mailer sends real email ({mailer_backend})"
    if is_public_url(env.get(PUBLIC_BASE_URL_VARIABLE)):
        return f"{PUBLIC_BASE_URL_VARIABLE} is public ({env[PUBLIC_BASE_URL_VARIABLE]})"
    return None


def missing_secret_message(name: str, reason: str | None = None) -> str:
    variable = SECRET_VARIABLES[name]
    why = f" ({reason})" if reason else ""
    return (f"{variable} is required{why}: set it to one random value (e.g. `openssl rand -base64 32`) "
            f"in the API and in every pipeline run; an invented per-installation secret would differ between them")


def configured_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret from its variable, None when unset; MissingSecret for a placeholder or a
    value too short to be random (deploy/k8s/secrets/secrets.example.yaml says REPLACE_ME_…)."""
    env = os.environ if environ is None else environ
    value = (env.get(SECRET_VARIABLES[name]) or "").strip()
    return validated_secret(name, value) if value else None


def validated_secret(name: str, value: str) -> str:
    """A configured secret as is; MissingSecret for a placeholder or a value too short to be random."""
    if value.startswith("REPLACE_ME") or len(value) < MIN_SECRET_CHARS:
        raise MissingSecret(f"{SECRET_VARIABLES[name]} is a placeholder or shorter than {MIN_SECRET_CHARS} "
                            "characters: " + missing_secret_message(name).split(": ", 1)[1])
    return value


def shared_secret(name: str, state_dir: Path, environ: Mapping[str, str] | None = None,
                  mailer_backend: str = "outbox") -> str:
    """The configured secret; else, where allowed, the installation's invented one (a file in
    `state_dir`); else MissingSecret naming the variable and why it is required."""
    value = configured_secret(name, environ)
    if value:
        return value
    reason = secrets_required_because(environ, mailer_backend)
    if reason:
        raise MissingSecret(missing_secret_message(name, reason))
    return local_secret(state_dir / f"{name}.secret")
