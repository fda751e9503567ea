"""The record of long operations: a row per create, clone, snapshot ...

A row says what the operation is doing (step and progress), which process
runs it, and which resources it has made that nothing owns yet (a disk file,
a definition). When that process dies mid-way (killed, a crash, the machine
went down) the row stays 'running' with a process that no longer exists; the
engine then marks it interrupted and removes what it had made, so nothing is
left half-created without a record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Integer, String, Text, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base
from .operation_record import (
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    OperationRecord,
    Resource,
    process_alive,
    process_identity,
)


class OperationRow(Base):
    __tablename__ = "operations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_uri: Mapped[str] = mapped_column(String(512), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    step: Mapped[str] = mapped_column(String(200))
    progress: Mapped[int] = mapped_column(Integer)
    # Which process runs it: boot id, pid and the pid's start time, so a pid
    # reused after a crash or a reboot is not mistaken for the original.
    process: Mapped[str] = mapped_column(String(96))
    # JSON list of {"type": "file" | "domain", "name": ...} made and not yet owned.
    resources: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _record(row: OperationRow) -> OperationRecord:
    return OperationRecord(
        id=row.id,
        host_uri=row.host_uri,
        kind=row.kind,
        target=row.target,
        state=row.state,
        step=row.step,
        progress=row.progress,
        process=row.process,
        error=row.error,
        started_at=row.started_at.replace(tzinfo=UTC),
        ended_at=row.ended_at.replace(tzinfo=UTC) if row.ended_at else None,
        resources=[Resource(**r) for r in json.loads(row.resources)],
    )


def _row(session: Session, op_id: int) -> OperationRow:
    row = session.get(OperationRow, op_id)
    if row is None:  # pragma: no cover - ids come from begin()
        raise KeyError(f"operation {op_id} is not in the database")
    return row


class OperationStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def begin(self, uri: str, kind: str, target: str, step: str) -> int:
        with Session(self._engine) as session, session.begin():
            row = OperationRow(
                host_uri=uri,
                kind=kind,
                target=target,
                state=RUNNING,
                step=step,
                progress=0,
                process=process_identity(),
                resources="[]",
                error="",
                started_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return row.id

    def update(
        self,
        op_id: int,
        step: str | None = None,
        progress: int | None = None,
        resources: list[Resource] | None = None,
    ) -> OperationRecord:
        with Session(self._engine) as session, session.begin():
            row = _row(session, op_id)
            if step is not None:
                row.step = step
            if progress is not None:
                row.progress = max(0, min(100, progress))
            if resources is not None:
                row.resources = json.dumps([r.__dict__ for r in resources])
            return _record(row)

    def finish(self, op_id: int, state: str, error: str = "", step: str | None = None) -> None:
        with Session(self._engine) as session, session.begin():
            row = _row(session, op_id)
            row.state = state
            row.error = error
            # Whatever it made is now owned by a VM, or was removed (by the
            # failed code itself, or by recovery, whose note lists it).
            row.resources = "[]"
            if step is not None:
                row.step = step
            if state == SUCCEEDED:
                row.progress = 100
            row.ended_at = datetime.now(UTC)

    def take_over(self, op_id: int) -> bool:
        """Claim an orphaned operation for recovery; False when another command did."""
        with Session(self._engine) as session, session.begin():
            taken = session.execute(
                update(OperationRow)
                .where(OperationRow.id == op_id, OperationRow.state == RUNNING)
                .values(state=INTERRUPTED, error="its process ended; cleaning up after it")
            )
            return bool(cast(CursorResult[Any], taken).rowcount)

    def get(self, op_id: int) -> OperationRecord | None:
        with Session(self._engine) as session:
            row = session.get(OperationRow, op_id)
            return _record(row) if row is not None else None

    def recent(self, uri: str, limit: int) -> list[OperationRecord]:
        """The newest operations on one host, newest first."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(OperationRow)
                .where(OperationRow.host_uri == uri)
                .order_by(OperationRow.id.desc())
                .limit(limit)
            ).all()
            return [_record(r) for r in rows]

    def orphaned(self, uri: str) -> list[OperationRecord]:
        """Operations still marked running whose process is gone."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(OperationRow).where(
                    OperationRow.host_uri == uri, OperationRow.state == RUNNING
                )
            ).all()
            return [_record(r) for r in rows if not process_alive(r.process)]
