"""The dashboard's typed client is generated from dashboard/openapi.json: the committed document
must be exactly what the app answers, or the client has drifted from the API."""

from __future__ import annotations

from realestate_assets.api.openapi_dump import DEFAULT_PATH, render


def test_committed_openapi_document_matches_the_app() -> None:
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == render(), "dashboard/openapi.json is out of date: run `make api-client` and commit it"
