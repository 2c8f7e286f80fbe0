"""Memos asked for through the API (`packet_requests`) in the packets run (issue #11): they come
before the planned documents within the plan's storage (the API accepted them on the room the
requests before them left), and a document that exists only because someone asked for it is kept as
current as the configured ones — a new template version renders it again in the next run that
renders its property. Real PostgreSQL, the sample county's public run made once."""

from __future__ import annotations

from typing import Any

import pytest

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import PLANS
from realestate_assets.definitions import Deployment
from realestate_assets.docs.memo import TEMPLATE_VERSIONS
from tests.databases import query
from tests.outreach.test_quota_skip import PUBLIC, _metadata
from tests.outreach.test_tenant_objects import _checks, _run
from tests.samples import shared_sample_deployment


@pytest.fixture(scope="module")
def county(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    deployment = shared_sample_deployment(database_url, tmp_path_factory.mktemp("memo-requests-county"))
    public = _run(deployment, PUBLIC, "unused")
    assert public.success and all(_checks(public).values()), _checks(public)
    return deployment


def _query(database_url: str, statement: str, *args: Any) -> list[tuple]:
    return query(database_url, statement, args)


def _ask(database_url: str, tenant: str, prospect_key: str, templates: str = "{}") -> None:
    """What the memo route records (api/v1/properties.py): asked again after rendering starts over."""
    _query(database_url, "INSERT INTO packet_requests (tenant_id, county, prospect_key, requested_by, templates) "
                         "VALUES (%s, 'king_wa', %s, 'analyst@example.com', %s) ON CONFLICT (tenant_id, county, "
                         "prospect_key) DO UPDATE SET requested_at = now(), rendered_at = NULL, "
                         "templates = EXCLUDED.templates", tenant, prospect_key, templates)


def _documents(database_url: str, tenant: str, prospect_key: str) -> dict[str, tuple[str, str]]:
    return {t: (v, p) for t, v, p in _query(
        database_url, "SELECT template, template_version, object_path FROM packets WHERE tenant_id = %s "
                      "AND county = 'king_wa' AND prospect_key = %s", tenant, prospect_key)}


@pytest.mark.slow
def test_a_memo_asked_for_is_rendered_before_the_planned_documents(county: Deployment, database_url: str,
                                                                    tenant: str) -> None:
    """Room for two and a half documents: without a request the best-scored property's two are
    rendered (test_quota_skip); with one for the lowest-scored property, its two are."""
    ((lowest,),) = _query(database_url, "SELECT prospect_key FROM scores WHERE county = 'king_wa' "
                                        "ORDER BY bird_dog_score, prospect_key LIMIT 1")
    left = quotas.DEFAULT_DOCUMENT_BYTES * 5 // 2
    _query(database_url, "UPDATE tenants SET plan = 'free' WHERE id = %s", tenant)
    _query(database_url, "INSERT INTO packets (tenant_id, county, prospect_key, template, template_version, "
                         "inputs_hash, object_path, sha256, size_bytes, bird_dog_score, generated_at) VALUES "
                         "(%s, 'elsewhere', 'p1', 'memo', '1', 'h', 'tenants/x/p1.pdf', 's', %s, 80, now())",
           tenant, PLANS["free"].storage - left)
    _ask(database_url, tenant, lowest)
    result = _run(county, ["packets"], tenant)
    assert result.success and all(_checks(result).values()), _checks(result)
    packets = _metadata(result)["packets"]
    assert packets["rendered_this_run"].value == 2 and packets["not_rendered_storage"].value >= 1
    stored = _query(database_url, "SELECT prospect_key, template FROM packets WHERE tenant_id = %s "
                                  "AND county = 'king_wa'", tenant)
    assert sorted(stored) == [(lowest, "executive_summary"), (lowest, "investor_memo")], stored
    assert _query(database_url, "SELECT rendered_at IS NOT NULL FROM packet_requests WHERE tenant_id = %s",
                  tenant) == [(True,)]


@pytest.mark.slow
def test_a_document_once_asked_for_is_rendered_again_for_a_new_template_version(
        county: Deployment, database_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A detailed analysis asked for once (beyond the configured templates) is rendered again with
    its template's new version by the next run that renders the property — here a memo asked for
    again, which asks for the configured templates only; those, unchanged, are reused."""
    ((key,),) = _query(database_url, "SELECT prospect_key FROM scores WHERE county = 'king_wa' "
                                     "ORDER BY bird_dog_score, prospect_key LIMIT 1")
    _ask(database_url, tenant, key, "{detailed_analysis}")
    assert _run(county, ["packets"], tenant).success
    first = _documents(database_url, tenant, key)
    assert set(first) == {"investor_memo", "executive_summary", "detailed_analysis"}
    assert first["detailed_analysis"][0] == TEMPLATE_VERSIONS["detailed_analysis"]

    monkeypatch.setitem(TEMPLATE_VERSIONS, "detailed_analysis", "999")
    _ask(database_url, tenant, key)  # the investor memo again: no template beyond the configured ones
    again = _run(county, ["packets"], tenant)
    assert again.success and all(_checks(again).values()), _checks(again)
    after = _documents(database_url, tenant, key)
    assert after["detailed_analysis"][0] == "999" and "/detailed_analysis-v999-" in after["detailed_analysis"][1]
    assert {t: after[t] for t in ("investor_memo", "executive_summary")} == {
        t: first[t] for t in ("investor_memo", "executive_summary")}  # same version and inputs: reused
    metadata = _metadata(again)["packets"]
    assert metadata["templates"].value["detailed_analysis"] == "999"
