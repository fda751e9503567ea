"""A problem body back into the VirtdeckError it was made from.

The server cuts a message into words and field names (``parts``); put back
together with ``opt()`` marks, the error renders its fields as the remote
CLI's options exactly as a local error does, and keeps its hint.
"""

from __future__ import annotations

from typing import cast

import httpx
from pydantic import BaseModel, Field, ValidationError

from virtdeck.engine.schemas import ErrorPart
from virtdeck.errors import (
    ERRORS_BY_CODE,
    Hint,
    HintAction,
    HostUnavailable,
    OperationFailed,
    VirtdeckError,
    opt,
)


class _Hint(BaseModel):
    action: str
    vm: str | None = None
    args: dict[str, str] = Field(default_factory=dict)


class _Problem(BaseModel):
    status: int
    detail: str
    code: str = "error"
    field: str | None = None
    parts: list[ErrorPart] = Field(default_factory=list)
    hint: _Hint | None = None


def template_of(detail: str, parts: list[ErrorPart]) -> str:
    """The message with its fields marked again, from its parts (or the detail alone)."""
    if not parts:
        return detail
    return "".join(opt(p.text) if p.field else p.text for p in parts)


def error_from_parts(code: str, detail: str, parts: list[ErrorPart]) -> VirtdeckError:
    return ERRORS_BY_CODE.get(code, VirtdeckError)(template_of(detail, parts))


def error_from_response(response: httpx.Response) -> VirtdeckError:
    """The error a non-2xx answer carries; one that is no problem body, in words."""
    try:
        problem = _Problem.model_validate_json(response.content)
    except ValidationError:
        status = response.status_code
        if status in (502, 503, 504):
            return HostUnavailable(
                f"the server answered {status} {response.reason_phrase}; "
                "check that it is running and try again"
            )
        return OperationFailed(
            f"the server answered {status} {response.reason_phrase} without a problem "
            "body; check its log"
        )
    cls = ERRORS_BY_CODE.get(problem.code)
    if cls is None:
        # A code this client does not know (a newer server): the class by its status.
        by_status = {c.http_status: c for c in ERRORS_BY_CODE.values() if c is not VirtdeckError}
        cls = by_status.get(problem.status, VirtdeckError)
    hint = None
    if problem.hint is not None:
        hint = Hint(
            cast(HintAction, problem.hint.action), vm=problem.hint.vm, args=problem.hint.args
        )
    return cls(template_of(problem.detail, problem.parts), field=problem.field, hint=hint)
