"""Capping a tenant's run to its plan's remaining headroom (accounts/quotas.cap): the best-scored
first, what costs nothing always kept, the rest skipped with reason `quota`. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from realestate_assets.accounts import quotas
from realestate_assets.accounts.plans import plan
from realestate_assets.outreach.campaigns import Decision, EarlierEmail, RecipientPlan, cap_emails

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def _usage(quota: str, used: int, plan_name: str = "free") -> quotas.Usage:
    return quotas.usage_of(plan(plan_name), quota, used, NOW)  # type: ignore[arg-type]


def test_the_best_scored_are_kept_up_to_the_headroom_and_free_ones_always() -> None:
    scores = {"a": 50.0, "b": 90.0, "c": 70.0, "d": 95.0, "e": 80.0}
    found = _usage("properties", 98)  # free plan: 100 a month, 2 left
    capped = quotas.cap(list(scores), found, score=scores.__getitem__, free=lambda k: k == "a")
    assert capped.kept == ["a", "b", "d"]  # in the order given; a was received already this month
    assert capped.skipped == ["e", "c"]  # best first
    assert capped.reason is not None and capped.reason.startswith("quota properties: 2 of the free plan's 100")
    meta = capped.metadata(str)
    assert meta["skipped_quota"] == 2 and meta["skipped_reason"] == "quota"
    assert meta["skipped_quota_examples"] == ["e", "c"]


def test_no_limit_or_enough_room_keeps_everything_and_a_spent_quota_keeps_only_free_ones() -> None:
    items = ["x", "y"]
    assert quotas.cap(items, None, score=lambda _: 1.0).kept == items
    assert quotas.cap(items, _usage("properties", 5, "enterprise"), score=lambda _: 1.0).kept == items
    roomy = quotas.cap(items, _usage("properties", 10), score=lambda _: 1.0)
    assert roomy.kept == items and roomy.skipped == [] and roomy.metadata(str)["skipped_reason"] == ""
    spent = quotas.cap(items, _usage("properties", 100), score=lambda _: 1.0, free=lambda k: k == "y")
    assert spent.kept == ["y"] and spent.skipped == ["x"]


def _decision(address: str, key: str, score: float, again: bool = False) -> Decision:
    return Decision(SimpleNamespace(address=address), SimpleNamespace(key="new_opportunity"),  # type: ignore[arg-type]
                    key, ({"bird_dog_score": score},), why="test", again=again)


def test_emails_keep_to_the_months_remaining_emails_and_sent_ones_cost_nothing() -> None:
    sent_today = _decision("r1@example.com", "packet:1", 40.0, again=True)  # settled: planned again, free
    retry = _decision("r1@example.com", "packet:2", 60.0, again=True)  # still pending: it will count
    plans = [RecipientPlan(SimpleNamespace(address="r1@example.com"),  # type: ignore[arg-type]
                           [sent_today, retry, _decision("r1@example.com", "packet:3", 99.0)]),
             RecipientPlan(SimpleNamespace(address="r2@example.com"),  # type: ignore[arg-type]
                           [_decision("r2@example.com", "packet:4", 85.0)])]
    history = [EarlierEmail("r1@example.com", "new_opportunity", "packet:1", (1,), NOW, "sent"),
               EarlierEmail("r1@example.com", "new_opportunity", "packet:2", (2,), NOW, "pending")]
    capped = cap_emails(plans, history, _usage("emails", 498))  # free plan: 500 a month, 2 left
    assert [d.send_key for d in capped.skipped] == ["packet:2"]
    assert [d.send_key for d in plans[0].emails] == ["packet:1", "packet:3"]
    assert [d.send_key for d in plans[1].emails] == ["packet:4"]
    assert capped.reason is not None and "quota emails" in capped.reason


def test_storage_keeps_the_best_scored_documents_whose_bytes_fit_and_stops_at_the_first_that_does_not() -> None:
    gib = 1024 ** 3
    found = _usage("storage", gib - 250)  # free plan: 1 GiB, 250 bytes left
    size = {"a": 100, "b": 120, "c": 40, "d": -30}  # bytes each adds (d: smaller than the one it replaces)
    scores = {"a": 90.0, "b": 80.0, "c": 70.0, "d": 10.0}
    capped = quotas.cap(list(size), found, score=scores.__getitem__, cost=size.__getitem__,
                        free=lambda k: size[k] <= 0)
    # a and b fit (220 of 250 bytes), c (260) does not; d adds nothing and is always kept.
    assert capped.kept == ["a", "b", "d"] and capped.skipped == ["c"]
    assert capped.reason is not None and capped.reason.startswith("quota storage: 0.00 GiB of stored documents")
    assert capped.metadata(str)["skipped_reason"] == "quota"
    # Stops at the first that does not fit: a cheaper, lower-scored one is not slipped in after it.
    stop = quotas.cap(["big", "small"], found, score={"big": 2.0, "small": 1.0}.__getitem__,
                      cost={"big": 300, "small": 10}.__getitem__)
    assert stop.kept == [] and stop.skipped == ["big", "small"]
    both = quotas.joined(capped, stop)
    assert both.skipped == ["c", "big", "small"] and both.reason and both.reason.count("quota storage") == 2
