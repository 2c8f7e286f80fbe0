"""The demo's login: `make demo` ends by creating an owner of the local tenant who follows the
demo county, so the API (and the dashboard on it) shows the county's properties at once.

Local installations only (the CLI calls this when the environment is `local`): the password is
random, kept in a 0600 file under the state directory and printed, never a constant in the code.
Running it again changes nothing and prints the same login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realestate_assets.accounts import store

DEMO_EMAIL = "demo@example.com"
PASSWORD_FILE = "demo-login.txt"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    password_file: Path
    created: bool


def demo_password(state_dir: Path) -> tuple[str, Path]:
    """The demo owner's password, made once per installation."""
    path = state_dir / PASSWORD_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(secrets.token_urlsafe(12))
        partial.chmod(0o600)
        partial.replace(path)
    return path.read_text().strip(), path


def ensure_demo_login(cur: Any, state_dir: Path, tenant_id: str, county: str) -> DemoLogin:
    """The owner of TENANT_ID (created when missing) who follows COUNTY; idempotent."""
    password, path = demo_password(state_dir)
    if not store.tenant_exists(cur, tenant_id):
        store.create_tenant(cur, tenant_id, tenant_id)
    user = store.find_user(cur, DEMO_EMAIL)
    created = user is None
    if user is None:
        user = store.create_user(cur, DEMO_EMAIL, password, verified=True)
    store.set_membership(cur, tenant_id, user["id"], "owner")
    store.subscribe(cur, tenant_id, county)
    return DemoLogin(email=DEMO_EMAIL, password=password, password_file=path, created=created)
