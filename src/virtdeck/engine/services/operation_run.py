"""One running operation as its work sees it, and its record as callers see it.

``OperationRun`` is the handle the work reports through: steps and
progress go to the operation's row, each thing it makes is recorded before
it is filled, and a cancel takes effect at its next step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from virtdeck.errors import VirtdeckError

from ..operation_record import OperationRecord, Resource
from ..schemas import ErrorPart, OperationInfo

if TYPE_CHECKING:
    from ..operations import OperationStore

CTRL_C = "stopped with Ctrl-C"


def operation_info(record: OperationRecord) -> OperationInfo:
    return OperationInfo(
        id=record.id,
        kind=record.kind,
        target=record.target,
        state=record.state,  # type: ignore[arg-type]
        step=record.step,
        progress=record.progress,
        error=record.error,
        error_code=record.error_code,
        started_at=record.started_at,
        ended_at=record.ended_at,
        pending=[f"{r.type} {r.name}" for r in record.resources],
        result=json.loads(record.result) if record.result else None,
        error_parts=[ErrorPart(text=text, field=is_field) for text, is_field in record.error_parts],
    )


def interrupted_message(reason: str, removed: list[str], kept: list[str], released: bool) -> str:
    """What a stopped operation tells its user: what it removed and what it kept."""
    parts = [reason]
    if removed:
        parts.append("removed " + ", ".join(removed))
    if kept:
        parts.append("kept " + ", ".join(kept))
    if not removed and not kept:
        parts.append("its work was done and stays" if released else "nothing had been made yet")
    return "; ".join(parts)


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, VirtdeckError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return CTRL_C
    return f"{type(exc).__name__}: {exc}"


def code_of(exc: BaseException) -> str:
    return exc.code if isinstance(exc, VirtdeckError) else "error"


class OperationRun:
    """The handle a running operation reports through; a cancel takes effect at a step."""

    def __init__(self, store: OperationStore, op_id: int) -> None:
        self.id = op_id
        self._store = store
        self._resources: list[Resource] = []
        self.released = False
        self.result: BaseModel | None = None
        self.cancel_reason: str | None = None

    def step(self, text: str, progress: int | None = None) -> None:
        self.check_cancelled()
        self._store.update(self.id, step=text, progress=progress)
        self.check_cancelled()

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason

    def check_cancelled(self) -> None:
        """Stop here if a cancel came: the same way out as Ctrl-C on the main thread."""
        if self.cancel_reason is not None:
            raise KeyboardInterrupt(self.cancel_reason)

    def made_file(self, path: Path) -> None:
        """``path`` now exists because of this operation (recorded before it is filled)."""
        self._add(Resource("file", str(path)))

    def made_domain(self, uuid: str) -> None:
        self._add(Resource("domain", uuid))

    @property
    def unowned(self) -> list[Resource]:
        """What it has made that no VM owns yet."""
        return list(self._resources)

    def release(self) -> None:
        """What was made now belongs to a finished VM; an interruption keeps it."""
        self._resources.clear()
        self._store.update(self.id, resources=[])
        self.released = True

    def _add(self, resource: Resource) -> None:
        self._resources.append(resource)
        self._store.update(self.id, resources=self._resources)
