"""The chaos harness's own judgement (bench/chaos, `make chaos`): its comparisons must see a lost
row, a duplicate, a re-sent email and a lost value, or a PASS from it would mean nothing. Pure
functions only; the harness itself is not part of `make test`."""

from __future__ import annotations

from pathlib import Path

from bench.chaos.common import TableSnapshot, compare, file_identities, resent_paths, table_snapshot
from bench.chaos.crash import KillPoint, kill_points, rounds, stage_of
from bench.chaos.sources import lost_values, unexplained
from bench.chaos.tenants import changed


def test_compare_sees_lost_extra_and_duplicated_rows() -> None:
    clean = {"scores": table_snapshot([("king_wa", "p1"), ("king_wa", "p2")])}
    assert compare(clean, {"scores": table_snapshot([("king_wa", "p2"), ("king_wa", "p1")])}) == []
    [difference] = compare(clean, {"scores": table_snapshot([("king_wa", "p1"), ("king_wa", "p1"),
                                                             ("king_wa", "p3")])})
    assert (difference.lost, difference.extra, difference.duplicated) == (1, 1, 1)
    assert "lost ('king_wa', 'p2')" in str(difference)
    [missing_table] = compare(clean, {})
    assert missing_table.lost == 2 and compare({}, {"emails": TableSnapshot(0)}) == []


def test_a_rewritten_outbox_file_is_a_resend(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(b"one")
    (tmp_path / "b.eml").write_bytes(b"two")
    before = file_identities(tmp_path)
    (tmp_path / "c.eml").write_bytes(b"new: not a re-send")
    partial = tmp_path / "b.partial"
    partial.write_bytes(b"two again")
    partial.replace(tmp_path / "b.eml")  # how the outbox writes: a new file renamed over the old
    assert resent_paths(before, file_identities(tmp_path)) == ["b.eml"]
    assert resent_paths(before, before) == []


def test_kill_points_cover_every_stage_and_rounds_keep_pipeline_order() -> None:
    stages = ["sales", "prospects", "enrichment", "scores", "packets", "emails"]
    points = kill_points(stages, quick=False, n_packets=6, n_emails=8)
    assert {p.stage for p in points} == set(stages) and len(points) >= 20
    kinds = {p.kind for p in points}
    assert kinds == {"stage", "sql", "files"}
    assert KillPoint("files", "emails", directory="outbox", count=8) in points  # all written, none marked
    assert [stage_of(w) for w in ("after packets", "scores_county_fresh", "emails")] == ["packets", "scores", "emails"]
    plan = rounds(points, stages, size=8)
    assert sorted((p for r in plan for p in r), key=str) == sorted(points, key=str)
    for points_of_round in plan:
        order = [stages.index(p.stage) for p in points_of_round]
        assert order == sorted(order)


def test_lost_values_and_unexplained_failures() -> None:
    before = {"p1": {"prospect_key": "p1", "status": "enriched", "assessed_value": 400_000, "tract_geoid": None}}
    kept = {"p1": {"prospect_key": "p1", "status": "enriched", "assessed_value": 400_000, "tract_geoid": "53"}}
    assert lost_values(before, kept) == []
    assert lost_values(before, {"p1": {**kept["p1"], "assessed_value": None}}) == [
        "p1.assessed_value: 400000 → None"]
    assert lost_values(before, {}) == ["p1.assessed_value: 400000 → None"]
    rows = {"p1": {"status": "failed", "failure_reason": None,
                   "source_status": {"attom": {"status": "failed", "reason": None},
                                     "census_acs": {"status": "no_match", "reason": None}}}}
    assert unexplained(rows) == ["p1: failed without a reason", "p1: attom failed without a reason"]


def test_changed_names_rows_and_objects_touched() -> None:
    before = {"scores#1": "t1", "object a.pdf": "sha-a"}
    assert changed(before, dict(before)) == []
    assert changed(before, {"scores#1": "t2", "object a.pdf": "sha-a", "scores#2": "t1"}) == ["scores#1"]
