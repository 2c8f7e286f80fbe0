"""A tenant's recipients, segments and campaigns (issue #11), and sending a campaign.

All three are tenant data under row-level security (migration 0017): another tenant's row is
simply not found. Reading needs `read` (viewers too); writing needs `write` (analysts and up).
Bodies are validated by the pipeline's own models (`config_models.Recipient`, `SegmentCriteria`,
`CampaignConfig`), so whatever the API stores, the emails step can plan with.

* Recipients: CRUD, cursor pages (`?limit=&cursor=`, `q` on name or address), and a CSV import
  that loses nothing: good rows are created or updated (idempotent on the address: the same file
  again changes nothing), bad rows come back with their line number and reasons.
* Segments: named criteria over the recipients, with a live recipient count (`/count`, and
  `POST /segments/preview` for criteria not saved yet). A segment a campaign targets cannot be
  deleted (409): a campaign never widens to everyone by accident.
* Campaigns: list with what their emails became (sent, delivered, opened, clicked,
  unsubscribed…, `events.CAMPAIGN_COUNTS`), create, detail, change; `POST /campaigns/{id}/send`
  asks Dagster to run the tenant's `emails` step for each county the campaign reaches
  (api/dagster_runs.py) and answers 202 with the run ids, or 503 when Dagster is not configured
  or refuses; `GET /campaigns/{id}/progress` follows those runs.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg2.errors
from fastapi import APIRouter, Body, Path, Query, Request, Response
from psycopg2.extras import Json
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realestate_assets.api import dagster_runs, live
from realestate_assets.api.v1 import quota
from realestate_assets.api.v1.campaign_schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignOut,
    CampaignProgress,
    CampaignStatus,
    CampaignUpdate,
    CriteriaBody,
    ImportResult,
    RecipientFields,
    RecipientOut,
    RecipientPage,
    RecipientUpdate,
    SegmentCount,
    SegmentCreate,
    SegmentOut,
    SegmentUpdate,
    SendAccepted,
)
from realestate_assets.api.v1.problems import Problem, found, from_validation_error, responses
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.config_models import CampaignConfig, Recipient, SegmentCriteria
from realestate_assets.db.warehouse import dict_row, dict_rows
from realestate_assets.outreach.compliance import suppressed_sql
from realestate_assets.outreach.events import CAMPAIGN_COUNTS, with_rates
from realestate_assets.outreach.tenant_data import (
    CAMPAIGN_FIELDS,
    RECIPIENT_FIELDS,
    insert_recipient,
    recipient_model,
    update_recipient,
    upsert_recipient,
)

router = APIRouter()
ERRORS = (401, 403, 422)
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_IMPORT_ROWS = 10_000
LIST_SEPARATORS = (";", "|")  # list cells in a CSV: "king_wa;cook_il"
TERMINAL_RUN_STATES = dagster_runs.TERMINAL_RUN_STATES


def _invalid(exc: ValidationError) -> Problem:
    return from_validation_error(exc)


# ---- recipients ------------------------------------------------------------------------------

RECIPIENT_COLUMNS = (", ".join(f"r.{k}" for k in RECIPIENT_FIELDS) + ", r.id, r.created_at, r.updated_at, "
                     f"{suppressed_sql('r.tenant_id', 'r.email')} AS suppressed")


class RecipientQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page")
    q: str | None = Field(None, max_length=200, description="part of the name or the address")


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Problem(422, "cursor is not valid") from exc
    if not isinstance(value, int) or value < 0:
        raise Problem(422, "cursor is not valid")
    return value


def _recipient(ctx: Context, recipient_id: int) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {RECIPIENT_COLUMNS} FROM recipients r WHERE r.id = %s", (recipient_id,))
    return found(ctx.cur, f"no recipient {recipient_id} in this tenant")


@router.get("/recipients", response_model=RecipientPage, responses=responses(*ERRORS), tags=["recipients"],
            summary="The tenant's recipients, oldest first, one page at a time")
def list_recipients(query: Annotated[RecipientQuery, Query()], ctx: Context = needs("read")) -> dict[str, Any]:
    conditions, params = ["true"], []
    if query.cursor:
        conditions.append("r.id > %s")
        params.append(_decode_cursor(query.cursor))
    if query.q:
        conditions.append("(r.name ILIKE %s OR r.email ILIKE %s)")
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    ctx.cur.execute(f"SELECT {RECIPIENT_COLUMNS} FROM recipients r WHERE {' AND '.join(conditions)} "
                    "ORDER BY r.id LIMIT %s", (*params, query.limit + 1))
    rows = dict_rows(ctx.cur)
    more = len(rows) > query.limit
    items = rows[:query.limit]
    return {"items": items, "limit": query.limit, "next_cursor": _encode_cursor(items[-1]["id"]) if more else None}


@router.post("/recipients", response_model=RecipientOut, status_code=201, responses=responses(*ERRORS, 409),
             tags=["recipients"], summary="Add a recipient")
def create_recipient(body: RecipientFields, ctx: Context = needs("write")) -> dict[str, Any]:
    new_id = insert_recipient(ctx.cur, ctx.tenant_id, body)
    if new_id is None:
        raise Problem(409, f"recipient {body.address} already exists (PATCH it, or import to update)")
    row = _recipient(ctx, new_id)
    ctx.audit("create", "recipients", new_id, after=row)
    return row


@router.get("/recipients/{recipient_id}", response_model=RecipientOut, responses=responses(*ERRORS, 404),
            tags=["recipients"], summary="One recipient")
def get_recipient(recipient_id: RowId, ctx: Context = needs("read")) -> dict[str, Any]:
    return _recipient(ctx, recipient_id)


@router.patch("/recipients/{recipient_id}", response_model=RecipientOut, responses=responses(*ERRORS, 404, 409),
              tags=["recipients"], summary="Change a recipient (segment fields, campaigns, alerts, address)")
def update_recipient_route(recipient_id: RowId, body: RecipientUpdate, ctx: Context = needs("write")) -> dict[str, Any]:
    before = _recipient(ctx, recipient_id)
    changes = body.model_dump(exclude_unset=True)
    try:
        merged = RecipientFields.model_validate({**{k: before[k] for k in RECIPIENT_FIELDS}, **changes})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    if recipient_model(before).model_dump() == merged.model_dump():
        return before  # nothing changed: no write, no audit row
    try:
        ctx.cur.execute("SAVEPOINT recipient")
        update_recipient(ctx.cur, recipient_id, merged)
    except psycopg2.errors.UniqueViolation as exc:
        ctx.cur.execute("ROLLBACK TO SAVEPOINT recipient")
        raise Problem(409, f"another recipient has the address {merged.address}") from exc
    after = _recipient(ctx, recipient_id)
    ctx.audit("update", "recipients", recipient_id, before=before, after=after)
    return after


@router.delete("/recipients/{recipient_id}", status_code=204, responses=responses(*ERRORS, 404),
               tags=["recipients"], summary="Remove a recipient (their emails and any opt-out are kept)")
def delete_recipient(recipient_id: RowId, ctx: Context = needs("write")) -> Response:
    before = _recipient(ctx, recipient_id)
    ctx.cur.execute("DELETE FROM recipients WHERE id = %s", (recipient_id,))
    ctx.audit("delete", "recipients", recipient_id, before=before)
    return Response(status_code=204)


CSV_EXAMPLE = ("name,email,counties,min_score,property_types,budget_min,budget_max,campaigns\n"
               "Avery Investor,avery@example.com,king_wa,75,,,,new_opportunity;daily_digest\n")


def parse_recipient_csv(text: str) -> tuple[list[tuple[int, Recipient]], list[dict[str, Any]]]:
    """Rows of a recipients CSV: (line, recipient) for the valid ones, and each invalid row with
    its line, address and reasons. Columns are the recipient's fields (`alerts` excepted); list
    cells are separated by `;` or `|`; empty cells take the default. An address seen twice in
    the file is rejected the second time. Pure: no I/O."""
    reader = csv.DictReader(io.StringIO(text))
    reader.fieldnames = [c.strip().lower() for c in reader.fieldnames or []]  # "Email " is email
    columns = list(reader.fieldnames)
    allowed = set(RECIPIENT_FIELDS) - {"alerts"}
    unknown = sorted(set(columns) - allowed)
    if not columns:
        raise Problem(422, "the file is empty: the first line must name the columns (at least name and email)")
    if unknown or not {"name", "email"} <= set(columns):
        raise Problem(422, f"columns must be among {sorted(allowed)}, with name and email"
                           + (f"; unknown: {unknown}" if unknown else ""))
    good: list[tuple[int, Recipient]] = []
    bad: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(reader):
        line = reader.line_num if reader.line_num else index + 2
        if index >= MAX_IMPORT_ROWS:
            raise Problem(413, f"at most {MAX_IMPORT_ROWS} rows per import")
        if None in raw:  # more cells than columns
            bad.append({"line": line, "email": (raw.get("email") or "").strip() or None,
                        "errors": [f"{len(raw[None])} more cells than the header has columns"]})
            continue
        data: dict[str, Any] = {}
        for column, value in raw.items():
            value = (value or "").strip()
            if not value:
                continue
            key = column
            if key in ("counties", "property_types", "campaigns"):
                for sep in LIST_SEPARATORS:
                    value = value.replace(sep, ",")
                data[key] = [part.strip() for part in value.split(",") if part.strip()]
            else:
                data[key] = value
        email = data.get("email")
        try:
            recipient = Recipient.model_validate(data)
        except ValidationError as exc:
            bad.append({"line": line, "email": email, "errors": [
                f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()]})
            continue
        if recipient.address in seen:
            bad.append({"line": line, "email": email,
                        "errors": [f"email: {recipient.address} is already on line {seen[recipient.address]}"]})
            continue
        seen[recipient.address] = line
        good.append((line, recipient))
    return good, bad


@router.post("/recipients/import", response_model=ImportResult, responses=responses(*ERRORS, 413),
             tags=["recipients"], summary="Import recipients from CSV: good rows in, bad rows listed with reasons",
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {
                 "schema": {"type": "string"}, "example": CSV_EXAMPLE}}}})
def import_recipients(body: Annotated[bytes, Body(media_type="text/csv")], ctx: Context = needs("write")
                      ) -> dict[str, Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(422, f"the file is not UTF-8 text (byte {exc.start})") from exc
    good, bad = parse_recipient_csv(text)
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    for _, recipient in good:
        _, state = upsert_recipient(ctx.cur, ctx.tenant_id, recipient)
        outcome[state].append(recipient.address)
    ctx.audit("import", "recipients", after={"created": outcome["created"], "updated": outcome["updated"],
                                             "rejected_lines": [b["line"] for b in bad]})
    return {"rows": len(good) + len(bad), **{k: len(v) for k, v in outcome.items()}, "rejected": bad}


# ---- segments --------------------------------------------------------------------------------

SEGMENT_COLUMNS = "id, name, criteria, created_at, updated_at"


def _audience(ctx: Context) -> list[tuple[Recipient, bool]]:
    """Every recipient of the tenant, with whether their address is suppressed."""
    ctx.cur.execute(f"SELECT {RECIPIENT_COLUMNS} FROM recipients r ORDER BY r.id")
    return [(recipient_model(row), row["suppressed"]) for row in dict_rows(ctx.cur)]


def _count(criteria: SegmentCriteria | None, audience: list[tuple[Recipient, bool]]) -> dict[str, Any]:
    """The live count: the one matching rule (`SegmentCriteria.matches`) over the tenant's recipients."""
    held = [(r, s) for r, s in audience if criteria is None or criteria.matches(r)]
    return {"recipient_count": len(held), "suppressed_count": sum(s for _, s in held),
            "sample": [r.address for r, _ in held[:5]]}


