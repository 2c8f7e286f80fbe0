"""Fixtures of the API tests: the app on the test database, and a world of two tenants following
two counties whose properties the pipeline wrote (public county rows: no tenant)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realestate_assets.accounts import store
from tests.api.helpers_api import N_A, N_B, api_client, make_tenant, owner_cursor, seed_county
from tests.fake_stripe import API_KEY, PRICES, WEBHOOK_SECRET, FakeStripe, served


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """The API app on the test database (rate limits out of the way: tests/api/helpers_api.api_client)."""
    with api_client(database_url, tmp_path_factory.mktemp("api-state")) as c:
        yield c


@pytest.fixture(scope="module")
def world(database_url: str) -> dict[str, Any]:
    """Tenant A follows county ca, tenant B county cb; the county rows are public (no tenant)."""
    a, b = make_tenant(database_url, "prop-a"), make_tenant(database_url, "prop-b")
    ca, cb = (f"{x}_{uuid.uuid4().hex[:6]}" for x in ("ca", "cb"))
    with owner_cursor(database_url) as cur:
        seed_county(cur, ca, N_A)
        seed_county(cur, cb, N_B)
        store.subscribe(cur, a.id, ca)
        store.subscribe(cur, b.id, cb)
        cur.execute("SELECT county, array_agg(id ORDER BY id) FROM prospects WHERE county IN (%s, %s) GROUP BY 1",
                    (ca, cb))
        ids = dict(cur.fetchall())
    return {"a": a, "b": b, "ca": ca, "cb": cb, "ids": ids}




@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    """A local server speaking Stripe's REST API (tests/fake_stripe.py)."""
    with served() as stripe_api:
        yield stripe_api


@pytest.fixture(scope="module")
def billed(database_url: str, tmp_path_factory: pytest.TempPathFactory, fake: FakeStripe) -> Iterator[TestClient]:
    """The API with billing configured: Stripe's SDK pointed at the fake."""
    with api_client(database_url, tmp_path_factory.mktemp("billing-state"), stripe_api_key=API_KEY,
                    stripe_webhook_secret=WEBHOOK_SECRET, stripe_prices=PRICES,
                    stripe_api_base=fake.url) as c:
        yield c
