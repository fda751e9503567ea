"""Waiting for a long operation: one status line, Ctrl-C cancels it cleanly.

The CLI submits an operation and follows its record (step and progress
come from the operation store, as an API client would see them). Ctrl-C
asks the operation to stop; it then removes what it had made and says so.
A second Ctrl-C leaves at once, and the next command cleans up after it.
"""

from __future__ import annotations

from typing import TypeVar

import typer
from pydantic import BaseModel
from rich.text import Text

from virtdeck.engine.api import EngineApi
from virtdeck.engine.schemas import OperationInfo
from virtdeck.errors import Interrupted

from .context import engine, err_console

M = TypeVar("M", bound=BaseModel)
# How often the status line reads the operation's record.
POLL_SECONDS = 0.2


def _line(op: OperationInfo) -> Text:
    # Text, not str: a Status reads a str as markup whatever the console says.
    return Text(f"{op.kind} {op.target}: {op.step} ({op.progress}%)")


def _follow(eng: EngineApi, op: OperationInfo) -> None:
    """Until the operation ends; the status line only on a terminal (stderr)."""
    if not err_console.is_terminal:
        while op.state == "running":
            op = eng.wait_operation(op.id, POLL_SECONDS)
        return
    with err_console.status(_line(op)) as status:
        while op.state == "running":
            op = eng.wait_operation(op.id, POLL_SECONDS)
            status.update(_line(op))


def wait_for(ctx: typer.Context, op: OperationInfo, kind: type[M]) -> M:
    """What the operation made, once it has ended; the error it ended with, raised."""
    eng = engine(ctx)
    try:
        _follow(eng, op)
    except KeyboardInterrupt:
        eng.cancel_operation(op.id)
        try:
            _follow(eng, eng.get_operation(op.id))
        except KeyboardInterrupt:
            raise Interrupted.twice(eng.get_operation(op.id).pending) from None
    return eng.operation_result(op.id, kind)