def _segment(ctx: Context, segment_id: int) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = %s", (segment_id,))
    return found(ctx.cur, f"no segment {segment_id} in this tenant")


def _with_count(row: dict[str, Any], audience: list[tuple[Recipient, bool]]) -> dict[str, Any]:
    criteria = SegmentCriteria.model_validate(row["criteria"] or {})
    return {**row, "criteria": criteria, "recipient_count": _count(criteria, audience)["recipient_count"]}


@router.get("/segments", response_model=list[SegmentOut], responses=responses(*ERRORS), tags=["segments"],
            summary="The tenant's segments with their live recipient counts")
def list_segments(ctx: Context = needs("read")) -> list[dict[str, Any]]:
    ctx.cur.execute(f"SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY name, id")
    rows = dict_rows(ctx.cur)
    audience = _audience(ctx) if rows else []
    return [_with_count(row, audience) for row in rows]


@router.post("/segments", response_model=SegmentOut, status_code=201, responses=responses(*ERRORS, 409),
             tags=["segments"], summary="Save a segment")
def create_segment(body: SegmentCreate, ctx: Context = needs("write")) -> dict[str, Any]:
    ctx.cur.execute(f"INSERT INTO segments (tenant_id, name, criteria) VALUES (%s, %s, %s) "
                    f"ON CONFLICT (tenant_id, name) DO NOTHING RETURNING {SEGMENT_COLUMNS}",
                    (ctx.tenant_id, body.name, Json(body.criteria.model_dump(mode="json", exclude_defaults=True))))
    row = dict_row(ctx.cur)
    if row is None:
        raise Problem(409, f"a segment named {body.name!r} exists already")
    ctx.audit("create", "segments", row["id"], after=row)
    return _with_count(row, _audience(ctx))


