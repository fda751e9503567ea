"""Errors as RFC 9457 problem details: one body shape, mapped in one place.

Every failure an API client sees is a ``Problem``: ``type``, ``title``,
``status`` and ``detail`` as the RFC has them, plus virtdeck's stable
``code``, the request ``field`` it concerns, the message cut into ``parts``
(words and field names, so a client can spell fields its own way, as the
remote CLI does with its options) and the ``hint`` of what to do next. A
``VirtdeckError`` gets its class's status; FastAPI's validation errors,
Starlette's 404/405 and anything unforeseen get the same shape, never a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from virtdeck.engine.schemas import ErrorPart
from virtdeck.errors import VirtdeckError, marked_parts

log = logging.getLogger("virtdeck.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

TITLES: Mapping[int, str] = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    501: "Not implemented",
    503: "Host unavailable",
    504: "Timed out",
}

# Codes for what is no VirtdeckError: Starlette's and FastAPI's own refusals.
_CODES_BY_STATUS: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "rate_limited",
    500: "error",
    503: "host_unavailable",
    504: "timeout",
}


class ProblemHint(BaseModel):
    action: str
    vm: str | None = None
    args: dict[str, str] = Field(default_factory=dict)


class Problem(BaseModel):
    """What went wrong (RFC 9457), with virtdeck's code, field and hint."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    parts: list[ErrorPart] = Field(default_factory=list)
    hint: ProblemHint | None = None


def problem_type(code: str) -> str:
    return f"urn:virtdeck:problem:{code}"


def problem_for(exc: VirtdeckError) -> Problem:
    status = exc.http_status
    parts = [ErrorPart(text=text, field=is_field) for text, is_field in marked_parts(exc.template)]
    hint = None
    if exc.hint is not None:
        hint = ProblemHint(action=exc.hint.action, vm=exc.hint.vm, args=dict(exc.hint.args))
    return Problem(
        type=problem_type(exc.code),
        title=TITLES.get(status, "Error"),
        status=status,
        detail=exc.message,
        code=exc.code,
        field=exc.field,
        parts=parts if any(p.field for p in parts) else [],
        hint=hint,
    )


def plain_problem(status: int, detail: str, field: str | None = None) -> Problem:
    code = _CODES_BY_STATUS.get(status, "error")
    return Problem(
        type=problem_type(code),
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        field=field,
    )


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "the request is not valid", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    where = ".".join(loc)
    message = str(first.get("msg", "is not valid"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if where:
        return f"{where}: {message}{more}; fix the request and send it again", where
    return f"the request body: {message}{more}; send a JSON object as the schema says", None


async def _on_virtdeck_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VirtdeckError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return problem_response(problem_for(exc), headers)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail, field = _validation_detail(exc)
    return problem_response(plain_problem(422, detail, field))


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = "there is no such resource; see /api/openapi.json for the routes"
    elif exc.status_code == 405:
        detail = "this resource does not take that method; see /api/openapi.json"
    return problem_response(plain_problem(exc.status_code, detail), exc.headers)


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # The database went away after start-up (a PostgreSQL restart, a full
    # disk): the server is fine and will answer again once it is back.
    log.error("database error in %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        plain_problem(503, "virtdeck's database does not answer; try again shortly"),
        {"Retry-After": "5"},
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged once with its traceback for the operator; the client gets one
    # sentence and no internals.
    log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        plain_problem(500, "virtdeck failed unexpectedly; the server log has the details")
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(VirtdeckError, _on_virtdeck_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415 - the server has loaded it

    app.add_exception_handler(OperationalError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


# What the OpenAPI document says every route may answer besides its success:
# a problem body, under its own media type. Declared on each route by
# ``Routes.route``, so FastAPI's own 422 (a different shape) is never documented.
DOCUMENTED_STATUSES = (400, 401, 403, 404, 409, 412, 413, 422, 429, 500, 503, 504)


def _documented(status: int) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": f"{TITLES[status]}: a problem body (RFC 9457)",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"{REF_PREFIX}Problem"}}},
    }


def problem_responses() -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status in DOCUMENTED_STATUSES as a Problem."""
    return {status: _documented(status) for status in DOCUMENTED_STATUSES}
