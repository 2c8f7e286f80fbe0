"""A tenant over its plan (issue #11): its packets and emails steps skip its partition with the
reason in their metadata and log, and never fail the county's run; a tenant near the end of its
plan gets only what the headroom allows, best-scored first, the rest skipped with reason `quota`."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import PLANS
from realestate_assets.definitions import Deployment
from tests.databases import psycopg2_dsn
from tests.outreach.test_tenant_objects import _checks, _run
from tests.samples import shared_sample_deployment

PUBLIC = ["sales", "prospects", "enrichment", "features", "ml_model", "scores"]


@pytest.fixture(scope="module")
def county(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The sample county's public stages, run once: every test here runs its own tenant's packets
    and emails on them (what a plan limits), as the tenant runs of a county run follow its public run."""
    deployment = shared_sample_deployment(database_url, tmp_path_factory.mktemp("quota-county"))
    public = _run(deployment, PUBLIC, "unused")  # public assets only: no tenant partition runs
    assert public.success and all(_checks(public).values()), _checks(public)
    return deployment


def _over_quota(database_url: str, tenant: str, left: int = 0) -> None:
    """On the free plan, with the month's properties and emails used up (but `left` of each)."""
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
        cur.execute("INSERT INTO property_receipts (tenant_id, period_start, county, prospect_key, via) "
                    "SELECT %s, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 'king_wa', 'k' || i, 'packet' "
                    "FROM generate_series(1, %s) i", (tenant, PLANS["free"].properties - left))
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                    "(%s, 'elsewhere', 'p1', 'memo', '1', 'h', 'tenants/x/p1.pdf', 's', 10, 80, now()) RETURNING id",
                    (tenant,))
        packet_id = cur.fetchone()[0]
        cur.execute("INSERT INTO emails (tenant_id, county, campaign, packet_id, recipient_email, subject, provider, "
                    "send_key, status, sent_at) SELECT %s, 'elsewhere', 'new_opportunity', %s, "
                    "'r' || i || '@example.com', 'Deal', 'outbox', 'k' || i, 'sent', now() "
                    "FROM generate_series(1, %s) i", (tenant, packet_id, PLANS["free"].emails - left))
    conn.close()


@pytest.mark.slow
def test_an_over_quota_tenant_is_skipped_with_a_reason_not_failed(county: Deployment, database_url: str,
                                                                  tenant: str) -> None:
    _over_quota(database_url, tenant)
    result = _run(county, ["packets", "emails"], tenant)
    assert result.success and all(_checks(result).values()), _checks(result)
    metadata = {e.asset_key.path[-1]: e.event_specific_data.materialization.metadata for e in result.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert metadata["packets"]["quota_blocked"].value.startswith("quota properties: the free plan allows 100")
    assert metadata["packets"]["rendered_this_run"].value == 0
    assert metadata["emails"]["quota_blocked"].value.startswith("quota emails: the free plan allows 500")
    assert metadata["emails"]["sent_this_run"].value == 0


def _metadata(result: Any) -> dict[str, Any]:
    return {e.asset_key.path[-1]: e.event_specific_data.materialization.metadata for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"}


@pytest.mark.slow
def test_a_run_within_the_plan_counts_each_property_it_delivers_once(county: Deployment, database_url: str,
                                                                     tenant: str) -> None:
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
    steps = ["packets", "emails"]  # on the county's public rows (`county`)
    first = _run(county, steps, tenant)
    assert first.success and all(_checks(first).values()), _checks(first)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT prospect_key, via FROM property_receipts WHERE tenant_id = %s", (tenant,))
        received = dict(cur.fetchall())
        cur.execute("SELECT DISTINCT prospect_key FROM packets WHERE tenant_id = %s AND prospect_key <> '_portfolio'",
                    (tenant,))
        packeted = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT count(*) FROM emails WHERE tenant_id = %s AND sent_at IS NOT NULL", (tenant,))
        sent = cur.fetchone()[0]
    assert packeted and set(received) == packeted and set(received.values()) == {"packet"}
    metadata = _metadata(first)
    assert metadata["packets"]["properties_newly_received"].value == len(packeted)
    assert metadata["packets"]["quota_blocked"].value == ""
    assert sent > 0 and metadata["emails"]["properties_newly_received"].value == 0  # emailed: packeted first
    again = _run(county, ["packets", "emails"], tenant)
    assert again.success and _metadata(again)["packets"]["properties_newly_received"].value == 0
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s", (tenant,))
        assert cur.fetchone()[0] == len(received)  # a re-run counts nothing twice
    conn.close()


@pytest.mark.slow
def test_a_run_near_the_end_of_the_plan_does_only_what_is_left_best_first(
        county: Deployment, database_url: str, tenant: str) -> None:
    _over_quota(database_url, tenant, left=2)
    steps = ["packets", "emails"]  # on the county's public rows (`county`)
    result = _run(county, steps, tenant)
    assert result.success and all(_checks(result).values()), _checks(result)
    metadata = _metadata(result)
    packets, emails = metadata["packets"], metadata["emails"]
    assert packets["quota_blocked"].value == "" and emails["quota_blocked"].value == ""
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT prospect_key FROM packets WHERE tenant_id = %s AND county = 'king_wa' "
                    "AND prospect_key <> '_portfolio'", (tenant,))
        packeted = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT prospect_key, bird_dog_score FROM scores WHERE county = 'king_wa'")
        scores = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s", (tenant,))
        received = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM emails WHERE tenant_id = %s AND county = 'king_wa' "
                    "AND sent_at IS NOT NULL", (tenant,))
        sent = cur.fetchone()[0]
    conn.close()
    # Two properties left this month: two delivered, the plan's 100 reached, never passed.
    skipped = packets["skipped_quota"].value
    assert len(packeted) == 2 and skipped >= 1, (packeted, skipped)
    assert received == PLANS["free"].properties
    assert packets["skipped_reason"].value == "quota"
    assert packets["skipped_quota_detail"].value.startswith("quota properties: 2 of the free plan's 100")
    # Best first: nothing skipped scores above what was delivered.
    assert min(scores[k] for k in packeted) >= max(scores[k] for k in packets["skipped_quota_examples"].value)
    # Two emails left: at most two sent; what the plan wanted beyond them is skipped, not failed.
    assert sent <= 2 and emails["sent_this_run"].value == sent
    assert emails["skipped_quota"].value == 0 or emails["skipped_reason"].value == "quota"