@router.post("/segments/preview", response_model=SegmentCount, responses=responses(*ERRORS), tags=["segments"],
             summary="How many recipients criteria hold now (the segment builder's live count; saves nothing)")
def preview_segment(body: CriteriaBody, ctx: Context = needs("read")) -> dict[str, Any]:
    return _count(body, _audience(ctx))


@router.get("/segments/{segment_id}", response_model=SegmentOut, responses=responses(*ERRORS, 404),
            tags=["segments"], summary="One segment")
def get_segment(segment_id: RowId, ctx: Context = needs("read")) -> dict[str, Any]:
    return _with_count(_segment(ctx, segment_id), _audience(ctx))


@router.get("/segments/{segment_id}/count", response_model=SegmentCount, responses=responses(*ERRORS, 404),
            tags=["segments"], summary="How many recipients the segment holds now")
def count_segment(segment_id: RowId, ctx: Context = needs("read")) -> dict[str, Any]:
    row = _segment(ctx, segment_id)
    return _count(SegmentCriteria.model_validate(row["criteria"] or {}), _audience(ctx))


@router.patch("/segments/{segment_id}", response_model=SegmentOut, responses=responses(*ERRORS, 404, 409),
              tags=["segments"], summary="Rename a segment or change its criteria")
def update_segment(segment_id: RowId, body: SegmentUpdate, ctx: Context = needs("write")) -> dict[str, Any]:
    before = _segment(ctx, segment_id)
    name = body.name if body.name is not None else before["name"]
    criteria = (body.criteria.model_dump(mode="json", exclude_defaults=True) if body.criteria is not None
                else before["criteria"])
    if name == before["name"] and criteria == before["criteria"]:
        return _with_count(before, _audience(ctx))
    try:
        ctx.cur.execute("SAVEPOINT segment")
        ctx.cur.execute("UPDATE segments SET name = %s, criteria = %s WHERE id = %s",
                        (name, Json(criteria), segment_id))
    except psycopg2.errors.UniqueViolation as exc:
        ctx.cur.execute("ROLLBACK TO SAVEPOINT segment")
        raise Problem(409, f"a segment named {name!r} exists already") from exc
    after = _segment(ctx, segment_id)
    ctx.audit("update", "segments", segment_id, before=before, after=after)
    return _with_count(after, _audience(ctx))


