"""Analytics for the dashboard's home and analytics screens (issue #11): totals, the score
distribution, counts by location, monthly trends and the pipeline funnel per county.

Everything is computed by PostgreSQL over the rows the tenant may see: public county rows of the
counties it follows (row-level security, migration 0008) and its own emails. Deals are counted
against the packet threshold of config/scoring.yaml — the same number that decides who gets a
memo. Per-run figures (last run, durations, throughput, failures) come from the run history the
pipeline records in `pipeline_runs` (migration 0029, sensors/run_history.py): the API asks Dagster
nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.accounts import store
from realestate_assets.api.v1 import response_cache
from realestate_assets.api.v1.pipeline_health import county_pipelines
from realestate_assets.api.v1.problems import responses
from realestate_assets.api.v1.property_query import TENANT_STATUS_COUNTS
from realestate_assets.api.v1.schemas import (
    AnalyticsSummary,
    CountyFunnel,
    CountyPipeline,
    LocationCount,
    MonthlyEmails,
    MonthlyTrend,
    ScoreDistribution,
)
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.lifecycle import LIFECYCLE
from realestate_assets.db.warehouse import dict_rows

router = APIRouter(tags=["analytics"])
ERRORS = (401, 403, 422)
# Pipeline statuses in order: a property at a later one has passed the earlier ones.
STAGES = LIFECYCLE
STAGE_NAMES = {"new": "discovered"}
EMAIL_OUTCOMES = {"sent": "sent_at", "delivered": "delivered_at", "opened": "opened_at", "clicked": "clicked_at",
                  "bounced": "bounced_at", "unsubscribed": "unsubscribed_at"}
PROPERTIES = "prospects p LEFT JOIN scores s ON s.county = p.county AND s.prospect_key = p.prospect_key"
# The summary's figures per county and in total. One pass over the join for both (the empty grouping
# set is the total): the join of 100,000 properties to their scores is the cost, and it was paid
# twice. With migration 0036's covering indexes it is a merge join of two index-only scans (when the
# visibility map is current). count(s.prospect_key), not count(s.id): the same count (NOT NULL, so
# NULL only where the LEFT JOIN found no score) from a column of the covering index.
# `oldest_new_deal` is not shown: it is the earliest first_seen_at the new_deals_7d count holds, which
# says how long a computed answer stays right (`summary`).
# Parameters: %(t)s the packet threshold, %(counties)s.
NEW_DEAL = "s.bird_dog_score >= %(t)s AND p.first_seen_at >= now() - interval '7 days'"
SUMMARY = ("SELECT CASE WHEN grouping(p.county) = 1 THEN 'all' ELSE p.county END AS county, "
           "count(*)::int AS properties, count(s.prospect_key)::int AS scored, "
           "round(avg(s.bird_dog_score)::numeric, 1)::float AS average_score, "
           "count(*) FILTER (WHERE s.bird_dog_score >= %(t)s)::int AS deals, "
           f"count(*) FILTER (WHERE {NEW_DEAL})::int AS new_deals_7d, "
           f"max(s.updated_at) AS last_scored_at, min(p.first_seen_at) FILTER (WHERE {NEW_DEAL}) AS oldest_new_deal "
           f"FROM {PROPERTIES} WHERE p.county = ANY(%(counties)s) "
           "GROUP BY GROUPING SETS ((), (p.county)) ORDER BY grouping(p.county) DESC, p.county")
# Whether a new deal first seen at %s still counts as new now: NEW_DEAL's own test of the time.
STILL_NEW = "SELECT %s >= now() - interval '7 days'"


class CountyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    county: list[str] | None = Field(None, description="Counties (repeat the parameter); default all followed")


class DistributionQuery(CountyQuery):
    width: int = Field(10, ge=1, le=50, description="Band width in score points")


class LocationQuery(CountyQuery):
    limit: int = Field(200, ge=1, le=1000, description="Most populous ZIP codes first")


class TrendQuery(CountyQuery):
    months: int = Field(24, ge=1, le=120, description="Months back, this one included")


class PipelineQuery(CountyQuery):
    days: int = Field(30, ge=1, le=365, description="Days of run history counted (runs, failures)")


def _counties(ctx: Context, query: CountyQuery) -> list[str]:
    """The asked counties, else the followed ones, spelled out for the planner (row-level
    security hides the rest either way)."""
    return query.county or [s["county"] for s in store.list_subscriptions(ctx.cur)]


def _threshold(request: Request) -> float:
    return request.app.state.reos.scoring.packet_threshold



@router.get("/analytics/summary", response_model=AnalyticsSummary, responses=responses(*ERRORS),
            summary="Totals per followed county: properties, scored, average score, deals, new deals this week")
def summary(query: Annotated[CountyQuery, Query()], request: Request,
            ctx: Context = needs("read", cached=True)) -> dict[str, Any]:
    # SUMMARY, kept in the response cache at the tenant's generation (every write to the followed
    # counties' prospects and scores, or to the tenant's subscriptions, changes it) and the threshold.
    # One figure also moves with time: new_deals_7d. Without a write it can only fall, and the first
    # deal to leave the window is the one first seen earliest; so an answer stays exact while that
    # deal (`oldest_new_deal`) still passes SUMMARY's own test of the time, asked of PostgreSQL's
    # clock (`STILL_NEW`, one round trip on a hit when there are new deals). Recomputed otherwise.
    threshold = _threshold(request)
    counties = _counties(ctx, query)

    def compute() -> response_cache.Entry:
        ctx.cur.execute(SUMMARY, {"t": threshold, "counties": counties})
        rows = dict_rows(ctx.cur)
        oldest = rows[0]["oldest_new_deal"]  # the total's (first; the empty grouping set): the earliest of all
        for row in rows:
            del row["oldest_new_deal"]
        totals, *per_county = rows
        return response_cache.entry_of_value({"threshold": threshold, "totals": totals, "counties": per_county},
                                             meta=(oldest,))

    def still_exact(entry: response_cache.Entry) -> bool:
        if entry.meta[0] is None:  # no new deal: none can appear without a write
            return True
        ctx.cur.execute(STILL_NEW, (entry.meta[0],))
        return bool(ctx.cur.fetchone()[0])

    entry = response_cache.cached(request, ctx, ("summary", tuple(counties), threshold), compute, still_exact)
    return json.loads(entry.body)


@router.get("/analytics/score-distribution", response_model=ScoreDistribution, responses=responses(*ERRORS),
            summary="How many properties score in each band, per county")
def score_distribution(query: Annotated[DistributionQuery, Query()], ctx: Context = needs("read")) -> dict[str, Any]:
    # A score of exactly 100 belongs to the last band, not to a band of its own.
    ctx.cur.execute("SELECT county, (floor(least(bird_dog_score, 99.999) / %(w)s) * %(w)s)::float AS bin_start, "
                    "count(*)::int AS properties FROM scores WHERE county = ANY(%(counties)s) "
                    "AND bird_dog_score IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
                    {"w": query.width, "counties": _counties(ctx, query)})
    return {"width": query.width, "bins": dict_rows(ctx.cur)}


@router.get("/analytics/locations", response_model=list[LocationCount], responses=responses(*ERRORS),
            summary="Properties, scores and deals by ZIP code (with a centroid for the map)")
def locations(query: Annotated[LocationQuery, Query()], request: Request,
              ctx: Context = needs("read")) -> list[dict[str, Any]]:
    ctx.cur.execute(f"SELECT p.county, p.zip, count(*)::int AS properties, count(s.id)::int AS scored, "
                    "round(avg(s.bird_dog_score)::numeric, 1)::float AS average_score, "
                    "count(*) FILTER (WHERE s.bird_dog_score >= %(t)s)::int AS deals, "
                    "avg(p.latitude) AS latitude, avg(p.longitude) AS longitude "
                    f"FROM {PROPERTIES} WHERE p.county = ANY(%(counties)s) GROUP BY 1, 2 "
                    "ORDER BY 3 DESC, 1, 2 NULLS LAST LIMIT %(limit)s",
                    {"t": _threshold(request), "counties": _counties(ctx, query), "limit": query.limit})
    return dict_rows(ctx.cur)


@router.get("/analytics/trends", response_model=list[MonthlyTrend], responses=responses(*ERRORS),
            summary="Per month: properties first seen, how many of them are deals, their average score")
def trends(query: Annotated[TrendQuery, Query()], request: Request,
           ctx: Context = needs("read")) -> list[dict[str, Any]]:
    ctx.cur.execute(f"SELECT p.county, date_trunc('month', p.first_seen_at)::date AS month, "
                    "count(*)::int AS new_properties, "
                    "count(*) FILTER (WHERE s.bird_dog_score >= %(t)s)::int AS new_deals, "
                    "round(avg(s.bird_dog_score)::numeric, 1)::float AS average_score "
                    f"FROM {PROPERTIES} WHERE p.county = ANY(%(counties)s) "
                    "AND p.first_seen_at >= date_trunc('month', now()) - make_interval(months => %(months)s - 1) "
                    "GROUP BY 1, 2 ORDER BY 1, 2",
                    {"t": _threshold(request), "counties": _counties(ctx, query), "months": query.months})
    return dict_rows(ctx.cur)


@router.get("/analytics/funnel", response_model=list[CountyFunnel], responses=responses(*ERRORS),
            summary="The pipeline per county: properties at each stage, and what became of the tenant's emails")
def funnel(query: Annotated[CountyQuery, Query()], request: Request,
           ctx: Context = needs("read", cached=True)) -> list[dict[str, Any]]:
    counties = _counties(ctx, query)
    by_status: dict[str, dict[str, int]] = {}
    for county, status, n in _status_counts(request, ctx, counties):
        by_status.setdefault(county, {})[status] = n
    outcomes = ", ".join(f"count({column})::int AS {name}" for name, column in EMAIL_OUTCOMES.items())
    ctx.cur.execute(f"SELECT county, {outcomes} FROM emails WHERE county = ANY(%s) GROUP BY county", (counties,))
    emails = {row.pop("county"): row for row in dict_rows(ctx.cur)}
    ctx.cur.execute("SELECT DISTINCT ON (county) county, ended_at AS last_run_at, run_status AS last_run_status "
                    "FROM pipeline_runs WHERE county = ANY(%s) ORDER BY county, ended_at DESC", (counties,))
    last_runs = {row.pop("county"): row for row in dict_rows(ctx.cur)}
    answer = []
    for county in sorted(by_status.keys() | emails.keys()):
        counts = by_status.get(county, {})
        reached = [sum(counts.get(later, 0) for later in STAGES[i:]) for i in range(len(STAGES))]
        answer.append({"county": county,
                       "stages": [{"stage": STAGE_NAMES.get(s, s), "count": n} for s, n in zip(STAGES, reached,
                                                                                                strict=True)],
                       "emails": emails.get(county, dict.fromkeys(EMAIL_OUTCOMES, 0)),
                       **last_runs.get(county, {})})
    return answer


def _status_counts(request: Request, ctx: Context, counties: list[str]) -> list[list[Any]]:
    """TENANT_STATUS_COUNTS, kept in the response cache at the tenant's generation. The statuses are
    derived from the county's rows (db/lifecycle.py): counting them joins every prospect to its
    enrichment and scores rows (≈2.6 s at a million), where a stored status column was one
    index-only count. Every table they read — the followed counties' prospects, enrichment and
    scores, the tenant's packets and emails — bumps the generation when written, so a count is
    computed once per change, not per Home visit. (The funnel's emails and last run are read fresh:
    `pipeline_runs` is not among the generation's tables.)"""
    def compute() -> response_cache.Entry:
        ctx.cur.execute(TENANT_STATUS_COUNTS, {"counties": counties})
        return response_cache.entry_of_value([list(row) for row in ctx.cur.fetchall()])

    entry = response_cache.cached(request, ctx, ("funnel_statuses", tuple(counties)), compute)
    return json.loads(entry.body)


@router.get("/analytics/pipeline", response_model=list[CountyPipeline], responses=responses(*ERRORS),
            summary="Per county and stage: last run, status, duration, throughput, freshness, the bottleneck")
def pipeline(query: Annotated[PipelineQuery, Query()], ctx: Context = needs("read")) -> list[dict[str, Any]]:
    # The window bounds the rows read; the latest run of an asset older than it is not shown.
    ctx.cur.execute("SELECT run_id, asset, county, status, ended_at, duration_s, row_count FROM pipeline_runs "
                    "WHERE county = ANY(%s) AND ended_at >= now() - make_interval(days => %s)",
                    (_counties(ctx, query), query.days))
    return county_pipelines(dict_rows(ctx.cur), datetime.now(UTC))


@router.get("/analytics/emails", response_model=list[MonthlyEmails], responses=responses(*ERRORS),
            summary="The tenant's emails per county and month: sent, delivered, opened, clicked, bounced, "
                    "unsubscribed (each counted in the month it happened)")
def email_months(query: Annotated[TrendQuery, Query()], ctx: Context = needs("read")) -> list[dict[str, Any]]:
    outcomes = ", ".join(f"('{name}', {column})" for name, column in EMAIL_OUTCOMES.items())
    pivot = ", ".join(f"count(*) FILTER (WHERE e.outcome = '{name}')::int AS {name}" for name in EMAIL_OUTCOMES)
    ctx.cur.execute(f"SELECT county, date_trunc('month', e.at)::date AS month, {pivot} "
                    f"FROM emails, LATERAL (VALUES {outcomes}) AS e (outcome, at) "
                    "WHERE county = ANY(%(counties)s) "
                    "AND e.at >= date_trunc('month', now()) - make_interval(months => %(months)s - 1) "
                    "GROUP BY 1, 2 ORDER BY 1, 2",
                    {"counties": _counties(ctx, query), "months": query.months})
    return dict_rows(ctx.cur)
