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
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from realestate_assets.accounts.store import AccountError

PREFIX = "/api/v1"
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://reos.dev/problems/"  # documentation anchors, not fetched by clients

ACCOUNT_STATUS = {"invalid": 422, "conflict": 409, "not_found": 404, "unauthorized": 401, "forbidden": 403}


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


class Problem(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.errors = status, detail, headers, errors


def from_validation_error(exc: Any) -> Problem:
    """A pydantic ValidationError raised in a route (a merged PATCH, a CSV row) as the 422 a
    request body failing its schema gets."""
    return Problem(422, "the request does not match the schema", errors=[
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()])


def problem_response(status: int, detail: str | None, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": TYPE_BASE + title.lower().replace(" ", "-"), "title": title, "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="reos"', **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {s: {"model": ProblemDetail, "description": HTTPStatus(s).phrase,
                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}}
            for s in statuses}


NUL_DETAIL = "text values may not contain NUL (0x00) characters"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.headers, exc.errors)

    @app.exception_handler(AccountError)
    async def _account(request: Request, exc: AccountError) -> JSONResponse:
        return problem_response(ACCOUNT_STATUS.get(exc.kind, 400), exc.detail)

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
