"""The audit log: every change asked of the API, who asked, from where, and how it ended.

One row per request that would change something (and per login), written
when its outcome is known: ``ok``, or the error's stable code, so that what
was refused is in the log too. Rows are only ever added; a list reads them
newest first, a page at a time by id (``after``: older than that id).

No secret ever reaches a row. Every text goes through ``scrub`` before it
is stored: whatever looks like a virtdeck token or session secret (``vdt_``,
``vds_`` and what follows), or an ``Authorization`` value, is replaced by
its prefix and ``***``. Scrubbed rather than refused: a request that
carried a token where a name belongs (a VM called ``vdt_...``) is worth
recording, and refusing its entry would drop it from the log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Mapped, Session, mapped_column

from .account_schemas import AuditEntry
from .db import Base, as_utc

DETAIL_MAX = 500
# Entries about accounts, not VMs: a VM's entries are the others naming it
# (vm.*, snapshot.*, spec.* all name the VM as their resource).
ACCOUNT_KINDS = ("user", "token", "session", "login")
_SECRET = re.compile(r"\b(vd[ts]_)[A-Za-z0-9_\-]*")
_AUTHORIZATION = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+")


def scrub(text: str) -> str:
    """``text`` without anything that looks like a secret (see the module's docstring)."""
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)} ***", text)
    return _SECRET.sub(lambda m: f"{m.group(1)}***", text)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    via: Mapped[str] = mapped_column(String(16))
    client: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    resource_kind: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(255), index=True)
    resource_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    outcome: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(String(DETAIL_MAX))


def _cut(text: str, limit: int) -> str:
    text = scrub(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=as_utc(row.at),
        user=row.user_name,
        via=row.via,
        client=row.client,
        action=row.action,
        resource_kind=row.resource_kind,
        resource=row.resource,
        resource_uuid=row.resource_uuid,
        outcome=row.outcome,
        operation_id=row.operation_id,
        detail=row.detail,
    )


class AuditStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def record(
        self,
        *,
        user: str,
        via: str,
        client: str,
        action: str,
        resource_kind: str,
        resource: str,
        outcome: str,
        resource_uuid: str | None = None,
        operation_id: int | None = None,
        detail: str = "",
    ) -> AuditEntry:
        row = AuditRow(
            at=datetime.now(UTC),
            user_name=_cut(user, 64),
            via=_cut(via, 16),
            client=_cut(client, 255),
            action=_cut(action, 64),
            resource_kind=_cut(resource_kind, 32),
            resource=_cut(resource, 255),
            resource_uuid=None if resource_uuid is None else _cut(resource_uuid, 36),
            outcome=_cut(outcome, 64),
            operation_id=operation_id,
            detail=_cut(detail, DETAIL_MAX),
        )
        with Session(self._engine) as session:
            session.add(row)
            session.commit()
            return _entry(row)

    def entries(
        self,
        user: str | None = None,
        vm: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first; ``after`` an id: only entries older than it (the next page)."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if user is not None:
            query = query.where(AuditRow.user_name == user)
        if vm is not None:
            query = query.where(
                AuditRow.resource == vm, AuditRow.resource_kind.not_in(ACCOUNT_KINDS)
            )
        if after is not None:
            query = query.where(AuditRow.id < after)
        with Session(self._engine) as session:
            return [_entry(r) for r in session.scalars(query)]
