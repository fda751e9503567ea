"""API tokens: a random secret shown once, kept as its SHA-256, under a public id.

A secret is ``vdt_`` and 43 characters of ``secrets.token_urlsafe(32)``:
256 random bits, and a prefix that makes a leaked one easy to grep for (in
a log, a repository, a paste). A password needs a slow hash because people
choose guessable ones; 256 random bits cannot be guessed, so one SHA-256 is
enough, and it lets a request find its token by an index lookup. The row is
found by the hash and the hash compared again with ``hmac.compare_digest``.

The id (``t-`` and 8 hex digits) is what lists show and revoking takes; it
is not a secret. A revoked token keeps its row (revoked_at set), so lists
still show what it was; removing its user removes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, select, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from virtdeck.errors import Conflict, NotFound
from virtdeck.model.text import quote

from .account_schemas import TokenCreated, TokenInfo, TokenState
from .db import Base, as_utc
from .users import UserRow

TOKEN_PREFIX = "vdt_"
# token_urlsafe(32) is 43 characters; anything much longer is not a token.
SECRET_MAX = 200
# last_used_at is written at most this often: a busy script must not turn
# every request into a database write.
LAST_USED_STEP = timedelta(minutes=1)


class TokenRow(Base):
    __tablename__ = "tokens"
    __table_args__ = (UniqueConstraint("secret_sha256", name="uq_tokens_secret_sha256"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    user_name: Mapped[str] = mapped_column(
        String(64), ForeignKey(UserRow.name, name="fk_tokens_user_name"), index=True
    )
    # hex SHA-256 of the secret.
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _utc(when: datetime | None) -> datetime | None:
    return None if when is None else as_utc(when)


def _state(row: TokenRow, now: datetime) -> TokenState:
    if row.revoked_at is not None:
        return "revoked"
    expires = _utc(row.expires_at)
    if expires is not None and expires <= now:
        return "expired"
    return "active"


def _info(row: TokenRow, now: datetime) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        user=row.user_name,
        created_at=as_utc(row.created_at),
        expires_at=_utc(row.expires_at),
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
        state=_state(row, now),
    )


@dataclass(frozen=True)
class TokenOwner:
    """Whose a valid secret is: the token's id, its user and the user's role now."""

    token_id: str
    user: str
    role: str
    expires_at: datetime | None = None


class TokenStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def create(self, name: str, user: str, expires: timedelta | None) -> TokenCreated:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        for _attempt in range(5):
            row = TokenRow(
                id=f"t-{secrets.token_hex(4)}",
                name=name,
                user_name=user,
                secret_sha256=secret_digest(secret),
                created_at=now,
                expires_at=None if expires is None else now + expires,
            )
            with Session(self._engine) as session:
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # an id taken already (1 in 4 billion)
                    session.rollback()
                    continue
                info = _info(row, now)
            return TokenCreated(**info.model_dump(), secret=secret)
        raise Conflict(  # pragma: no cover - five ids taken in a row
            "could not find a free token id; retry"
        )

    def owner(self, secret: str) -> TokenOwner | None:
        """Whose ``secret`` is, while it is neither revoked nor expired; None otherwise."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > SECRET_MAX:
            return None
        digest = secret_digest(secret)
        now = datetime.now(UTC)
        with Session(self._engine) as session:
            found = session.execute(
                select(TokenRow, UserRow.role)
                .join(UserRow, UserRow.name == TokenRow.user_name)
                .where(TokenRow.secret_sha256 == digest)
            ).first()
            if found is None:
                return None
            row, role = found
            if not hmac.compare_digest(row.secret_sha256, digest) or _state(row, now) != "active":
                return None
            last = _utc(row.last_used_at)
            if last is None or now - last >= LAST_USED_STEP:
                session.execute(
                    update(TokenRow).where(TokenRow.id == row.id).values(last_used_at=now)
                )
                session.commit()
            return TokenOwner(
                token_id=row.id, user=row.user_name, role=role, expires_at=_utc(row.expires_at)
            )

    def all(self, user: str | None = None) -> list[TokenInfo]:
        now = datetime.now(UTC)
        query = select(TokenRow).order_by(TokenRow.created_at, TokenRow.id)
        if user is not None:
            query = query.where(TokenRow.user_name == user)
        with Session(self._engine) as session:
            return [_info(r, now) for r in session.scalars(query)]

    def revoke(self, token_id: str) -> TokenInfo:
        """The token revoked now (one revoked before stays as it was)."""
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            row = session.get(TokenRow, token_id)
            if row is None:
                raise NotFound(
                    f"there is no token {quote(token_id)}; check the id against the list of tokens"
                )
            if row.revoked_at is None:
                row.revoked_at = now
            return _info(row, now)
