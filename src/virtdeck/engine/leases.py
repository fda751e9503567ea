"""Locks as leases in the database, for servers that share one (locks.py has the interface).

A lease is a row keyed like the lock, (host, kind, value), with its owner,
what it does, and when it expires. Taking one inserts the row, or takes
over a row whose expiry has passed; both in one transaction, so of two
servers racing for a key exactly one wins, on SQLite and on PostgreSQL. A
daemon thread pushes the expiry on every ``heartbeat`` seconds while the
lock is held, so a lease outlives its ``ttl`` only while its holder lives:
a holder that died (killed, its machine down, cut off from the database)
stops beating, and after ``ttl`` the next server takes the lease over.

Every acquisition has a token of its own. Extending and releasing match
it, so a holder that was too slow and lost its lease can neither extend nor
delete its successor's. Times are the servers' own clocks in UTC: machines
sharing a database keep their clocks in step (NTP), and ``ttl`` must be
well above any skew left between them.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import DateTime, String, delete, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from virtdeck.errors import Conflict

from .db import Base, as_utc
from .locks import LockKey, busy_message, held_in_this_task, tracking

log = logging.getLogger(__name__)


class LeaseRow(Base):
    __tablename__ = "leases"

    host: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    # This acquisition: see the module's docstring.
    token: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(320))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _now() -> datetime:
    return datetime.now(UTC)


def _is(key: LockKey) -> ColumnElement[bool]:
    return (LeaseRow.host == key.host) & (LeaseRow.kind == key.kind) & (LeaseRow.value == key.value)


def _count(result: object) -> int:
    return cast(CursorResult[Any], result).rowcount


class LeaseLocks:
    """Locks as database leases of ``ttl`` seconds, renewed every ``heartbeat`` (ttl/3)."""

    def __init__(
        self, engine: SqlEngine, owner: str, ttl: float = 30.0, heartbeat: float | None = None
    ) -> None:
        beat = ttl / 3 if heartbeat is None else heartbeat
        if ttl <= 0 or not 0 < beat < ttl:
            raise ValueError(
                f"a lease needs a ttl above 0 and a heartbeat between 0 and the ttl; "
                f"got ttl={ttl} and heartbeat={beat}"
            )
        if not owner:
            raise ValueError("a lease needs an owner that says who holds it; got an empty one")
        self._engine = engine
        self.owner = owner
        self.ttl = ttl
        self.heartbeat = beat
        self._scope = (engine.url.render_as_string(hide_password=True), owner)

    def _where(self, key: LockKey) -> Hashable:
        return ("lease", self._scope, key)

    def held_here(self, key: LockKey) -> bool:
        return held_in_this_task(self._where(key))

    @contextmanager
    def hold(self, key: LockKey, label: str, action: str) -> Iterator[None]:
        where = self._where(key)
        if held_in_this_task(where):
            yield
            return
        token = self._acquire(key, label, action)
        beat = _Heartbeat(self, key, token)
        beat.start()
        try:
            with tracking(where):
                yield
        finally:
            beat.stop.set()
            self._release_acquired(key, token)

    def release(self, key: LockKey) -> bool:
        """Delete the lease on ``key`` if this owner holds it; False when it does not.

        For an owner cleaning up after an earlier life of its own (a server
        restarted under the same name); a ``with hold()`` releases by itself.
        """
        with self._engine.begin() as conn:
            gone = conn.execute(delete(LeaseRow).where(_is(key), LeaseRow.owner == self.owner))
            return _count(gone) > 0

    def holder(self, key: LockKey) -> str | None:
        """What holds ``key`` ("start by web-a pid 42"); None when nothing does."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(LeaseRow.action, LeaseRow.owner, LeaseRow.expires_at).where(_is(key))
            ).first()
        if row is None or as_utc(row.expires_at) < _now():
            return None
        return f"{row.action} by {row.owner}"

    def _acquire(self, key: LockKey, label: str, action: str) -> str:
        token = secrets.token_hex(16)
        now = _now()
        held = {
            "owner": self.owner,
            "token": token,
            "action": action,
            "label": label,
            "acquired_at": now,
            "expires_at": now + timedelta(seconds=self.ttl),
            "heartbeat_at": now,
        }
        try:
            with self._engine.begin() as conn:
                # An expired lease is taken over in place; a live one matches
                # nothing here, and then the insert fails on the key.
                expired = update(LeaseRow).where(_is(key), LeaseRow.expires_at < now)
                if not _count(conn.execute(expired.values(**held))):
                    conn.execute(
                        insert(LeaseRow).values(
                            host=key.host, kind=key.kind, value=key.value, **held
                        )
                    )
        except IntegrityError:
            raise Conflict(busy_message(label, self.holder(key) or "another command")) from None
        return token

    def renew(self, key: LockKey, token: str) -> bool:
        now = _now()
        with self._engine.begin() as conn:
            extended = conn.execute(
                update(LeaseRow)
                .where(_is(key), LeaseRow.token == token)
                .values(expires_at=now + timedelta(seconds=self.ttl), heartbeat_at=now)
            )
            return _count(extended) > 0

    def _release_acquired(self, key: LockKey, token: str) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    delete(LeaseRow).where(
                        _is(key), LeaseRow.owner == self.owner, LeaseRow.token == token
                    )
                )
        except SQLAlchemyError as exc:
            # The block's own outcome matters more; unrenewed, the lease ends by itself.
            log.warning(
                "could not release the lease on %s (%s); it expires in %ss", key, exc, self.ttl
            )


class _Heartbeat(threading.Thread):
    """Renews one lease until told to stop, or until the lease is found lost."""

    def __init__(self, locks: LeaseLocks, key: LockKey, token: str) -> None:
        super().__init__(name=f"virtdeck-lease {key.kind} {key.value}", daemon=True)
        self.stop = threading.Event()
        self._locks = locks
        self._key = key
        self._token = token

    def run(self) -> None:
        while not self.stop.wait(self._locks.heartbeat):
            try:
                alive = self._locks.renew(self._key, self._token)
            except SQLAlchemyError as exc:
                # The database may be back before the ttl runs out: try again.
                log.warning("could not renew the lease on %s (%s)", self._key, exc)
                continue
            if not alive and not self.stop.is_set():
                log.warning("the lease on %s was lost (taken over after it expired)", self._key)
                return
