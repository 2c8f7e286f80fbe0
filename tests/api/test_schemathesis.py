"""Schemathesis over the API's OpenAPI document (dashboard/openapi.json, which
tests/api/test_openapi_dump.py keeps equal to the live one): generated requests for every /api/v1
operation, over HTTP to the API served by uvicorn on real PostgreSQL, as a platform admin acting in
a tenant (every permission, so each route runs past its guard). The check is the issue's: no answer
is a server error (5xx) — a wrong input is a 4xx problem, whatever hypothesis throws at the route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from realestate_assets.accounts import store
from realestate_assets.settings import repo_root
from tests.api.helpers_api import PASSWORD, bearer, make_tenant, owner_cursor
from tests.dashboard.server import api_server
from tests.fake_dagster import FakeDagster
from tests.fake_stripe import API_KEY, FakeStripe
from tests.local_http import base_url as local_base_url
from tests.local_http import serve

EXAMPLES = 8  # per operation: enough to find a 500 on a malformed input, cheap enough for make test


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    import httpx

    tenant = make_tenant(database_url, "fuzz")
    with owner_cursor(database_url) as cur:
        operator = store.create_user(cur, f"fuzz-ops@{tenant.id}.example", PASSWORD, platform_admin=True,
                                     verified=True)
    # Dagster's GraphQL endpoint and Stripe's REST API on local servers: the routes that launch runs,
    # switch schedules or bill answer as they do in a deployment (without them they answer 503 by
    # design, which is a 5xx).
    with serve(FakeDagster()) as dagster, serve(FakeStripe()) as stripe_api, api_server(
            database_url, tmp_path_factory.mktemp("fuzz"), dagster_url=local_base_url(dagster),
            stripe_api_key=API_KEY, stripe_webhook_secret="whsec_fuzz",
            stripe_prices={"professional": "price_pro", "enterprise": "price_ent"},
            stripe_api_base=local_base_url(stripe_api)) as url:
        session = httpx.post(f"{url}/api/v1/auth/login", timeout=30,
                             json={"email": operator["email"], "password": PASSWORD, "tenant_id": tenant.id})
        assert session.status_code == 200, session.text
        yield url, bearer(session.json()["access_token"])


schema = schemathesis.openapi.from_path(repo_root() / "dashboard" / "openapi.json").include(path_regex="^/api/v1/")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case: Any, live: tuple[str, dict[str, str]]) -> None:
    url, headers = live
    # Schemathesis waits 10 s for an answer by default; a full `make test` run on a busy 2-core
    # machine (load average ~12) once took longer on POST /api/v1/properties/search. What is
    # checked is the status, not the speed.
    case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error], timeout=60)


def test_nul_characters_are_a_422_problem_not_a_server_error(live: tuple[str, dict[str, str]]) -> None:
    """What schemathesis found first: PostgreSQL text cannot hold NUL, and psycopg2 refused it deep
    inside a route (a 500). One handler turns it into the caller's 422 on every route."""
    import httpx

    url, headers = live
    query = httpx.get(f"{url}/api/v1/analytics/summary", params={"county": "king\x00wa"}, headers=headers, timeout=30)
    assert query.status_code == 422 and "NUL" in query.json()["detail"]
    body = httpx.post(f"{url}/api/v1/saved-searches", json={"name": "a\x00b", "filters": {}}, headers=headers,
                      timeout=30)
    assert body.status_code == 422, body.text
