"""`GET /api/v1/properties/{id}/reasons` (issue #11): a property scored without reasons gets the
reasons and value factors the `scores` asset (or `reos explain`) would give it, computed from its
feature row, the models that scored it and its stored percentiles; stored reasons are answered as
stored; tenancy and quota as the detail."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from realestate_assets.assets.scoring import SCORE_INPUT_SQL, write_model_versions
from realestate_assets.db.county_partitions import ensure_county_partitions
from realestate_assets.db.warehouse import Warehouse, to_json
from realestate_assets.ml.pipeline import score_features, train_all
from realestate_assets.ml.registry import model_key
from realestate_assets.ml.scoring import MODEL_WEIGHTS, SCORE_COMPONENT_COLUMNS
from realestate_assets.objects import LocalObjectStore
from realestate_assets.settings import repo_root
from tests.api.helpers_api import bearer, login, owner_cursor
from tests.scoring.helpers_scoring import fast_scoring, king_sales, prospect_features

pytestmark = pytest.mark.slow  # trains the three models once (about 6 s of CPU)

N = 40
SCORE_COLUMNS = ("as_of_date", "estimated_value", "estimated_value_low", "estimated_value_high", "value_gap_pct",
                 "bird_dog_score", "score_rank", "deal_probability", "sale_probability_12m", "model_version")
SCORED_COLUMNS = (*SCORE_COLUMNS, *SCORE_COMPONENT_COLUMNS.values())  # the percentiles as written (0060)


@pytest.fixture(scope="module")
def scored(world: dict[str, Any], client: TestClient, database_url: str) -> dict[str, Any]:
    """A county tenant A follows, scored as the pipeline scores it but with no reasons stored:
    its models registered and in the API's object store, feature rows, sales with non-market
    flags, score rows. `expected`: each property's reasons as scoring the county explains them."""
    county = f"cr_{uuid.uuid4().hex[:6]}"
    trained = train_all(king_sales(), fast_scoring(avm_trials=0, deal_trials=0, propensity_trials=0,
                                                   num_boost_round=40, cv_folds=2), compare=False)
    models = {"avm": trained.avm, "deal": trained.deal, "sale_propensity": trained.propensity}
    versions = {name: f"{name}-{county}-test" for name in models}
    objects = LocalObjectStore(Path(client.app.state.reos.settings.objects_dir))
    features = prospect_features(N).assign(county=county)
    keys = features["prospect_key"].tolist()
    ratio = features["last_sale_price_indexed"] / (features["comps_median_price_per_sqft"] * features["living_sqft"])
    plain = [key for i, key in enumerate(keys) if i >= 10 and 0.5 <= ratio[i] <= 2.0]  # unlisted, not suspect
    with owner_cursor(database_url) as cur:
        ensure_county_partitions(cur, county)
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = 'features'")
        table_columns = {r[0] for r in cur.fetchall()}
        columns = [c for c in features.columns if c in table_columns]
        for row in features.to_dict("records"):
            cur.execute("INSERT INTO prospects (county, prospect_key, parcel_id, address, city, state, zip) "
                        "VALUES (%s, %s, %s, '1 MAIN ST', 'SEATTLE', 'WA', '98103')",
                        (county, row["prospect_key"], row["prospect_key"]))
            cur.execute(f"INSERT INTO features ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                        [None if v != v else v for v in (row[c] for c in columns)])  # NaN → NULL
        # The last sale decides: plain[1]'s older quit-claim is not its last; plain[2]'s last is a divorce.
        for sale_id, key, day, reason in (("q1", plain[1], "2009-01-05", "Quit Claim Deed"),
                                          ("q2", plain[1], "2014-02-03", None),
                                          ("d1", plain[2], "2014-03-04", "Divorce")):
            cur.execute("INSERT INTO sales (county, source, sale_id, parcel_id, sale_price, sale_date, sale_reason) "
                        "VALUES (%s, 'test', %s, %s, 400000, %s, %s)", (county, sale_id, key, day, reason))
        for name, model in models.items():
            stored = objects.put(model_key(county, versions[name]), model.to_bytes(), "application/json")
            cur.execute("INSERT INTO ml_models (county, model_name, version, kind, artifact_path, artifact_sha256, "
                        "is_active, status) VALUES (%s, %s, %s, 'test', %s, %s, true, 'active')",
                        (county, name, versions[name], stored.key, stored.sha256))
        store.subscribe(cur, world["a"].id, county)
    wh = Warehouse(database_url)
    try:
        inputs = wh.frame(SCORE_INPUT_SQL, {"county": county})  # what the scores asset reads
    finally:
        wh.dispose()
    scoring = client.app.state.reos.scoring
    frame = score_features(inputs, trained.avm, trained.deal, trained.propensity, versions, scoring,
                           explain_keys=keys).frame
    with owner_cursor(database_url) as cur:
        for row in frame.to_dict("records"):
            cur.execute(f"INSERT INTO scores (county, prospect_key, {', '.join(SCORED_COLUMNS)}) "
                        f"VALUES (%s, %s, {', '.join(['%s'] * len(SCORED_COLUMNS))})",
                        (county, row["prospect_key"], *[None if row[c] != row[c] else row[c] for c in SCORED_COLUMNS]))
        write_model_versions(cur.connection, county, versions, list(MODEL_WEIGHTS))  # as the scores asset records them
        cur.execute("SELECT prospect_key, id FROM prospects WHERE county = %s", (county,))
        ids = dict(cur.fetchall())
    expected = {row["prospect_key"]: json.loads(to_json(row["score_breakdown"])) for row in frame.to_dict("records")}
    return {"county": county, "keys": keys, "plain": plain[:3], "ids": ids, "expected": expected,
            "versions": versions}


def _get(client: TestClient, property_id: int, token: str) -> Any:
    return client.get(f"/api/v1/properties/{property_id}/reasons", headers=bearer(token))


def test_reasons_of_a_property_without_them_are_computed_as_scoring_its_county_would(
        client: TestClient, world: dict[str, Any], scored: dict[str, Any], database_url: str) -> None:
    token = login(client, world["a"].users["viewer"]["email"])["access_token"]
    explainer = client.app.state.reos.explainer
    plain, quit_claim_before, divorce = scored["plain"]
    for key in [*scored["keys"][:3], plain, quit_claim_before, divorce]:  # listed (deal drivers), unlisted
        property_id = scored["ids"][key]
        detail = client.get(f"/api/v1/properties/{property_id}", headers=bearer(token)).json()
        assert detail["score"]["reasons"] is None  # nothing stored: the dashboard asks the route
        response = _get(client, property_id, token)
        assert response.status_code == 200, response.text
        body = response.json()
        want = scored["expected"][key]
        assert (body["county"], body["prospect_key"], body["source"]) == (scored["county"], key, "computed")
        assert body["model_versions"] == scored["versions"]
        assert body["reasons"] == want["reasons"] and body["value_factors"] == want["value_factors"]
        assert (body["deal_drivers"], body["sale_drivers"]) == (want["deal_drivers"], want["sale_drivers"])
        assert (body["suspect_sale"], body["base_value"]) == (want["suspect_sale"], want["base_value"])
    expected = scored["expected"]
    assert expected[scored["keys"][0]]["deal_drivers"] and not expected[plain]["deal_drivers"]
    assert "'Divorce'" in expected[divorce]["suspect_sale"]
    assert not expected[plain]["suspect_sale"] and not expected[quit_claim_before]["suspect_sale"]
    # Models loaded once per process and version; an explanation once per score row.
    assert explainer.loads == 3
    again = _get(client, scored["ids"][scored["keys"][0]], token).json()
    assert again["reasons"] == expected[scored["keys"][0]]["reasons"] and explainer.loads == 3
    # Kept in the process only: the API role cannot write scores, so nothing is stored.
    with owner_cursor(database_url) as cur:
        cur.execute("SELECT count(*) FROM scores WHERE county = %s AND score_breakdown IS NOT NULL",
                    (scored["county"],))
        assert cur.fetchone()[0] == 0
        # Received like the detail: one receipt per property and month, however often it is asked.
        cur.execute("SELECT count(*), array_agg(DISTINCT via) FROM property_receipts WHERE tenant_id = %s "
                    "AND county = %s", (world["a"].id, scored["county"]))
        assert cur.fetchone() == (6, ["detail"])


def test_stored_reasons_are_answered_as_stored(client: TestClient, world: dict[str, Any]) -> None:
    token = login(client, world["a"].users["viewer"]["email"])["access_token"]
    first = world["ids"][world["ca"]][0]  # seeded with stored reasons (helpers_api.seed_county), no model
    body = _get(client, first, token).json()
    assert body["source"] == "stored" and body["model_versions"] == {}
    assert body["reasons"] == [f"reason for {world['ca']}-0001"] and body["value_factors"] == []


def test_reasons_follow_the_details_tenancy(client: TestClient, world: dict[str, Any], scored: dict[str, Any]) -> None:
    a = login(client, world["a"].users["viewer"]["email"])["access_token"]
    b = login(client, world["b"].users["viewer"]["email"])["access_token"]
    mine = scored["ids"][scored["keys"][5]]
    theirs = world["ids"][world["cb"]][0]
    for token, property_id in ((b, mine), (a, theirs), (a, 999_999_999)):
        response = _get(client, property_id, token)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert "counties this tenant follows" in response.json()["detail"]
    unscored = world["ids"][world["ca"]][3]  # every fourth seeded property is only discovered
    response = _get(client, unscored, a)
    assert response.status_code == 404 and "not scored yet" in response.json()["detail"]


def test_a_score_without_model_versions_is_explained_by_the_active_models(
        client: TestClient, world: dict[str, Any], scored: dict[str, Any], database_url: str) -> None:
    key = scored["keys"][21]
    with owner_cursor(database_url) as cur:
        cur.execute("UPDATE score_model_versions SET model_versions = '{}' WHERE county = %s", (scored["county"],))
    try:
        token = login(client, world["a"].users["viewer"]["email"])["access_token"]
        body = _get(client, scored["ids"][key], token).json()
    finally:
        with owner_cursor(database_url) as cur:
            write_model_versions(cur.connection, scored["county"], scored["versions"], list(MODEL_WEIGHTS))
    assert body["model_versions"] == scored["versions"] and body["reasons"] == scored["expected"][key]["reasons"]


def test_a_score_whose_models_are_gone_is_a_503(client: TestClient, world: dict[str, Any], scored: dict[str, Any],
                                              database_url: str) -> None:
    key = scored["keys"][20]
    with owner_cursor(database_url) as cur:
        write_model_versions(cur.connection, scored["county"], {"avm": "avm-retired"}, list(MODEL_WEIGHTS))
    try:
        token = login(client, world["a"].users["viewer"]["email"])["access_token"]
        response = _get(client, scored["ids"][key], token)
    finally:
        with owner_cursor(database_url) as cur:
            write_model_versions(cur.connection, scored["county"], scored["versions"], list(MODEL_WEIGHTS))
    assert response.status_code == 503 and "avm-retired" in response.json()["detail"]


def test_reos_explain_prints_the_same_reasons(client: TestClient, scored: dict[str, Any], database_url: str,
                                             tenant: str) -> None:
    """The CLI runs the same function (ml/on_demand.py) on the pipeline's connection."""
    from tests.test_cli import reos

    state = Path(client.app.state.reos.settings.objects_dir).parent  # the local store: <state>/objects
    key = scored["plain"][0]
    result = reos("explain", key, "--county", scored["county"], "--no-store",
                  env={"DATABASE_URL": database_url, "REOS_TENANT": tenant, "REOS_STATE_DIR": str(state),
                       "REOS_CONFIG_DIR": str(repo_root() / "config"), "GX_ANALYTICS_ENABLED": "False"})
    assert result.returncode == 0, result.stdout + result.stderr
    printed = " ".join(result.stdout.split())
    assert "computed reasons" in printed
    for line in scored["expected"][key]["reasons"] + [f["text"] for f in scored["expected"][key]["value_factors"]]:
        assert " ".join(line.split()) in printed, line
    missing = reos("explain", "no-such-key", "--county", scored["county"], "--no-store",
                   env={"DATABASE_URL": database_url, "REOS_TENANT": tenant, "REOS_STATE_DIR": str(state),
                        "REOS_CONFIG_DIR": str(repo_root() / "config")})
    assert missing.returncode == 1 and "no-such-key: no score" in missing.stdout
