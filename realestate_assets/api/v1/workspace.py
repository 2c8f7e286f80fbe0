"""What a tenant's people keep about the properties: notes and saved searches (issue #11).

Both are tenant data under row-level security (migration 0013): a note or a search of another
tenant is simply not found. A note names its property by (county, prospect_key), so it outlives
a rebuild of the public tables; `property_id` in answers is the property's id now. Notes are
written with `write` (analysts and up) and changed or deleted by their author or an admin; saved
searches belong to the user who saved them (an API key has none: 409). A saved search's
filters are the list route's, validated by the same model when saved and when run.
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg2.errors
from fastapi import APIRouter, Path, Query, Response
from psycopg2.extras import Json

from realestate_assets.api.v1.problems import Problem, found, responses
from realestate_assets.api.v1.properties import PageQuery, property_key, property_page
from realestate_assets.api.v1.property_query import PropertyFilters
from realestate_assets.api.v1.schemas import (
    Note,
    NoteCreate,
    PropertyPage,
    SavedSearch,
    SavedSearchCreate,
    SavedSearchUpdate,
)
from realestate_assets.api.v1.security import Context, needs
from realestate_assets.db.warehouse import dict_row, dict_rows

router = APIRouter()
ERRORS = (401, 403, 422)
PropertyId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

NOTE_COLUMNS = ("n.id, p.id AS property_id, n.county, n.prospect_key, n.author, n.user_id, n.body, n.created_at, "
                "n.updated_at")
# The property's id now: prospects is read through its own policy (followed counties only).
NOTE_FROM = ("notes n LEFT JOIN LATERAL (SELECT id FROM prospects p WHERE p.county = n.county "
             "AND p.prospect_key = n.prospect_key ORDER BY id LIMIT 1) p ON true")
SEARCH_COLUMNS = "id, name, filters, alert, created_at, updated_at"




# ---- notes -----------------------------------------------------------------------------------

@router.get("/properties/{property_id}/notes", response_model=list[Note], responses=responses(*ERRORS, 404),
            tags=["notes"], summary="The tenant's notes on a property, oldest first")
def list_notes(property_id: PropertyId, ctx: Context = needs("read")) -> list[dict[str, Any]]:
    county, key = property_key(ctx, property_id)
    ctx.cur.execute(f"SELECT {NOTE_COLUMNS} FROM {NOTE_FROM} WHERE n.county = %s AND n.prospect_key = %s "
                    "ORDER BY n.created_at, n.id", (county, key))
    return dict_rows(ctx.cur)


@router.post("/properties/{property_id}/notes", response_model=Note, status_code=201,
             responses=responses(*ERRORS, 404), tags=["notes"], summary="Write a note on a property")
def create_note(property_id: PropertyId, body: NoteCreate, ctx: Context = needs("write")) -> dict[str, Any]:
    county, key = property_key(ctx, property_id)
    ctx.cur.execute("INSERT INTO notes (tenant_id, county, prospect_key, user_id, author, body) "
                    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (ctx.tenant_id, county, key, ctx.principal.user_id, ctx.principal.actor, body.body))
    note = _note(ctx, ctx.cur.fetchone()[0])
    ctx.audit("create", "notes", note["id"], after=note)
    return note


def _note(ctx: Context, note_id: int, *, for_change: bool = False) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {NOTE_COLUMNS} FROM {NOTE_FROM} WHERE n.id = %s", (note_id,))
    note = found(ctx.cur, f"no note {note_id} in this tenant")
    if for_change and note["user_id"] != ctx.principal.user_id and not ctx.principal.may("admin"):
        raise Problem(403, "only the note's author or a tenant admin may change or delete it")
    return note


@router.patch("/notes/{note_id}", response_model=Note, responses=responses(*ERRORS, 404), tags=["notes"],
              summary="Change a note's text (its author or an admin)")
def update_note(note_id: RowId, body: NoteCreate, ctx: Context = needs("write")) -> dict[str, Any]:
    before = _note(ctx, note_id, for_change=True)
    if before["body"] == body.body:
        return before  # nothing changed: no write, no audit row
    ctx.cur.execute("UPDATE notes SET body = %s WHERE id = %s", (body.body, note_id))
    after = _note(ctx, note_id)
    ctx.audit("update", "notes", note_id, before=before, after=after)
    return after


@router.delete("/notes/{note_id}", status_code=204, responses=responses(*ERRORS, 404), tags=["notes"],
               summary="Delete a note (its author or an admin)")
def delete_note(note_id: RowId, ctx: Context = needs("write")) -> Response:
    before = _note(ctx, note_id, for_change=True)
    ctx.cur.execute("DELETE FROM notes WHERE id = %s", (note_id,))
    ctx.audit("delete", "notes", note_id, before=before)
    return Response(status_code=204)


# ---- saved searches --------------------------------------------------------------------------

def _user(ctx: Context) -> int:
    if ctx.principal.user_id is None:
        # Not a permission the key lacks (the role table holds) but a thing it does not have.
        raise Problem(409, "saved searches belong to a user: log in as one (an API key has no saved searches)")
    return ctx.principal.user_id


def _search(ctx: Context, search_id: int) -> dict[str, Any]:
    ctx.cur.execute(f"SELECT {SEARCH_COLUMNS} FROM saved_searches WHERE id = %s AND user_id = %s",
                    (search_id, _user(ctx)))
    return found(ctx.cur, f"no saved search {search_id} of this user")


def _filters_json(filters: PropertyFilters) -> Json:
    return Json(filters.model_dump(mode="json", exclude_none=True))


@router.get("/saved-searches", response_model=list[SavedSearch], responses=responses(*ERRORS, 409),
            tags=["saved searches"], summary="The caller's saved searches")
def list_saved_searches(ctx: Context = needs("read")) -> list[dict[str, Any]]:
    ctx.cur.execute(f"SELECT {SEARCH_COLUMNS} FROM saved_searches WHERE user_id = %s ORDER BY name, id",
                    (_user(ctx),))
    return dict_rows(ctx.cur)


@router.post("/saved-searches", response_model=SavedSearch, status_code=201, responses=responses(*ERRORS, 409),
             tags=["saved searches"], summary="Save the property list's filters under a name")
def create_saved_search(body: SavedSearchCreate, ctx: Context = needs("read")) -> dict[str, Any]:
    ctx.cur.execute("INSERT INTO saved_searches (tenant_id, user_id, name, filters, alert) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, user_id, name) DO NOTHING "
                    f"RETURNING {SEARCH_COLUMNS}",
                    (ctx.tenant_id, _user(ctx), body.name, _filters_json(body.filters), body.alert))
    row = dict_row(ctx.cur)
    if row is None:
        raise Problem(409, f"you already have a saved search named {body.name!r}")
    ctx.audit("create", "saved_searches", row["id"], after=row)
    return row


@router.patch("/saved-searches/{search_id}", response_model=SavedSearch, responses=responses(*ERRORS, 404, 409),
              tags=["saved searches"], summary="Rename a saved search, change its filters or its alert")
def update_saved_search(search_id: RowId, body: SavedSearchUpdate, ctx: Context = needs("read")) -> dict[str, Any]:
    before = _search(ctx, search_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True, exclude={"filters"}).items() if v is not None}
    if body.filters is not None:
        changes["filters"] = body.filters.model_dump(mode="json", exclude_none=True)
    changes = {k: v for k, v in changes.items() if before[k] != v}
    if not changes:
        return before  # nothing changed: no write, no audit row
    assignments = ", ".join(f"{column} = %s" for column in changes)  # columns from the model, not the caller
    values = [Json(v) if k == "filters" else v for k, v in changes.items()]
    try:
        ctx.cur.execute("SAVEPOINT rename")
        ctx.cur.execute(f"UPDATE saved_searches SET {assignments} WHERE id = %s", (*values, search_id))
    except psycopg2.errors.UniqueViolation as exc:  # the name is taken: a 409, not a 500
        ctx.cur.execute("ROLLBACK TO SAVEPOINT rename")
        raise Problem(409, f"you already have a saved search named {changes.get('name')!r}") from exc
    after = _search(ctx, search_id)
    ctx.audit("update", "saved_searches", search_id, before=before, after=after)
    return after


@router.delete("/saved-searches/{search_id}", status_code=204, responses=responses(*ERRORS, 404, 409),
               tags=["saved searches"], summary="Delete a saved search")
def delete_saved_search(search_id: RowId, ctx: Context = needs("read")) -> Response:
    before = _search(ctx, search_id)
    ctx.cur.execute("DELETE FROM saved_searches WHERE id = %s", (search_id,))
    ctx.audit("delete", "saved_searches", search_id, before=before)
    return Response(status_code=204)


@router.get("/saved-searches/{search_id}/properties", response_model=PropertyPage,
            responses=responses(*ERRORS, 404, 409), tags=["saved searches"],
            summary="Run a saved search: one page of the properties it matches now")
def run_saved_search(search_id: RowId, page: Annotated[PageQuery, Query()],
                     ctx: Context = needs("read")) -> dict[str, Any]:
    saved = _search(ctx, search_id)
    return property_page(ctx, PropertyFilters.model_validate(saved["filters"]), page.cursor, page.limit)