@router.delete("/segments/{segment_id}", status_code=204, responses=responses(*ERRORS, 404, 409),
               tags=["segments"], summary="Delete a segment no campaign targets")
def delete_segment(segment_id: RowId, ctx: Context = needs("write")) -> Response:
    before = _segment(ctx, segment_id)
    ctx.cur.execute("SELECT key FROM campaigns WHERE segment_id = %s ORDER BY key", (segment_id,))
    users = [r[0] for r in ctx.cur.fetchall()]
    if users:
        raise Problem(409, f"campaigns {users} target this segment: point them elsewhere first")
    ctx.cur.execute("DELETE FROM segments WHERE id = %s", (segment_id,))
    ctx.audit("delete", "segments", segment_id, before=before)
    return Response(status_code=204)


# ---- campaigns -------------------------------------------------------------------------------

CAMPAIGN_COLUMNS = (", ".join(f"c.{k}" for k in CAMPAIGN_FIELDS)
                    + ", c.id, c.status, c.segment_id, s.name AS segment_name, s.criteria AS segment_criteria, "
                      "c.last_send_at, c.last_send_run_ids, c.created_at, c.updated_at")
CAMPAIGN_FROM = "campaigns c LEFT JOIN segments s ON s.id = c.segment_id"
NO_EMAILS = dict.fromkeys(("sent", "delivered", "opened", "clicked", "bounced", "spam_reports", "unsubscribed"), 0)


