"""What routes share: the engine, answers for operations, ETags, list pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from virtdeck.engine.engine import Engine
from virtdeck.engine.schemas import OperationInfo
from virtdeck.errors import InvalidInput

from .auth import server_of
from .schemas import Page

T = TypeVar("T")

API_PREFIX = "/api/v1"
PAGE_LIMIT_MAX = 1000


def _engine(request: Request) -> Engine:
    return server_of(request).engine


EngineDep = Annotated[Engine, Depends(_engine)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag the client read; the change is refused (412) if it is stale.",
    ),
]


def operation_location(op_id: int) -> str:
    return f"{API_PREFIX}/operations/{op_id}"


def accepted(request: Request, op: OperationInfo) -> JSONResponse:
    """202 Accepted with the operation, and where to follow it."""
    request.state.operation_id = op.id
    return JSONResponse(
        op.model_dump(mode="json"),
        status_code=202,
        headers={"Location": operation_location(op.id)},
    )


def quoted_etag(digest: str) -> str:
    return f'"{digest}"'


def expected_digest(if_match: str | None) -> str | None:
    """The digest an If-Match header names (one strong ETag), or None without one."""
    if if_match is None:
        return None
    value = if_match.strip()
    if value == "*":
        return None
    if value.startswith("W/"):
        raise InvalidInput("If-Match takes the VM's strong ETag as sent, not a weak one")
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')) or "," in value:
        raise InvalidInput('If-Match takes one ETag as the VM sent it, in double quotes: "..."')
    return value[1:-1]


def page(
    request: Request,
    items: Sequence[T],
    key: Callable[[T], str],
    limit: int,
    after: str | None,
) -> Page[T]:
    """The ``limit`` items after the cursor ``after`` (a key), in key order, and the next link.

    The cursor is the last key of the page before, not an offset, so a page
    stays right while items are added or removed before it.
    """
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    chosen = list(ordered[:limit])
    link = None
    if len(ordered) > limit and chosen:
        params = {k: v for k, v in request.query_params.items() if k not in ("after", "limit")}
        params.update({"limit": str(limit), "after": key(chosen[-1])})
        link = f"{request.url.path}?{urlencode(params)}"
    return Page[T](items=chosen, next=link)
