"""`reos tenant create`, `reos user create`, `reos apikey create` against the test database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realestate_assets.accounts import store
from realestate_assets.cli import app
from realestate_assets.db.tenancy import act_as_api
from tests.api.helpers_api import owner_cursor


def test_cli_creates_tenant_user_and_key(database_url: str, tmp_path: Path) -> None:
    env = {"REOS_ENV": "local", "DATABASE_URL": database_url, "REOS_STATE_DIR": str(tmp_path / "state")}
    runner = CliRunner()
    tenant = f"cli-{uuid.uuid4().hex[:6]}"
    email = f"owner@{tenant}.example"
    assert runner.invoke(app, ["tenant", "create", tenant, "--name", "CLI tenant"], env=env).exit_code == 0
    again = runner.invoke(app, ["tenant", "create", tenant, "--name", "x"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    made = runner.invoke(app, ["user", "create", email, "--tenant", tenant, "--role", "owner"], env=env,
                         input="a long enough pass\na long enough pass\n")
    assert made.exit_code == 0, made.output
    short = runner.invoke(app, ["user", "create", f"x@{tenant}.example", "--password", "short"], env=env)
    assert short.exit_code == 1 and "at least 10" in short.output
    key = runner.invoke(app, ["apikey", "create", "--tenant", tenant, "--name", "bot", "--scope", "read",
                              "--scope", "write", "--expires-days", "30"], env=env)
    assert key.exit_code == 0, key.output
    token = key.output.strip().splitlines()[-1]
    assert token.startswith("reos_")
    assert runner.invoke(app, ["apikey", "create", "--tenant", "nope-tenant", "--name", "x"], env=env).exit_code == 1
    with owner_cursor(database_url) as cur:
        act_as_api(cur, None)
        principal = store.key_principal(cur, token)
        assert principal.tenant_id == tenant and principal.permissions == {"read", "write"}
        session = store.login(cur, email, "a long enough pass")
        assert (session.tenant_id, session.role) == (tenant, "owner")
        # --unverified: the person proves the address by email before the first login.
        unverified = f"later@{tenant}.example"
        assert runner.invoke(app, ["user", "create", unverified, "--tenant", tenant, "--unverified",
                                   "--password", "a long enough pass"], env=env).exit_code == 0
        with pytest.raises(store.AccountError) as refused:
            store.login(cur, unverified, "a long enough pass")
        assert refused.value.kind == "email_not_verified"
        cur.execute("SELECT action, entity, actor FROM audit_log ORDER BY id")
        rows = cur.fetchall()
    assert [(a, e) for a, e, _ in rows[:3]] == [("create", "tenants"), ("create", "memberships"),
                                               ("create", "api_keys")]
    assert all(actor.startswith("cli:") for _, _, actor in rows[:3])


def test_demo_login_is_made_once_and_can_log_in(database_url: str, tmp_path: Path) -> None:
    """`make demo` ends with an owner of the local tenant who follows the demo county; running it
    again changes nothing and prints the same login."""
    from realestate_assets.accounts.demo import ensure_demo_login

    tenant = f"demo-{uuid.uuid4().hex[:6]}"
    with owner_cursor(database_url) as cur:
        first = ensure_demo_login(cur, tmp_path, tenant, "king_wa")
        again = ensure_demo_login(cur, tmp_path, tenant, "king_wa")
        assert (first.password, again.password) == (first.password, first.password) and len(first.password) >= 12
        assert again.created is False
        assert oct(first.password_file.stat().st_mode & 0o777) == "0o600"
        act_as_api(cur, None)
        session = store.login(cur, first.email, first.password, tenant)
        assert session.role == "owner"
        cur.execute("SELECT county FROM subscriptions WHERE tenant_id = %s", (tenant,))
        assert cur.fetchall() == [("king_wa",)]
