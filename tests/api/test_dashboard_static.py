"""The API serves the built dashboard at `/` without shadowing any of its own routes."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from realestate_assets.api import dashboard
from realestate_assets.api.app import ApiSettings, create_app

INDEX = "<!doctype html><title>REOS</title><div id=root></div>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def client_for(dist: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(dashboard, "DIST", dist)
    monkeypatch.setattr(dashboard.install, "__defaults__", (dist,))
    app = create_app(ApiSettings(database_url="postgresql://unused/none", jwt_secret="j" * 40,
                                 unsubscribe_secret="u" * 32, link_secret="l" * 32))
    return TestClient(app)  # no lifespan: these routes never touch the database


def test_files_client_routes_and_cache_headers(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(dist, monkeypatch)
    root = client.get("/")
    assert root.status_code == 200 and root.text == INDEX and root.headers["cache-control"] == "no-cache"
    for route in ("/properties", "/properties/42", "/settings"):
        assert client.get(route).text == INDEX
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert client.get("/favicon.svg").text == "<svg/>"
    assert client.get("/assets/gone-999.js").status_code == 404  # never index.html for a script
    assert "[project]" not in client.get("/assets/%2e%2e/%2e%2e/pyproject.toml").text


def test_text_files_are_gzipped_for_browsers_that_accept_it(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(dist, monkeypatch)
    zipped = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.text == "console.log(1)"  # httpx decodes
    assert zipped.headers["content-type"].startswith("text/javascript") and zipped.headers["vary"] == "Accept-Encoding"
    plain = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == "console.log(1)"
    (dist / "assets" / "index-abc123.js").write_text("console.log(2)")  # a rebuild is served, not the cache
    assert client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"}).text == "console.log(2)"


def test_api_paths_are_never_shadowed(dist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(dist, monkeypatch)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "Real Estate OS API"
    assert client.get("/api/v1/nope").status_code == 404
    assert client.get("/api/v1/nope").headers["content-type"] != "text/html; charset=utf-8"
    assert client.get("/webhooks/sendgrid").status_code == 405  # POST-only route keeps its 405
    for path in ("/p", "/p/abc", "/objects", "/metrics", "/api"):
        assert client.get(path).text != INDEX, path
    assert client.get("/unsubscribe").status_code == 400  # its own page, not the app
    # A client route merely starting with a reserved word is the app's.
    assert client.get("/properties-archive").text == INDEX
    assert client.get("/pipeline").text == INDEX


def test_without_a_build_nothing_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_for(tmp_path / "missing", monkeypatch)
    assert client.get("/").status_code == 404
    assert client.get("/properties").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_resolve_keeps_to_dist(dist: Path) -> None:
    assert dashboard.resolve(dist, "../../etc/passwd") == (dist / "index.html", False)
    assert dashboard.resolve(dist, "favicon.svg") == ((dist / "favicon.svg").resolve(), True)
    assert dashboard.resolve(dist / "none", "") is None