def _stats(ctx: Context, keys: list[str]) -> dict[str, dict[str, Any]]:
    """What each campaign's emails became (the tenant's, every county), by campaign key."""
    if not keys:
        return {}
    ctx.cur.execute(f"SELECT campaign, {CAMPAIGN_COUNTS} FROM emails e WHERE campaign = ANY(%s) GROUP BY campaign",
                    (keys,))
    rows = dict_rows(ctx.cur)
    return {row["campaign"]: with_rates({k: v for k, v in row.items() if k != "campaign"}) for row in rows}


def _public(row: dict[str, Any], stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "segment_criteria"}
    return {**out, "stats": stats.get(row["key"], with_rates(NO_EMAILS))}


def _campaign(ctx: Context, campaign_id: int) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {CAMPAIGN_COLUMNS} FROM {CAMPAIGN_FROM} WHERE c.id = %s", (campaign_id,))
    return found(ctx.cur, f"no campaign {campaign_id} in this tenant")


def _check_segment(ctx: Context, segment_id: int | None) -> None:
    if segment_id is not None:
        ctx.cur.execute("SELECT 1 FROM segments WHERE id = %s", (segment_id,))
        if ctx.cur.fetchone() is None:
            raise Problem(422, f"no segment {segment_id} in this tenant")


def _validated(fields: dict[str, Any]) -> CampaignConfig:
    """The pipeline's campaign model checks subjects and intro (known personalization tokens)."""
    try:
        return CampaignConfig.model_validate({k: fields[k] for k in CAMPAIGN_FIELDS})
    except ValidationError as exc:
        raise _invalid(exc) from exc


class CampaignQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[CampaignStatus] | None = Field(None, description="only these states (repeat the parameter)")


@router.get("/campaigns", response_model=list[CampaignOut], responses=responses(*ERRORS), tags=["campaigns"],
            summary="The tenant's campaigns with what their emails became (sent, opened, clicked, …)")
def list_campaigns(query: Annotated[CampaignQuery, Query()], ctx: Context = needs("read")) -> list[dict[str, Any]]:
    condition, params = ("c.status = ANY(%s)", [query.status]) if query.status else ("true", [])
    ctx.cur.execute(f"SELECT {CAMPAIGN_COLUMNS} FROM {CAMPAIGN_FROM} WHERE {condition} ORDER BY c.id", params)
    rows = dict_rows(ctx.cur)
    stats = _stats(ctx, [r["key"] for r in rows])
    return [_public(row, stats) for row in rows]


