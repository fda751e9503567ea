"""Browser sessions, and the record of failed logins that throttles guessing.

A session is made by a login with a password. Its secret (``vds_`` and
``secrets.token_urlsafe(32)``, the cookie) is kept as its SHA-256, like a
token's. It ends at the first of:

- ``SESSION_LIFETIME`` (12 h) after the login, whatever happens: a cookie
  taken from a browser is worth a working day at most;
- ``SESSION_IDLE`` (2 h) after it was last used (``last_seen_at``, written
  at most once a minute);
- a logout, a new password for its user, or its user's removal.

Its CSRF token is random too, and kept as it is, not hashed: every request
of the session needs it back (the API compares it with what the page sends,
in constant time), and alone it opens nothing, since a request also needs the
session's cookie, whose secret only the browser has. What a reader of the
database could do with it, it could do with the session's row anyway.

Failed logins are rows (when, and the SHA-256 of the user name or of the
client address tried, never the name itself: a password typed into the
name field must not be kept). Being in the database, every server sharing
it counts the same failures.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from virtdeck.errors import Conflict

from .db import Base, as_utc
from .tokens import LAST_USED_STEP, secret_digest
from .users import UserRow

SESSION_PREFIX = "vds_"
SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
SECRET_MAX = 200


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("secret_sha256", name="uq_sessions_secret_sha256"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_name: Mapped[str] = mapped_column(
        String(64), ForeignKey(UserRow.name, name="fk_sessions_user_name"), index=True
    )
    secret_sha256: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginFailureRow(Base):
    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "user:" or "client:" and the hex SHA-256 of the value.
    key: Mapped[str] = mapped_column(String(80), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class NewSession:
    id: str
    secret: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class LiveSession:
    id: str
    user: str
    role: str
    csrf_token: str


def failure_key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


class SessionStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def create(self, user: str, client: str) -> NewSession:
        secret = SESSION_PREFIX + secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + SESSION_LIFETIME
        for _attempt in range(5):
            session_id = f"s-{secrets.token_hex(4)}"
            with Session(self._engine) as session:
                session.add(
                    SessionRow(
                        id=session_id,
                        user_name=user,
                        secret_sha256=secret_digest(secret),
                        csrf_token=csrf,
                        client=client[:255],
                        created_at=now,
                        last_seen_at=now,
                        expires_at=expires,
                    )
                )
                try:
                    session.commit()
                except IntegrityError:  # an id taken already
                    session.rollback()
                    continue
            return NewSession(id=session_id, secret=secret, csrf_token=csrf, expires_at=expires)
        raise Conflict("could not find a free session id; retry")  # pragma: no cover

    def live(self, secret: str) -> LiveSession | None:
        """The session of ``secret`` while it lasts; an ended one is removed, and None."""
        if not secret.startswith(SESSION_PREFIX) or len(secret) > SECRET_MAX:
            return None
        digest = secret_digest(secret)
        now = datetime.now(UTC)
        with Session(self._engine) as session:
            found = session.execute(
                select(SessionRow, UserRow.role)
                .join(UserRow, UserRow.name == SessionRow.user_name)
                .where(SessionRow.secret_sha256 == digest)
            ).first()
            if found is None:
                return None
            row, role = found
            if not hmac.compare_digest(row.secret_sha256, digest):
                return None
            seen = as_utc(row.last_seen_at)
            if as_utc(row.expires_at) <= now or now - seen >= SESSION_IDLE:
                session.execute(delete(SessionRow).where(SessionRow.id == row.id))
                session.commit()
                return None
            if now - seen >= LAST_USED_STEP:
                session.execute(
                    update(SessionRow).where(SessionRow.id == row.id).values(last_seen_at=now)
                )
                session.commit()
            return LiveSession(id=row.id, user=row.user_name, role=role, csrf_token=row.csrf_token)

    def end(self, secret: str) -> bool:
        """The session of ``secret`` ended; False when there was none."""
        if len(secret) > SECRET_MAX:
            return False
        with Session(self._engine) as session, session.begin():
            result = session.execute(
                delete(SessionRow).where(SessionRow.secret_sha256 == secret_digest(secret))
            )
            return bool(getattr(result, "rowcount", 0))

    def end_all(self, user: str) -> None:
        """Every session of ``user`` ended (a new password, say)."""
        with Session(self._engine) as session, session.begin():
            session.execute(delete(SessionRow).where(SessionRow.user_name == user))

    def purge(self) -> None:
        """Rows of sessions that ended unseen (their expiry passed) go."""
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            session.execute(
                delete(SessionRow).where(
                    (SessionRow.expires_at <= now) | (SessionRow.last_seen_at <= now - SESSION_IDLE)
                )
            )


class LoginFailures:
    """Failed logins in the last ``window``, counted per key, in the database."""

    def __init__(self, engine: SqlEngine, window: timedelta) -> None:
        self._engine = engine
        self.window = window

    def recent(self, keys: list[str]) -> dict[str, tuple[int, datetime | None]]:
        """Per key: how many failures lie in the window, and the oldest of them."""
        since = datetime.now(UTC) - self.window
        with Session(self._engine) as session:
            rows = session.execute(
                select(LoginFailureRow.key, func.count(), func.min(LoginFailureRow.at))
                .where(LoginFailureRow.key.in_(keys), LoginFailureRow.at > since)
                .group_by(LoginFailureRow.key)
            ).all()
        counts: dict[str, tuple[int, datetime | None]] = {key: (0, None) for key in keys}
        for key, count, oldest in rows:
            counts[key] = (int(count), None if oldest is None else as_utc(oldest))
        return counts

    def add(self, keys: list[str]) -> None:
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            session.add_all([LoginFailureRow(key=key, at=now) for key in keys])
            # What has left the window counts no more: keep the table small.
            session.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= now - self.window))

    def clear(self, key: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))
