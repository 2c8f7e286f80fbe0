"""The bytes a document is expected to take before it is rendered (quotas.document_bytes), which
the packets step caps its rendering on: the tenant's own recent documents of the template (95th
percentile of the latest ESTIMATE_SAMPLE), or the documented default. Real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import PLANS
from tests.databases import create_tenant, psycopg2_dsn

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _stored(cur, tenant: str, template: str, sizes: list[int], *, start: int = 0,
            generated: datetime = NOW) -> None:
    for i, size in enumerate(sizes, start=start):
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                    "(%s, 'king_wa', %s, %s, '1', 'h', %s, 's', %s, 80, %s)",
                    (tenant, f"p{i}", template, f"tenants/{tenant}/p{i}-{template}.pdf", size,
                     generated + timedelta(seconds=i)))


@pytest.fixture
def conn(database_url: str):
    connection = psycopg2.connect(psycopg2_dsn(database_url))
    yield connection
    connection.close()


def test_a_tenant_without_documents_of_a_template_is_expected_the_default(database_url: str, conn) -> None:
    tenant, other = create_tenant(database_url), create_tenant(database_url)
    with conn, conn.cursor() as cur:
        _stored(cur, other, "investor_memo", [900_000])  # another tenant's documents say nothing of this one's
    with conn:
        assert quotas.document_bytes(conn, tenant, ["investor_memo", "executive_summary"]) == {
            "executive_summary": quotas.DEFAULT_DOCUMENT_BYTES, "investor_memo": quotas.DEFAULT_DOCUMENT_BYTES}


def test_the_estimate_is_the_95th_percentile_of_the_tenants_recent_documents(database_url: str, conn) -> None:
    tenant = create_tenant(database_url)
    with conn, conn.cursor() as cur:
        # 100 documents of 10,000..109,000 bytes: the 95th percentile is 104,050.
        _stored(cur, tenant, "investor_memo", [10_000 + 1_000 * i for i in range(100)])
        _stored(cur, tenant, "executive_summary", [20_000, 21_000], start=1_000)
    with conn:
        found = quotas.document_bytes(conn, tenant, ["investor_memo", "executive_summary", "portfolio_overview"])
    assert found == {"investor_memo": 104_050, "executive_summary": 20_950,
                     "portfolio_overview": quotas.DEFAULT_DOCUMENT_BYTES}
    with conn, conn.cursor() as cur:
        # Only the ESTIMATE_SAMPLE most recent count: 200 newer, smaller documents replace the old picture.
        _stored(cur, tenant, "investor_memo", [5_000] * quotas.ESTIMATE_SAMPLE, start=2_000,
                generated=NOW + timedelta(days=1))
    with conn:
        assert quotas.document_bytes(conn, tenant, ["investor_memo"]) == {"investor_memo": 5_000}


def test_a_run_that_would_cross_the_storage_renders_only_what_is_expected_to_fit() -> None:
    """The packets step's rule before rendering: `cap` on the expected bytes, best-scored first."""
    usage = quotas.usage_of(PLANS["free"], "storage", PLANS["free"].storage - 100_000, NOW)
    expected = {"a/investor_memo": 48_000, "a/executive_summary": 48_000, "b/investor_memo": 48_000,
                "old/investor_memo": -1_000}  # a re-render smaller than the stored one: free
    score = {"a/investor_memo": 90, "a/executive_summary": 90, "b/investor_memo": 80, "old/investor_memo": 10}
    capped = quotas.cap(list(expected), usage, score=score.__getitem__, cost=expected.__getitem__,
                        free=lambda p: expected[p] <= 0)
    assert capped.kept == ["a/investor_memo", "a/executive_summary", "old/investor_memo"]
    assert capped.skipped == ["b/investor_memo"] and capped.reason.startswith("quota storage:")
    at_cap = quotas.usage_of(PLANS["free"], "storage", PLANS["free"].storage - 1, NOW)
    assert quotas.cap(["a/investor_memo"], at_cap, score=score.__getitem__, cost=expected.__getitem__).kept == []
