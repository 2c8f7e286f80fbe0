"""Errors of /api/v1 as RFC 9457 problem details (`application/problem+json`, DESIGN §10).

Routes raise `Problem` (or the account store's `AccountError`); HTTP and validation errors under
/api/v1 are rewritten into the same shape. Routes outside /api/v1 (webhook, unsubscribe, objects)
keep FastAPI's default error bodies.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import psycopg2.errors
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from realestate_assets.accounts.store import AccountError
from realestate_assets.db.warehouse import dict_row

PREFIX = "/api/v1"
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://reos.dev/problems/"  # documentation anchors, not fetched by clients

ACCOUNT_STATUS = {"invalid": 422, "conflict": 409, "not_found": 404, "unauthorized": 401, "forbidden": 403,
                  "email_not_verified": 403}
# Refusals a client acts on by their kind, not their status: the problem's `type` names the kind
# and `code` repeats it (a login page tells "wrong password" from "verify your address first").
ACCOUNT_TYPES = {"email_not_verified": "email-not-verified"}


class ProblemDetail(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "https://reos.dev/problems/forbidden", "title": "Forbidden", "status": 403,
        "detail": "this route needs the 'admin' permission; the principal has read"}]})

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None
    code: str | None = Field(None, description="A refusal a client acts on: email_not_verified (login)")


class QuotaProblem(ProblemDetail):
    """A refusal on a plan's quota (402) or the daily API calls (429), or a rate limit (429,
    without the quota members). The members say which quota, how much is used of what limit and
    when it resets (accounts/quotas.py)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "https://reos.dev/problems/payment-required", "title": "Payment Required", "status": 402,
        "detail": "quota properties: the free plan allows 100 properties per month and 100 are used; "
                  "it resets at 2027-01-01T00:00:00+00:00",
        "quota": "properties", "plan": "free", "usage": 100, "limit": 100,
        "resets_at": "2027-01-01T00:00:00+00:00"}]})

    quota: str | None = Field(None, description="properties, emails, storage or api_calls")
    plan: str | None = Field(None, description="The tenant's plan")
    usage: int | None = Field(None, description="What is used in the current period")
    limit: int | None = Field(None, description="What the plan allows in the period")
    resets_at: str | None = Field(None, description="When the period ends (ISO 8601); null for storage")


QUOTA_STATUSES = (402, 429)


class Problem(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None, members: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.errors = status, detail, headers, errors
        self.members = members  # RFC 9457 extension members (a quota refusal's usage and limit)


def found(cur: Any, missing: str) -> dict[str, Any]:
    """The row the cursor's last statement found, or the 404 that says what is missing.

    Row-level security makes another tenant's row and no row the same answer: "not found"."""
    row = dict_row(cur)
    if row is None:
        raise Problem(404, missing)
    return row


def from_validation_error(exc: Any) -> Problem:
    """A pydantic ValidationError raised in a route (a merged PATCH, a CSV row) as the 422 a
    request body failing its schema gets."""
    return Problem(422, "the request does not match the schema", errors=[
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()])


def problem_response(status: int, detail: str | None, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None,
                     members: dict[str, Any] | None = None) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": TYPE_BASE + title.lower().replace(" ", "-"), "title": title, "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    if members:
        body.update(members)
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="reos"', **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    def model(status: int) -> type[ProblemDetail]:
        return QuotaProblem if status in QUOTA_STATUSES else ProblemDetail

    return {s: {"model": model(s), "description": HTTPStatus(s).phrase,
                "content": {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{model(s).__name__}"}}}}
            for s in statuses}


NUL_DETAIL = "text values may not contain NUL (0x00) characters"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.headers, exc.errors, exc.members)

    @app.exception_handler(AccountError)
    async def _account(request: Request, exc: AccountError) -> JSONResponse:
        members = ({"type": TYPE_BASE + ACCOUNT_TYPES[exc.kind], "code": exc.kind}
                   if exc.kind in ACCOUNT_TYPES else None)
        return problem_response(ACCOUNT_STATUS.get(exc.kind, 400), exc.detail, members=members)

    @app.exception_handler(ValueError)
    async def _nul(request: Request, exc: ValueError) -> Any:
        # PostgreSQL text cannot hold NUL: psycopg2 refuses such a parameter before sending it. That
        # is the caller's input (a query value or a JSON string), wherever the route passes it on —
        # a 422, not a 500. Any other ValueError is a bug and stays one.
        if "NUL (0x00)" not in str(exc):
            raise exc
        return problem_response(422, NUL_DETAIL)

    @app.exception_handler(psycopg2.errors.UntranslatableCharacter)
    async def _nul_in_json(request: Request, exc: Exception) -> Any:
        # The same NUL inside a JSON value: jsonb refuses the \u0000 escape on the server.
        return problem_response(422, NUL_DETAIL)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        if not request.url.path.startswith(PREFIX):
            return await http_exception_handler(request, exc)
        return problem_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Any:
        if not request.url.path.startswith(PREFIX):
            return await request_validation_exception_handler(request, exc)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return problem_response(422, "the request does not match the schema", errors=errors)