@pytest.mark.slow
def test_a_run_stops_storing_documents_once_the_plans_storage_would_be_crossed(
        county: Deployment, database_url: str, tenant: str) -> None:
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    with conn, conn.cursor() as cur:  # one byte of the free plan's storage left: not used up, no room either
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                    "(%s, 'elsewhere', 'p1', 'memo', '1', 'h', 'tenants/x/p1.pdf', 's', %s, 80, now())",
                    (tenant, PLANS["free"].storage - 1))
    steps = ["packets"]  # on the county's public rows (`county`)
    result = _run(county, steps, tenant)
    assert result.success and all(_checks(result).values()), _checks(result)
    packets = _metadata(result)["packets"]
    assert packets["quota_blocked"].value == ""  # not used up when the run started
    assert packets["skipped_reason"].value == "quota" and packets["skipped_quota"].value >= 1
    assert "quota storage" in packets["skipped_quota_detail"].value
    # Not one document would fit its expected bytes: none is rendered, not only none stored.
    assert packets["rendered_this_run"].value == 0
    assert packets["not_rendered_storage"].value == packets["skipped_quota"].value
    assert "not rendered (expected bytes a document" in packets["skipped_quota_detail"].value
    assert set(packets["storage_estimate_bytes"].value.values()) == {quotas.DEFAULT_DOCUMENT_BYTES}
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(size_bytes), 0) FROM packets WHERE tenant_id = %s "
                    "AND county = 'king_wa'", (tenant,))
        stored, _ = cur.fetchone()
        cur.execute("SELECT count(*) FROM property_receipts WHERE tenant_id = %s", (tenant,))
        received = cur.fetchone()[0]
    conn.close()
    assert stored == 0 and received == 0  # nothing stored past the plan, and nothing delivered counted


@pytest.mark.slow
def test_a_run_renders_only_the_documents_expected_to_fit_in_the_storage_left(
        county: Deployment, database_url: str, tenant: str) -> None:
    """Room for two and a half documents of the default estimate (the tenant has stored none of
    these templates yet): the two best-scored are rendered and stored, the rest never rendered."""
    left = quotas.DEFAULT_DOCUMENT_BYTES * 5 // 2
    conn = psycopg2.connect(psycopg2_dsn(database_url))
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE tenants SET plan = 'free' WHERE id = %s", (tenant,))
        cur.execute("INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, inputs_hash, "
                    "object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                    "(%s, 'elsewhere', 'p1', 'memo', '1', 'h', 'tenants/x/p1.pdf', 's', %s, 80, now())",
                    (tenant, PLANS["free"].storage - left))
    steps = ["packets"]  # on the county's public rows (`county`)
    result = _run(county, steps, tenant)
    assert result.success and all(_checks(result).values()), _checks(result)
    packets = _metadata(result)["packets"]
    assert packets["rendered_this_run"].value == 2 and packets["not_stored_storage"].value == 0
    assert packets["not_rendered_storage"].value >= 1
    assert packets["skipped_reason"].value == "quota"
    with conn, conn.cursor() as cur:
        cur.execute("SELECT p.prospect_key, p.template, p.size_bytes, s.bird_dog_score FROM packets p "
                    "JOIN scores s ON s.county = p.county AND s.prospect_key = p.prospect_key "
                    "WHERE p.tenant_id = %s AND p.county = 'king_wa'", (tenant,))
        stored = cur.fetchall()
        cur.execute("SELECT max(bird_dog_score) FROM scores WHERE county = 'king_wa'")
        best = cur.fetchone()[0]
    conn.close()
    # The best-scored property's two documents, within the storage left.
    assert len(stored) == 2 and {r[3] for r in stored} == {best}, stored
    assert sum(r[2] for r in stored) <= left
