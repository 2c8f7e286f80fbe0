"""/api/v1/models on real PostgreSQL: the registry of the followed counties only, headline
figures by model kind, the detail with baselines and feature importance."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers_api import bearer, login, owner_cursor

AVM_METRICS = {"n": 812, "mdape_pct": 9.3, "pe10_pct": 56.1, "cod": 12.9, "prd": 1.01, "median_ratio": 0.99,
               "comparison": {"hedonic_ols": {"mdape_pct": 14.1}}, "importance": {"living_sqft": 0.4, "lat": 0.2}}
DEAL_METRICS = {"n": 300, "auc": 0.9, "precision_at_top10_pct": 77.0, "brier": 0.08, "log_loss": None}


@pytest.fixture(scope="module")
def models(database_url: str, world: dict[str, Any]) -> dict[str, int]:
    ids = {}
    with owner_cursor(database_url) as cur:
        for county, name, version, active, metrics in (
                (world["ca"], "avm", "avm-1", False, AVM_METRICS), (world["ca"], "avm", "avm-2", True, AVM_METRICS),
                (world["ca"], "deal", "deal-1", True, DEAL_METRICS), (world["cb"], "avm", "avm-b", True, AVM_METRICS)):
            cur.execute("INSERT INTO ml_models (county, model_name, version, kind, metrics, "
                        "hyperparameters, feature_names, artifact_path, artifact_sha256, is_active, status, promotion, "
                        "training_rows) "
                        "VALUES (%s, %s, %s, 'lightgbm', %s, '{\"num_leaves\": 31}', '[\"living_sqft\"]', "
                        "'k', 's', %s, %s, '{\"promote\": true, \"reason\": \"better\"}', 1000) RETURNING id",
                        (county, name, version, json.dumps(metrics), active, "active" if active else "retired"))
            ids[f"{county}/{version}"] = cur.fetchone()[0]
    return ids


def test_models_of_the_followed_counties_with_their_figures(client: TestClient, world: dict[str, Any],
                                                            models: dict[str, int]) -> None:
    viewer = bearer(login(client, world["a"].users["viewer"]["email"])["access_token"])
    listed = client.get("/api/v1/models", headers=viewer)
    assert listed.status_code == 200, listed.text
    versions = {m["version"]: m for m in listed.json()}
    assert set(versions) >= {"avm-1", "avm-2", "deal-1"} and "avm-b" not in versions
    assert versions["avm-2"]["headline"] == {"mdape_pct": 9.3, "pe10_pct": 56.1, "cod": 12.9, "prd": 1.01}
    assert versions["deal-1"]["headline"] == {"auc": 0.9, "precision_at_top10_pct": 77.0, "brier": 0.08}
    active = client.get("/api/v1/models", params={"active_only": True, "model_name": "avm"}, headers=viewer).json()
    assert [m["version"] for m in active if m["county"] == world["ca"]] == ["avm-2"]

    detail = client.get(f"/api/v1/models/{models[world['ca'] + '/avm-2']}", headers=viewer).json()
    assert detail["metrics"]["comparison"] == {"hedonic_ols": {"mdape_pct": 14.1}}
    assert list(detail["importance"]) == ["living_sqft", "lat"] and detail["promotion"]["reason"] == "better"
    # Tenant B's county: not found, the same answer as an id that does not exist.
    assert client.get(f"/api/v1/models/{models[world['cb'] + '/avm-b']}", headers=viewer).status_code == 404
