"""Secrets are never silently invented in production, and the API and the runs agree on them
(issue #14 item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from realestate_assets.api.app import ApiSettings, create_app
from realestate_assets.db.fingerprints import SecretMismatch, agree_secrets_in, fingerprint
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.definitions import resources_for
from realestate_assets.settings import (
    SECRET_VARIABLES,
    LocalSettings,
    MissingSecret,
    secrets_required_because,
    shared_secret,
)
from resources import MailerResource, ObjectStoreResource
from tests.api.helpers_api import owner_cursor

SECRETS = {"REOS_UNSUBSCRIBE_SECRET": "unsubscribe-" + "a" * 32, "REOS_LINK_SECRET": "link-" + "b" * 32,
           "REOS_JWT_SECRET": "jwt-" + "c" * 32}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (*SECRET_VARIABLES.values(), "REOS_PUBLIC_BASE_URL", "REOS_ENV", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REOS_STATE_DIR", str(tmp_path / "state"))
    return monkeypatch


@pytest.fixture
def fingerprints(database_url: str) -> Iterator[None]:
    """The table is installation-wide: start and end empty, so no other test inherits a value."""
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM secret_fingerprints")
    yield
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM secret_fingerprints")


def test_when_secrets_are_required() -> None:
    assert secrets_required_because({}) is None
    assert secrets_required_because({"REOS_PUBLIC_BASE_URL": "http://127.0.0.1:8000"}) is None
    assert secrets_required_because({"REOS_PUBLIC_BASE_URL": "http://api.localhost:8000"}) is None
    assert "REOS_PUBLIC_BASE_URL" in secrets_required_because({"REOS_PUBLIC_BASE_URL": "https://deals.example.com"})
    assert "REOS_ENV=production" in secrets_required_because({"REOS_ENV": "production"})
    assert "REOS_ENV=staging" in secrets_required_because({"REOS_ENV": "staging"})
    assert "Kubernetes" in secrets_required_because({"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert "sendgrid" in secrets_required_because({}, mailer_backend="sendgrid")


def test_shared_secret_is_configured_invented_locally_or_a_clear_error(tmp_path: Path) -> None:
    assert shared_secret("unsubscribe", tmp_path, {"REOS_UNSUBSCRIBE_SECRET": "x" * 20}) == "x" * 20
    invented = shared_secret("unsubscribe", tmp_path, {})
    assert invented == (tmp_path / "unsubscribe.secret").read_text().strip()
    public = {"REOS_PUBLIC_BASE_URL": "https://deals.example.com"}
    with pytest.raises(MissingSecret, match=r"REOS_LINK_SECRET is required .*REOS_PUBLIC_BASE_URL is public"):
        shared_secret("link", tmp_path / "other", public)
    assert not (tmp_path / "other").exists()  # nothing invented
    with pytest.raises(MissingSecret, match="REOS_UNSUBSCRIBE_SECRET is a placeholder"):
        shared_secret("unsubscribe", tmp_path, {"REOS_UNSUBSCRIBE_SECRET": "REPLACE_ME_random_32_bytes_base64"})


def test_api_with_a_public_base_url_refuses_to_start_without_its_secrets(clean_env: pytest.MonkeyPatch,
                                                                          database_url: str, tmp_path: Path) -> None:
    clean_env.setenv("REOS_PUBLIC_BASE_URL", "https://deals.example.com")
    app = create_app(ApiSettings(database_url=database_url))
    with pytest.raises(MissingSecret, match="REOS_UNSUBSCRIBE_SECRET is required"), TestClient(app):
        pass
    assert not (tmp_path / "state" / "unsubscribe.secret").exists()


def test_production_pipeline_resources_require_the_variables(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("REOS_PUBLIC_BASE_URL", "https://deals.example.com")
    deployment = resources_for("local", LocalSettings(config_dir=tmp_path, state_dir=tmp_path / "state"),
                               database_url="postgresql://unused/x")
    with pytest.raises(dg.DagsterInvariantViolationError, match="REOS_UNSUBSCRIBE_SECRET is required"):
        deployment.resources["mailer"].signing_secret()
    with pytest.raises(ValueError, match="REOS_LINK_SECRET"):
        deployment.resources["object_store"].get().link("k")
    clean_env.delenv("REOS_PUBLIC_BASE_URL")
    local = resources_for("local", LocalSettings(config_dir=tmp_path, state_dir=tmp_path / "state2"),
                          database_url="postgresql://unused/x")
    assert local.resources["mailer"].signing_secret() == (tmp_path / "state2" / "unsubscribe.secret").read_text()


def test_api_and_run_that_disagree_fail_at_start_up(clean_env: pytest.MonkeyPatch, database_url: str,
                                                    fingerprints: None) -> None:
    for name, value in SECRETS.items():
        clean_env.setenv(name, value)
    with TestClient(create_app(ApiSettings(database_url=database_url))) as client:  # the API records first
        assert client.get("/healthz").status_code == 200
    wh = Warehouse(database_url)
    rows = wh.frame("SELECT name, fingerprint, recorded_by FROM secret_fingerprints ORDER BY name")
    assert list(rows["name"]) == ["jwt", "link", "unsubscribe"] and set(rows["recorded_by"]) == {"api"}
    assert not any(v in "".join(rows["fingerprint"]) for v in SECRETS.values())
    assert fingerprint("unsubscribe", SECRETS["REOS_UNSUBSCRIBE_SECRET"]) in set(rows["fingerprint"])

    # A run with the same secrets agrees; a run with another unsubscribe secret stops before it signs.
    same = MailerResource(backend="outbox", outbox_dir="/tmp", unsubscribe_secret=SECRETS["REOS_UNSUBSCRIBE_SECRET"])
    assert agree_secrets_in(wh, same.configured_secrets(), "run r1") == []
    other = MailerResource(backend="outbox", outbox_dir="/tmp", unsubscribe_secret="another-" + "z" * 32)
    with pytest.raises(SecretMismatch, match="REOS_UNSUBSCRIBE_SECRET differs from the one api recorded"):
        agree_secrets_in(wh, other.configured_secrets(), "run r2")
    links = ObjectStoreResource(backend="local", local_dir="/tmp", link_secret="wrong-" + "y" * 32)
    with pytest.raises(SecretMismatch, match="REOS_LINK_SECRET"):
        agree_secrets_in(wh, links.configured_secrets(), "run r3")

    # The other way round: the run recorded first, an API started with another value refuses to start.
    with owner_cursor(database_url) as cur:
        cur.execute("DELETE FROM secret_fingerprints")
    assert agree_secrets_in(wh, same.configured_secrets(), "run r4") == ["unsubscribe"]
    clean_env.setenv("REOS_UNSUBSCRIBE_SECRET", "rotated-" + "q" * 32)
    with pytest.raises(SecretMismatch, match="REOS_UNSUBSCRIBE_SECRET differs from the one run r4 recorded"), \
            TestClient(create_app(ApiSettings(database_url=database_url))):
        pass
    wh.dispose()


def test_secrets_given_in_code_or_invented_are_not_fingerprinted(clean_env: pytest.MonkeyPatch, database_url: str,
                                                                 fingerprints: None) -> None:
    with TestClient(create_app(ApiSettings(database_url=database_url, unsubscribe_secret="s"))):
        pass
    wh = Warehouse(database_url)
    assert wh.scalar("SELECT count(*) FROM secret_fingerprints") == 0
    wh.dispose()