@router.post("/campaigns", response_model=CampaignDetail, status_code=201, responses=responses(*ERRORS, 409),
             tags=["campaigns"], summary="Create a campaign (a draft by default: it sends nothing until active)")
def create_campaign(body: CampaignCreate, ctx: Context = needs("write")) -> dict[str, Any]:
    config = _validated(body.model_dump())
    _check_segment(ctx, body.segment_id)
    data = config.model_dump(mode="json")
    ctx.cur.execute(f"INSERT INTO campaigns (tenant_id, {', '.join(CAMPAIGN_FIELDS)}, status, segment_id) "
                    f"VALUES (%s, {', '.join(['%s'] * len(CAMPAIGN_FIELDS))}, %s, %s) "
                    "ON CONFLICT (tenant_id, key) DO NOTHING RETURNING id",
                    (ctx.tenant_id, *[data[k] for k in CAMPAIGN_FIELDS], body.status, body.segment_id))
    row = ctx.cur.fetchone()
    if row is None:
        raise Problem(409, f"a campaign with key {body.key!r} exists already")
    created = _campaign(ctx, row[0])
    ctx.audit("create", "campaigns", row[0], after=_public(created, {}))
    return _detail(ctx, created)


def _detail(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    criteria = None if row["segment_id"] is None else SegmentCriteria.model_validate(row["segment_criteria"] or {})
    ctx.cur.execute("SELECT variant, min(subject) AS subject, count(*) FILTER (WHERE status IN ('sent', 'bounced')) "
                    "AS sent, count(*) FILTER (WHERE opened_at IS NOT NULL) AS opened FROM emails "
                    "WHERE campaign = %s AND variant IS NOT NULL GROUP BY variant ORDER BY variant", (row["key"],))
    variants = [{**v, "open_rate": round(v["opened"] / v["sent"], 4) if v["sent"] else 0.0}
                for v in dict_rows(ctx.cur)]
    ctx.cur.execute("SELECT status, count(*) AS n FROM emails WHERE campaign = %s GROUP BY status", (row["key"],))
    by_status = {r["status"]: int(r["n"]) for r in dict_rows(ctx.cur)}
    return {**_public(row, _stats(ctx, [row["key"]])), "variants": variants, "by_status": by_status,
            "recipient_count": _count(criteria, _audience(ctx))["recipient_count"]}


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail, responses=responses(*ERRORS, 404),
            tags=["campaigns"], summary="One campaign: its settings, audience, results and A/B variants")
