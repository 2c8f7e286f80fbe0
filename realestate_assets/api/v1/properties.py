"""Properties: list (filters, sort, cursor pages), detail, CSV export (issue #11).

A tenant sees the properties of the counties it subscribes to; row-level security decides that
(migration 0008), so a property elsewhere is simply not found: 404, never 403, and ids cannot be
probed. Filters, sort and cursor are parsed once, in `property_query`, for the list and the export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from psycopg2.extensions import quote_ident
from pydantic import BaseModel, ConfigDict, Field

from realestate_assets.accounts import quotas
from realestate_assets.api.v1 import quota, response_cache
from realestate_assets.api.v1.problems import Problem, responses
from realestate_assets.api.v1.property_query import (
    COLUMNS,
    MAX_LIMIT,
    TENANT_STATUS,
    InvalidQuery,
    PropertyFilters,
    encode_cursor,
    list_query,
    page_parts,
    text_matches,
    with_followed_counties,
)
from realestate_assets.api.v1.schemas import MemoRequested, PropertyDetail, PropertyPage
from realestate_assets.api.v1.security import Authorize, Context, needs
from realestate_assets.db.catalog import columns_stamp, table_columns
from realestate_assets.db.lifecycle import PUBLIC_STATUS_JOINS
from realestate_assets.db.prepared import PerConnection
from realestate_assets.db.warehouse import dict_rows
from realestate_assets.enrich.provenance import expand
from realestate_assets.enrich.stored_provenance import provenance_sql

router = APIRouter(tags=["properties"])
ERRORS = (401, 403, 422)
EXPORT_BATCH = 2000  # rows fetched per round trip from the server-side cursor

# Enrichment columns that describe the row rather than the property.
# (`source_status_id`: the statuses' document since migration 0061, not shown, as the column before it;
# `provenance_record`: the row's part of its provenance since 0063, read as the document.)
ENRICHMENT_META = {"id", "county", "prospect_key", "as_of_date", "status", "failure_reason",
                   "provenance", "provenance_record", "source_status", "source_status_id", "created_at", "updated_at"}


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT})")
    cursor: str | None = Field(None, max_length=2000, description="`next_cursor` of the previous page")


class PropertyPageQuery(PropertyFilters, PageQuery):
    pass


class CSVResponse(StreamingResponse):
    media_type = "text/csv"



@router.get("/properties", response_model=PropertyPage, responses=responses(*ERRORS),
            summary="List the properties of the followed counties (filters, sort, cursor pages)")
def list_properties(query: Annotated[PropertyPageQuery, Query()], request: Request,
                    auth: Authorize = needs("read", cached=True, in_route=True)) -> Response:
    # AnyIO's default threads, not the detail's few (Authorize.run): with those the bench's list p99
    # rose in 4 pairs of 5 while its p95 moved both ways (docs/api.md, "Not done yet" 1).
    with auth() as ctx:  # authorized in the route's thread: one thread hop a request (security.Authorize)
        # The key is the query as it runs: the followed counties spelled out (a subscription changes it).
        filters = _followed(ctx, PropertyFilters(**query.model_dump(exclude={"limit", "cursor"})))
        entry = response_cache.cached(
            request, ctx, ("list", filters.model_dump_json(), query.cursor, query.limit),
            lambda: response_cache.entry_of(PropertyPage.model_validate(
                property_page(ctx, filters, query.cursor, query.limit))))
    return response_cache.answer(request, entry)


def property_page(ctx: Context, filters: PropertyFilters, cursor: str | None, limit: int) -> dict[str, Any]:
    """One page of the list (a PropertyPage), for the list route and saved searches."""
    filters = _followed(ctx, filters)
    matches = text_matches(ctx.cur, filters)
    rows: list[dict[str, Any]] = []
    try:
        # First the rows whose first sort column is set (list_query: the fast plan); when they do
        # not fill the page, the page reaches the nulls and the rows where it is NULL follow.
        for lead in page_parts(filters):
            sql, params = list_query(filters, cursor, limit + 1 - len(rows), matches, lead)
            ctx.cur.execute(sql, params)
            rows += dict_rows(ctx.cur)
            if len(rows) > limit:
                break
    except InvalidQuery as exc:
        raise Problem(422, str(exc)) from exc
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "limit": limit, "next_cursor": encode_cursor(filters.sort, items[-1]) if more else None}


def property_key(ctx: Context, property_id: int) -> tuple[str, str]:
    """(county, prospect_key) of a property the tenant may see; 404 otherwise (never 403: ids
    of counties the tenant does not follow cannot be probed)."""
    ctx.cur.execute("SELECT county, prospect_key FROM prospects WHERE id = %s", (property_id,))
    found = ctx.cur.fetchone()
    if found is None:
        raise Problem(404, f"no property {property_id} in the counties this tenant follows")
    return found[0], found[1]


def _followed(ctx: Context, filters: PropertyFilters) -> PropertyFilters:
    return with_followed_counties(filters, list(ctx.standing.counties))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@router.get("/properties/export.csv", response_class=CSVResponse, summary="Export the filtered list as CSV (streamed)",
            responses={200: {"description": "One row per property, the list's columns in its order",
                             "content": {"text/csv": {"schema": {"type": "string"}, "example": (
                                 ",".join(COLUMNS) + "\n1842,king_wa,kc-0007600046,0007600046,123 N MAIN ST,"
                                 "SEATTLE,WA,98103,47.6512,-122.3421,single_family,scored,,,1480.0,1952,"
                                 "415000.00,2014-06-02,87.4,12,742000.0,18.5,2026-11-30T04:00:00+00:00,"
                                 "2026-12-02T04:00:00+00:00,\n")}}},
                       **responses(*ERRORS)})
def export_properties(filters: Annotated[PropertyFilters, Query()],
                      ctx: Context = needs("read", streaming=True)) -> CSVResponse:
    ctx.audit("export", "properties", after=filters.model_dump(exclude_none=True))
    filters = _followed(ctx, filters)
    matches = text_matches(ctx.cur, filters)
    # The list's parts in turn, as a page reads them (the set rows, then the NULL ones): their
    # concatenation is the whole order, and each part is its order's index read (list_query).
    queries = [list_query(filters, matches=matches, lead=lead) for lead in page_parts(filters)]

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        i = 0
        for sql, params in queries:
            # A server-side cursor in the request's transaction (still scoped to the tenant): rows
            # are sent as they are read, never all held in memory.
            with ctx.cur.connection.cursor(name="property_export") as cur:
                cur.itersize = EXPORT_BATCH
                cur.execute(sql, params)
                for row in cur:
                    writer.writerow([_cell(v) for v in row])
                    i += 1
                    if i % EXPORT_BATCH == 0:
                        yield out.getvalue()
                        out.seek(0)
                        out.truncate()
        yield out.getvalue()

    return CSVResponse(lines(), headers={"Content-Disposition": 'attachment; filename="properties.csv"'})


@router.get("/properties/{property_id}", response_model=PropertyDetail, responses=responses(*ERRORS, 402, 404),
            summary="A property: prospect, enrichment with per-field provenance, score with components and reasons")
async def get_property(property_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request,
                       auth: Authorize = needs("read", cached=True, in_route=True)) -> Response:
    return await auth.run(lambda: _viewed(property_id, request, auth))  # in one of app.ROUTE_THREADS


def _viewed(property_id: int, request: Request, auth: Authorize) -> Response:
    with auth() as ctx:  # authorized in the route's thread: one thread hop a request (security.Authorize)
        # On a plan that refuses no view the receipt rides in the detail's own statement (one round
        # trip fewer); a view answered from the cache, or on a limited plan, is received below.
        riding = quota.riding_receipt(ctx, via="detail")
        entry = response_cache.cached(request, ctx, ("detail", property_id),
                                      lambda: _detail_entry(ctx, property_id, riding))
        # Cached or not, the tenant receives it: counted once a month (402 past the plan, the body unsent).
        # A view's receipt does not wait for the disk: the flush was most of a first view's time
        # (fdatasync ~7 ms on the bench machine) for a count a crash may lose at worst.
        if riding is None or not riding.recorded:
            quota.receive(ctx, *entry.meta, via="detail", wait_for_disk=False)
    return response_cache.answer(request, entry)


def _detail_entry(ctx: Context, property_id: int, riding: quota.RidingReceipt | None = None) -> response_cache.Entry:
    # `property_detail` builds the PropertyDetail's JSON values in its fields' order (the route's
    # response_model documents it): serialized once, not validated into models and dumped again
    # (0.065 → 0.02 ms of CPU a body; tests/api/test_detail_body.py proves the bytes equal the model's).
    detail = property_detail(ctx, property_id, riding)
    return response_cache.entry_of_value(detail, (detail["county"], detail["prospect_key"]))


# The detail in one round trip: the prospect (with the caller's own status), its enrichment and its
# score side by side, every column of each table (as `p.*, e.*, s.*` would list them, named: a
# prepared statement's result type must not change when a column is added), and the tables' column
# stamp. Row-level security applies to each of the three tables as to three queries.
DETAIL_TABLES = ("prospects", "enrichment", "scores")
# The score's model versions and component names are its county's (`score_model_versions`,
# migration 0060), last.
DETAIL = ("SELECT {stamp}, {prospects}, " + TENANT_STATUS + " AS tenant_status, {enrichment}, {scores}, "
          "v.model_versions, v.components FROM prospects p " + PUBLIC_STATUS_JOINS
          + " LEFT JOIN score_model_versions v ON v.county = s.county WHERE p.id = $1")


@dataclass(frozen=True)
class DetailColumns:
    """The columns a connection's prepared detail names, and the column stamp they were read at."""

    stamp: int
    prospects: list[str]
    enrichment: list[str]
    scores: list[str]


