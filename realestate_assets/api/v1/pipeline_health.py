"""The pipeline per county and stage from the run history (`pipeline_runs`, migration 0029): last
run, its status, duration, throughput, freshness and the slowest stage. Pure: the route reads the
rows, this shapes them (tests call it directly).

A stage's figures are those of its assets' latest runs: its status is the worst of them (one
failed asset makes the stage failed), its duration their sum (the time the stage costs a county
per cycle, whether its assets ran together or not), its throughput the rows they wrote per second
of it. Freshness is the age of the stage's oldest latest success: the stage is as fresh as its
stalest asset. The bottleneck is the stage with the longest duration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

# The dashboard's stages (discovery → enrichment → scoring → packets → email) and their assets
# (the asset graph of definitions.CATALOG, outreach split in two as the Home screen shows it).
STAGE_ASSETS: dict[str, tuple[str, ...]] = {
    "discovery": ("sales", "listings", "assessor_roll", "prospects"),
    "enrichment": ("enrichment",),
    "scoring": ("features", "ml_model", "scores", "property_vectors"),
    "packets": ("packets",),
    "email": ("emails",),
}
STAGE_OF = {asset: stage for stage, assets in STAGE_ASSETS.items() for asset in assets}
# Worst first: the status a stage shows when its assets' latest runs disagree.
SEVERITY = ("failure", "canceled", "skipped", "success")


def worst(statuses: Iterable[str]) -> str | None:
    found = set(statuses)
    return next((s for s in SEVERITY if s in found), None)


def _stage(name: str, rows: list[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    latest: dict[str, Mapping[str, Any]] = {}
    succeeded: dict[str, Mapping[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["ended_at"]):  # later rows overwrite earlier ones
        latest[row["asset"]] = row
        if row["status"] == "success":
            succeeded[row["asset"]] = row
    durations = [r["duration_s"] for r in succeeded.values()]
    duration = round(sum(durations), 3) if durations else None
    counted = [r["row_count"] for r in succeeded.values() if r["row_count"] is not None]
    rows_written = sum(counted) if counted else None
    fresh_since = min((r["ended_at"] for r in succeeded.values()), default=None)
    return {
        "stage": name,
        "assets": sorted(latest),
        "last_run_at": max((r["ended_at"] for r in latest.values()), default=None),
        "last_status": worst(r["status"] for r in latest.values()),
        "last_success_at": max((r["ended_at"] for r in succeeded.values()), default=None),
        "freshness_s": round((now - fresh_since).total_seconds(), 1) if fresh_since else None,
        "duration_s": duration,
        "rows": rows_written,
        "throughput_rows_per_s": (round(rows_written / duration, 1)
                                  if rows_written is not None and duration else None),
        "runs": len({r["run_id"] for r in rows}),
        "failures": len({r["run_id"] for r in rows if r["status"] == "failure"}),
    }


def county_pipelines(rows: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Rows of pipeline_runs (asset, county, run_id, status, ended_at, duration_s, row_count) →
    one entry per county with every stage, in pipeline order (a stage never run has no figures)."""
    by_county: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in rows:
        stage = STAGE_OF.get(row["asset"])
        if stage is not None and row["county"] is not None:
            by_county.setdefault(row["county"], {}).setdefault(stage, []).append(row)
    answer = []
    for county in sorted(by_county):
        stages = [_stage(name, by_county[county].get(name, []), now) for name in STAGE_ASSETS]
        timed = [s for s in stages if s["duration_s"] is not None]
        ran = [s for s in stages if s["last_run_at"] is not None]
        last = max(ran, key=lambda s: s["last_run_at"], default=None)
        answer.append({
            "county": county,
            "last_run_at": last["last_run_at"] if last else None,
            "last_status": last["last_status"] if last else None,
            "bottleneck": max(timed, key=lambda s: s["duration_s"])["stage"] if timed else None,
            "stages": stages,
        })
    return answer
