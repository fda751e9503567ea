"""Users of the API: a name, a role, and a password kept as an argon2id hash.

The hash is argon2-cffi's ``PasswordHasher`` with its defaults (argon2id,
RFC 9106's low-memory profile: 3 passes over 64 MiB, 4 lanes), kept as the
PHC string with its parameters in it, so that a later virtdeck with
stronger ones rehashes a password at its next login (``needs_rehash``).
Nothing here decides who may do what (roles.py) or when a login is refused
(services/accounts.py): this is the table and the hashing.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, String, delete, func, select
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from virtdeck.errors import Conflict, NotFound
from virtdeck.model.text import quote

from .account_schemas import UserInfo
from .db import Base, as_utc
from .roles import Role, checked_role

if TYPE_CHECKING:
    from argon2 import PasswordHasher


class UserRow(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    # argon2id, as a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@functools.cache
def hasher() -> PasswordHasher:
    from argon2 import PasswordHasher  # noqa: PLC0415 - loaded for accounts only

    return PasswordHasher()


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made of (argon2's own compare)."""
    from argon2.exceptions import InvalidHashError, VerificationError  # noqa: PLC0415

    try:
        return hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return hasher().check_needs_rehash(stored_hash)


@functools.cache
def dummy_hash() -> str:
    """A hash of no one's password: a login for an unknown user verifies against it,
    so that it takes as long as one for a user that exists."""
    return hash_password("virtdeck: not a user's password")


def _info(row: UserRow) -> UserInfo:
    return UserInfo(
        name=row.name,
        role=checked_role(row.role),
        created_at=as_utc(row.created_at),
        password_changed_at=as_utc(row.password_changed_at),
    )


def _missing(name: str) -> NotFound:
    return NotFound(f"there is no user {quote(name)}; check the name against the list of users")


class UserStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def add(self, name: str, role: Role, password_hash: str) -> UserInfo:
        now = datetime.now(UTC)
        row = UserRow(
            name=name,
            role=role,
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
        )
        with Session(self._engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                raise Conflict(
                    f"user {quote(name)} exists already; choose another name or change its password"
                ) from None
            return _info(row)

    def get(self, name: str) -> UserInfo | None:
        with Session(self._engine) as session:
            row = session.get(UserRow, name)
            return _info(row) if row is not None else None

    def require(self, name: str) -> UserInfo:
        found = self.get(name)
        if found is None:
            raise _missing(name)
        return found

    def password_hash(self, name: str) -> tuple[UserInfo, str] | None:
        """The user and its password's hash, for a login; None for no such user."""
        with Session(self._engine) as session:
            row = session.get(UserRow, name)
            return (_info(row), row.password_hash) if row is not None else None

    def all(self) -> list[UserInfo]:
        with Session(self._engine) as session:
            return [_info(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]

    def set_password_hash(self, name: str, password_hash: str, *, changed: bool = True) -> UserInfo:
        """A new hash; ``changed`` False for a rehash of the same password."""
        with Session(self._engine) as session, session.begin():
            row = session.get(UserRow, name)
            if row is None:
                raise _missing(name)
            row.password_hash = password_hash
            if changed:
                row.password_changed_at = datetime.now(UTC)
            return _info(row)

    def set_role(self, name: str, role: Role) -> UserInfo:
        """``name``'s role becomes ``role``; the last admin is never demoted."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, name)
            if row.role == "admin" and role != "admin":
                self._refuse_last_admin(session, name, "demote")
            row.role = role
            return _info(row)

    def remove(self, name: str) -> None:
        """The user goes, and with it, in the same transaction, its tokens and sessions."""
        from .sessions import SessionRow  # noqa: PLC0415 - they refer to this table
        from .tokens import TokenRow  # noqa: PLC0415

        with Session(self._engine) as session, session.begin():
            row = self._locked(session, name)
            if row.role == "admin":
                self._refuse_last_admin(session, name, "remove")
            session.execute(delete(SessionRow).where(SessionRow.user_name == name))
            session.execute(delete(TokenRow).where(TokenRow.user_name == name))
            session.execute(delete(UserRow).where(UserRow.name == name))

    def _locked(self, session: Session, name: str) -> UserRow:
        # FOR UPDATE on PostgreSQL: two admins removing each other at once
        # must not leave none (SQLite serializes writers anyway).
        row = session.scalars(select(UserRow).where(UserRow.name == name).with_for_update()).first()
        if row is None:
            raise _missing(name)
        return row

    def _refuse_last_admin(self, session: Session, name: str, what: str) -> None:
        admins = session.scalars(
            select(UserRow.name).where(UserRow.role == "admin").with_for_update()
        ).all()
        if [a for a in admins if a != name]:
            return
        raise Conflict(
            f"user {name} is the last admin, and virtdeck would have none left; "
            f"make another user admin before you {what} this one"
        )

    def count(self) -> int:
        with Session(self._engine) as session:
            return int(session.scalar(select(func.count()).select_from(UserRow)) or 0)
