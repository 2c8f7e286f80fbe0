"""Reasons for every planned memo and email past the scores' reasons budget: the `packets` step
explains the planned candidates `scores` left without reasons (ranked past `explain_max_rows`),
stores them in `scores.score_breakdown`, renders their memos with them, and the emails step reads
them as stored. A re-run finds them stored; models that cannot be loaded leave those memos
without reasons and never fail the county."""

from __future__ import annotations

import email
from pathlib import Path
from typing import Any

import pytest
import yaml

from realestate_assets.assets import outreach as outreach_asset
from realestate_assets.db.warehouse import Warehouse
from realestate_assets.ml import on_demand
from tests.outreach.test_quota_skip import _metadata
from tests.outreach.test_tenant_objects import _checks, _run
from tests.samples import write_sample_config

pytestmark = pytest.mark.slow

UPSTREAM = ["sales", "assessor_roll", "prospects", "enrichment", "features", "ml_model", "scores"]
BUDGET = 12  # explain_max_rows; the sample's explain_top_n is 5


def _seen_contexts(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The memo contexts the packets step builds, by prospect."""
    seen: dict[str, dict[str, Any]] = {}
    built = outreach_asset.memo_context

    def spy(row: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        seen[row["prospect_key"]] = context = built(row, *args, **kwargs)
        return context

    monkeypatch.setattr(outreach_asset, "memo_context", spy)
    return seen


def packets_of(wh: Warehouse, tenant: str, keys: Any) -> Any:
    """These prospects' packets as made (their inputs digest and when they were rendered)."""
    return wh.frame("SELECT prospect_key, template, inputs_hash, generated_at FROM packets WHERE tenant_id = :t "
                    "AND prospect_key = ANY(:k) ORDER BY prospect_key, template", {"t": tenant, "k": list(keys)})


def test_planned_candidates_past_the_reasons_budget_get_reasons_in_memos_and_emails(
        make_deployment, database_url: str, tenant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_sample_config(tmp_path / "config", tmp_path / "data", n_parcels=400, packet_threshold=60)
    scoring = yaml.safe_load((config / "scoring.yaml").read_text())
    scoring["explain_max_rows"] = BUDGET
    (config / "scoring.yaml").write_text(yaml.safe_dump(scoring))
    deployment = make_deployment(config)
    wh = Warehouse(database_url)
    seen = _seen_contexts(monkeypatch)

    first = _run(deployment, [*UPSTREAM, "packets", "emails"], tenant)
    assert first.success and all(_checks(first).values()), _checks(first)
    memos = wh.frame("SELECT k.prospect_key, s.score_rank, s.score_breakdown FROM packets k JOIN scores s "
                     "ON s.county = k.county AND s.prospect_key = k.prospect_key WHERE k.tenant_id = :t "
                     "AND k.template = 'investor_memo'", {"t": tenant})
    past = memos[memos["score_rank"] > BUDGET]
    assert len(past) > 0  # today's plan (a first digest of 25) reaches past the budget
    assert memos["score_breakdown"].map(lambda b: bool(b and b["reasons"])).all()  # stored now, every memo
    for key in past["prospect_key"]:
        assert seen[key]["score"]["reasons"]  # rendered with them
    found = _metadata(first)["packets"]
    assert found["explained_on_demand"].value == len(past)
    assert found["reasons_on_demand"].value == {"asked": len(past), "explained": len(past), "stored": len(past),
                                               "failed": ""}
    # Only the planned ones: the candidates past the budget nobody is sent stay without reasons.
    unexplained = int(wh.scalar("SELECT count(*) FROM scores WHERE county = 'king_wa' AND bird_dog_score >= 60 "
                                "AND score_breakdown IS NULL", {}))
    assert unexplained > 0
    # The emails step reads the stored reasons: the digest lists a property past the budget with them.
    outbox = [email.message_from_bytes(p.read_bytes()) for p in (tmp_path / "state" / "outbox").glob("*.eml")]
    texts = "\n".join(part.get_payload(decode=True).decode() for m in outbox for part in m.walk()
                      if part.get_content_type() == "text/plain")
    reason = past["score_breakdown"].iloc[0]["reasons"][0]
    assert f"    - {reason}" in texts

    # A re-run finds them stored: none of them is explained again, and their memos are reused
    # (the run's plan may take other properties past the budget: those are explained now).
    seen.clear()
    before = packets_of(wh, tenant, past["prospect_key"])
    asked: list[str] = []
    explain = on_demand.Explainer.explain

    def counted(self: on_demand.Explainer, cur: Any, store: Any, county: str, keys: Any) -> Any:
        asked.extend(keys)
        return explain(self, cur, store, county, keys)

    monkeypatch.setattr(on_demand.Explainer, "explain", counted)
    again = _run(deployment, ["packets"], tenant)
    assert again.success and all(_checks(again).values())
    found = _metadata(again)["packets"]
    assert not set(asked) & set(past["prospect_key"])
    assert found["explained_on_demand"].value == len(asked)
    assert all(seen[key]["score"]["reasons"] for key in past["prospect_key"])
    assert packets_of(wh, tenant, past["prospect_key"]).equals(before)

    # Models that cannot be loaded: a warning and the reason in the metadata; the memos are made
    # without reasons, as before, and the county goes on.
    key = past["prospect_key"].iloc[0]
    with wh.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE scores SET score_breakdown = NULL WHERE county = 'king_wa' AND prospect_key = %s", (key,))

    def broken(*_: Any, **__: Any) -> Any:
        raise OSError("artifact missing")

    monkeypatch.setattr(on_demand, "load_model", broken)
    failed = _run(deployment, ["packets"], tenant)
    assert failed.success
    found = _metadata(failed)["packets"]
    assert found["explained_on_demand"].value == 0
    assert "could not be loaded: artifact missing" in found["reasons_on_demand"].value["failed"]
    assert seen[key]["score"]["reasons"] == []
    wh.dispose()