def _detail_statement(cur: Any) -> tuple[str, DetailColumns]:
    tables, stamp = table_columns(cur, DETAIL_TABLES)
    # The enrichment's provenance as the document its column held (migration 0063: the id of the
    # county's document and the row's record), named `provenance` in its id's place.
    tables["enrichment"] = ["provenance" if c == "provenance_id" else c for c in tables["enrichment"]]
    documents = {("enrichment", "provenance"): f"{provenance_sql('e')} AS provenance"}
    named = {t: ", ".join(documents.get((t, c)) or f"{alias}.{quote_ident(c, cur)}" for c in tables[t])
             for t, alias in zip(DETAIL_TABLES, "pes", strict=True)}
    return DETAIL.format(stamp=columns_stamp(DETAIL_TABLES), **named), DetailColumns(stamp, *tables.values())


# The detail with the view's receipt (quota.RidingReceipt): a data-modifying CTE runs once whatever
# the query reads of it, and records the property only when row-level security shows it (the
# prospect is in a followed county), as the detail itself reads it. $2..$4: tenant, month, via.
RECEIVED = ("WITH received AS (" + quotas.receipt_insert(
    "SELECT $2::text, $3::date, r.county, r.prospect_key, $4::text FROM prospects r WHERE r.id = $1") + ") ")


