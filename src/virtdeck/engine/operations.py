"""The record of long operations: a row per create, clone, snapshot ...

A row says what the operation is doing (step and progress), which process
runs it, and which resources it has made that nothing owns yet (a disk file,
a definition). When that process dies mid-way (killed, a crash, the machine
went down) the row stays 'running'; the engine then marks it interrupted and
removes what it had made, so nothing is left half-created without a record.

Whether the process died is asked of /proc when it ran on this machine in
this boot, and read from the row's heartbeat otherwise: a process elsewhere
calls ``heartbeat`` every few seconds while it works, and a row silent for
longer than the caller's ``stale_after`` is orphaned. A process that finds
``heartbeat`` answering False has been declared dead and must stop.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, as_utc
from .hosts import HostRow
from .operation_record import (
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    OperationRecord,
    Resource,
    default_owner,
    is_orphaned,
    machine_id,
    process_identity,
)
from .pubsub import operation_updates


class OperationRow(Base):
    __tablename__ = "operations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[str] = mapped_column(
        String(40), ForeignKey(HostRow.id, name="fk_operations_host_id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    step: Mapped[str] = mapped_column(String(200))
    progress: Mapped[int] = mapped_column(Integer)
    # Which process runs it: boot id, pid and the pid's start time, so a pid
    # reused after a crash or a reboot is not mistaken for the original.
    process: Mapped[str] = mapped_column(String(96))
    # Which machine that boot id belongs to (/etc/machine-id).
    machine_id: Mapped[str] = mapped_column(String(64), server_default="")
    # Who runs it, in words: "web-a pid 4242", or a server's name for itself.
    owner: Mapped[str] = mapped_column(String(255), server_default="")
    # JSON list of {"type": "file" | "domain", "name": ...} made and not yet owned.
    resources: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str] = mapped_column(String(64), server_default="")
    # The error as JSON [[text, is_field], ...], so a front end can spell the
    # fields it names (the CLI as --options); NULL when it names none.
    error_parts: Mapped[str | None] = mapped_column(Text, nullable=True)
    # JSON of what a finished operation produced, for a caller that was not there.
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _utc(when: datetime | None) -> datetime | None:
    return None if when is None else as_utc(when)


def _record(row: OperationRow) -> OperationRecord:
    started = _utc(row.started_at)
    assert started is not None
    return OperationRecord(
        id=row.id,
        host_id=row.host_id,
        kind=row.kind,
        target=row.target,
        state=row.state,
        step=row.step,
        progress=row.progress,
        process=row.process,
        error=row.error,
        started_at=started,
        ended_at=_utc(row.ended_at),
        resources=[Resource(**r) for r in json.loads(row.resources)],
        owner=row.owner,
        machine_id=row.machine_id,
        heartbeat_at=_utc(row.heartbeat_at),
        result=row.result,
        error_code=row.error_code,
        error_parts=[(str(t), bool(f)) for t, f in json.loads(row.error_parts)]
        if row.error_parts
        else [],
    )


def _publish(record: OperationRecord) -> None:
    """Tell this process's subscribers (event streams) that the row changed."""
    if operation_updates.has_subscribers:
        operation_updates.publish(record)


def _row(session: Session, op_id: int) -> OperationRow:
    row = session.get(OperationRow, op_id)
    if row is None:  # pragma: no cover - ids come from begin()
        raise KeyError(f"operation {op_id} is not in the database")
    return row


class OperationStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def begin(
        self, host_id: str, kind: str, target: str, step: str, owner: str | None = None
    ) -> int:
        """A new running operation of this process; ``owner`` defaults to host name and pid."""
        with Session(self._engine) as session, session.begin():
            row = OperationRow(
                host_id=host_id,
                kind=kind,
                target=target,
                state=RUNNING,
                step=step,
                progress=0,
                process=process_identity(),
                machine_id=machine_id(),
                owner=default_owner() if owner is None else owner,
                resources="[]",
                error="",
                error_code="",
                started_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            op_id = row.id
            record = _record(row) if operation_updates.has_subscribers else None
        if record is not None:
            _publish(record)
        return op_id

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
            record = _record(row)
        if step is not None or progress is not None:
            _publish(record)
        return record

    def heartbeat(self, op_id: int) -> bool:
        """Say the operation's process still works on it; False once it is not running.

        False means another process took it over (it looked dead) or it has
        finished: the caller must stop working on it.
        """
        with Session(self._engine) as session, session.begin():
            beat = session.execute(
                update(OperationRow)
                .where(OperationRow.id == op_id, OperationRow.state == RUNNING)
                .values(heartbeat_at=datetime.now(UTC))
            )
            return bool(cast(CursorResult[Any], beat).rowcount)

    def finish(
        self,
        op_id: int,
        state: str,
        error: str = "",
        step: str | None = None,
        result: str | None = None,
        error_code: str = "",
        error_parts: list[tuple[str, bool]] | None = None,
    ) -> None:
        with Session(self._engine) as session, session.begin():
            row = _row(session, op_id)
            row.state = state
            row.error = error
            row.error_code = error_code
            row.error_parts = json.dumps(error_parts) if error_parts else None
            row.result = result
            # Whatever it made is now owned by a VM, or was removed (by the
            # failed code itself, or by recovery, whose note lists it).
            row.resources = "[]"
            if step is not None:
                row.step = step
            if state == SUCCEEDED:
                row.progress = 100
            row.ended_at = datetime.now(UTC)
            record = _record(row)
        _publish(record)

    def take_over(self, op_id: int) -> bool:
        """Claim an orphaned operation for recovery; False when another command did."""
        with Session(self._engine) as session, session.begin():
            taken = session.execute(
                update(OperationRow)
                .where(OperationRow.id == op_id, OperationRow.state == RUNNING)
                .values(state=INTERRUPTED, error="its process ended; cleaning up after it")
            )
            took = bool(cast(CursorResult[Any], taken).rowcount)
        if took and operation_updates.has_subscribers:
            record = self.get(op_id)
            if record is not None:
                _publish(record)
        return took

    def get(self, op_id: int) -> OperationRecord | None:
        with Session(self._engine) as session:
            row = session.get(OperationRow, op_id)
            return _record(row) if row is not None else None

    def recent(self, host_id: str, limit: int) -> list[OperationRecord]:
        """The newest operations on one host, newest first."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(OperationRow)
                .where(OperationRow.host_id == host_id)
                .order_by(OperationRow.id.desc())
                .limit(limit)
            ).all()
            return [_record(r) for r in rows]

    def count_by_state(self, host_id: str) -> dict[str, int]:
        """How many operations of one host are in each state (running, succeeded ...)."""
        with Session(self._engine) as session:
            rows = session.execute(
                select(OperationRow.state, func.count())
                .where(OperationRow.host_id == host_id)
                .group_by(OperationRow.state)
            ).all()
        return {str(state): int(count) for state, count in rows}

    def orphaned(self, host_id: str, stale_after: float) -> list[OperationRecord]:
        """Operations still marked running whose process is gone (see is_orphaned)."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(OperationRow).where(
                    OperationRow.host_id == host_id, OperationRow.state == RUNNING
                )
            ).all()
            records = [_record(r) for r in rows]
        now = datetime.now(UTC)
        return [r for r in records if is_orphaned(r, stale_after, now)]