def get_campaign(campaign_id: RowId, ctx: Context = needs("read")) -> dict[str, Any]:
    return _detail(ctx, _campaign(ctx, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignDetail, responses=responses(*ERRORS, 404),
              tags=["campaigns"], summary="Change a campaign: subjects, intro, segment, status (key and type stay)")
def update_campaign(campaign_id: RowId, body: CampaignUpdate, ctx: Context = needs("write")) -> dict[str, Any]:
    before = _campaign(ctx, campaign_id)
    changes = body.model_dump(exclude_unset=True, exclude={"everyone"})
    changes = {k: v for k, v in changes.items() if v is not None}
    if body.everyone:
        changes["segment_id"] = None
    config = _validated({**before, **changes})
    _check_segment(ctx, changes.get("segment_id"))
    values = {**config.model_dump(mode="json"), "status": changes.get("status", before["status"]),
              "segment_id": changes.get("segment_id", before["segment_id"])}
    columns = [k for k in (*CAMPAIGN_FIELDS, "status", "segment_id") if k != "key" and values[k] != before[k]]
    if not columns:
        return _detail(ctx, before)  # nothing changed: no write, no audit row
    ctx.cur.execute(f"UPDATE campaigns SET {', '.join(f'{k} = %s' for k in columns)} WHERE id = %s",
                    (*[values[k] for k in columns], campaign_id))
    after = _campaign(ctx, campaign_id)
    ctx.audit("update", "campaigns", campaign_id, before=_public(before, {}), after=_public(after, {}))
    return _detail(ctx, after)


def _send_counties(ctx: Context, row: dict[str, Any]) -> list[str]:
    """The counties a send runs for: those the tenant follows, narrowed to the segment's counties."""
    ctx.cur.execute("SELECT county FROM subscriptions ORDER BY county")
    followed = [r[0] for r in ctx.cur.fetchall()]
    wanted = set((row["segment_criteria"] or {}).get("counties") or []) if row["segment_id"] is not None else set()
    return [c for c in followed if not wanted or c in wanted]


@router.post("/campaigns/{campaign_id}/send", response_model=SendAccepted, status_code=202,
             responses=responses(*ERRORS, 402, 404, 409, 503), tags=["campaigns"],
             summary="Send now: launch the tenant's emails step in Dagster for each county the campaign reaches")
def send_campaign(campaign_id: RowId, request: Request, ctx: Context = needs("write")) -> dict[str, Any]:
    # A retry with the same Idempotency-Key never reaches here: api/v1/idempotency.py replays the answer.
    row = _campaign(ctx, campaign_id)
    if row["status"] != "active":
        raise Problem(409, f"the campaign is {row['status']}: only an active campaign sends "
                           "(PATCH its status to active first)")
    quota.require(ctx, "emails")  # the month's emails of the plan are used up: 402, nothing launched
    state = request.app.state.reos
    counties = _send_counties(ctx, row)
    if not counties:
        raise Problem(409, "the tenant follows no county this campaign reaches: nothing to send")
    if state.dagster is None:
        raise Problem(503, "Dagster is not configured for the API (REOS_DAGSTER_URL): nothing was launched")
    run_ids = []
    for county in counties:
        try:
            run_ids.append(dagster_runs.launch(state.dagster, dagster_runs.emails_run(
                county, ctx.tenant_id, row["key"], ctx.request_id)))
        except dagster_runs.DagsterUnavailable as exc:
            if not run_ids:
                raise Problem(503, str(exc)) from exc
            break  # the runs already launched are recorded and reported; the rest were not
    launched_at = datetime.now(UTC)
    ctx.cur.execute("UPDATE campaigns SET last_send_run_ids = %s, last_send_at = %s WHERE id = %s",
                    (run_ids, launched_at, campaign_id))
    sent_for = counties[:len(run_ids)]
    ctx.audit("send", "campaigns", campaign_id, after={"counties": sent_for, "run_ids": run_ids})
    live.notify(ctx.cur, ctx.tenant_id, "campaign_send", campaign=row["key"], counties=sent_for, run_ids=run_ids)
    return {"campaign_id": campaign_id, "counties": sent_for, "run_ids": run_ids, "launched_at": launched_at,
            "repeated": False}


@router.get("/campaigns/{campaign_id}/progress", response_model=CampaignProgress, responses=responses(*ERRORS, 404),
            tags=["campaigns"], summary="The last send's runs (from Dagster) and the emails written since")
def campaign_progress(campaign_id: RowId, request: Request, ctx: Context = needs("read")) -> dict[str, Any]:
    row = _campaign(ctx, campaign_id)
    target = request.app.state.reos.dagster
    runs = [{"run_id": run_id, "status": dagster_runs.run_status(target, run_id)}
            for run_id in row["last_send_run_ids"]]
    since: dict[str, int] = {}
    if row["last_send_at"] is not None:
        ctx.cur.execute("SELECT status, count(*) FROM emails WHERE campaign = %s AND updated_at >= %s GROUP BY status",
                        (row["key"], row["last_send_at"]))
        since = {status: int(n) for status, n in ctx.cur.fetchall()}
    return {"campaign_id": campaign_id, "launched_at": row["last_send_at"], "runs": runs, "since_launch": since,
            "finished": bool(runs) and all(r["status"] in TERMINAL_RUN_STATES for r in runs)}