def _received_statement(cur: Any) -> tuple[str, DetailColumns]:
    text, columns = _detail_statement(cur)
    return RECEIVED + text, columns


# Planning was most of the statement's cost (0.43 ms of 0.56 as reos_api): prepared per connection.
_detail = PerConnection("reos_property_detail", _detail_statement)
_detail_received = PerConnection("reos_property_detail_received", _received_statement)


def property_detail(ctx: Context, property_id: int, riding: quota.RidingReceipt | None = None) -> dict[str, Any]:
    """A PropertyDetail as the tenant sees it (its own status), as the model would dump it (its
    fields in order, each value of its type); 404 outside its counties. `riding`: the view's
    receipt, recorded in the same statement (and round trip, without waiting for the disk)."""
    if riding is None:
        columns = _detail.execute(ctx.cur, (property_id,))
    else:
        columns = _detail_received.execute(ctx.cur, (property_id, riding.tenant_id, riding.period_start, riding.via),
                                           before=quotas.NO_WAIT_FOR_DISK)
        riding.recorded = True
    row = ctx.cur.fetchone()
    if row is not None and row[0] != columns.stamp:  # a column was added since: name them again
        _detail.forget(ctx.cur)
        _detail_received.forget(ctx.cur)
        columns = _detail.execute(ctx.cur, (property_id,))  # the receipt, if any, is recorded already
        row = ctx.cur.fetchone()
    if row is None:  # absent, or in a county the tenant does not follow: the same answer
        raise Problem(404, f"no property {property_id} in the counties this tenant follows")
    e_at = 2 + len(columns.prospects)  # after the stamp, the prospect's columns and tenant_status
    s_at = e_at + len(columns.enrichment)
    prospect = dict(zip([*columns.prospects, "tenant_status"], row[1:e_at], strict=True))
    enrichment = dict(zip(columns.enrichment, row[e_at:s_at], strict=True))
    score = dict(zip([*columns.scores, "model_versions", "components"], row[s_at:], strict=True))
    prospect["status"] = prospect.pop("tenant_status")  # the caller's packeted/emailed, as in the list
    return {"id": prospect["id"], "county": prospect["county"], "prospect_key": prospect["prospect_key"],
            "prospect": prospect, **_enrichment(enrichment if enrichment["id"] is not None else None),
            "score": _score(score if score["id"] is not None else None)}


def _enrichment(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"enrichment_status": None, "enrichment_as_of": None, "enrichment_failure_reason": None,
                "enrichment": None}
    provenance = expand(row["provenance"])  # per field, from either stored form
    return {"enrichment_status": row["status"], "enrichment_as_of": row["as_of_date"],
            "enrichment_failure_reason": row["failure_reason"],
            "enrichment": {name: {"value": value, "provenance": provenance.get(name)}
                           for name, value in row.items() if name not in ENRICHMENT_META}}


def _score(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    from realestate_assets.docs.context import COMPONENT_LABELS  # the memo's labels: one wording
    from realestate_assets.ml.scoring import score_components_of

    breakdown = row["score_breakdown"] or {}
    # PropertyScore's fields in its order (the body is serialized as built: _detail_entry).
    return {"as_of_date": row["as_of_date"], "bird_dog_score": row["bird_dog_score"], "score_rank": row["score_rank"],
            "estimated_value": row["estimated_value"],
            # The 80% range (scores since migration 0018; NULL for a model without ranges).
            "estimated_value_low": row.get("estimated_value_low"),
            "estimated_value_high": row.get("estimated_value_high"),
            **{k: row[k] for k in ("value_gap_pct", "deal_probability", "sale_probability_12m", "model_version")},
            "model_versions": row["model_versions"] or {},
            # The component columns as the document they replaced (migration 0060), floats.
            "components": [{"name": k, "label": COMPONENT_LABELS.get(k, k), "percentile": v}
                           for k, v in score_components_of(row, row["components"]).items()],
            # Reasons are computed where they are read (packets, `reos explain`), not for every parcel.
            "reasons": breakdown.get("reasons"), "value_factors": breakdown.get("value_factors")}


@router.get("/properties/{property_id}/memo", response_model=MemoRequested, status_code=202,
            responses={303: {"description": "The memo exists: a redirect to a link that works for 10 minutes"},
                       **responses(*ERRORS, 402, 404)},
            summary="The property's memo: a short-lived link when rendered, else a request to render it")
def property_memo(property_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request,
                  template: Literal["investor_memo", "executive_summary", "detailed_analysis"] = "investor_memo",
                  ctx: Context = needs("read")) -> Any:
    """The pipeline renders the memos today's email plan sends; any other is rendered on demand: the
    request is recorded (packet_requests) and the county's next `packets` run, which a sensor starts,
    renders it. Until then: 202; then: 303 to a fresh object URL (`/p/` links work the same way).
    402 when the run would not make it for lack of storage: the plan's storage used up, or the
    memo's documents expected to take more than is left once the tenant's requests still open have
    theirs (the packets step's own estimate)."""
    from realestate_assets.api.links import short_lived_redirect

    county, key = property_key(ctx, property_id)
    quota.receive(ctx, county, key, via="memo")
    ctx.cur.execute("SELECT object_path FROM packets WHERE county = %s AND prospect_key = %s AND template = %s",
                    (county, key, template))
    found = ctx.cur.fetchone()
    redirect = short_lived_redirect(request, found[0]) if found is not None else None
    if redirect is not None:
        return redirect
    # New documents to store: refused now when the run would skip them (`quota`) for lack of storage.
    packets = request.app.state.reos.campaigns.packets
    asked = packets.beyond([template])
    quota.require_room_for_memo(ctx, county, key, asked, packets.for_property)
    # A request still open gathers the templates asked for; one asked again after rendering starts over.
    ctx.cur.execute("INSERT INTO packet_requests (tenant_id, county, prospect_key, requested_by, templates) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, county, prospect_key) DO UPDATE "
                    "SET requested_at = now(), rendered_at = NULL, requested_by = EXCLUDED.requested_by, "
                    "templates = CASE WHEN packet_requests.rendered_at IS NULL THEN ARRAY(SELECT DISTINCT t FROM "
                    "unnest(packet_requests.templates || EXCLUDED.templates) t ORDER BY t) ELSE EXCLUDED.templates END "
                    "RETURNING requested_at", (ctx.tenant_id, county, key, ctx.principal.actor, asked))
    requested_at = ctx.cur.fetchone()[0]
    return {"status": "requested", "county": county, "prospect_key": key, "requested_at": requested_at,
            "detail": f"not rendered yet: the next packets run for {county} renders it (a sensor starts one "
                      "within about a minute); ask again for the link"}
