"""The hosts a database knows, each under a short id that never changes.

Rows elsewhere (history, operations, leases) name a host by this id, not by
its libvirt URI: a URI is long, and one machine may later be reached by
another one (qemu+ssh today, qemu+tls tomorrow) without its history moving.

How an id is chosen, once, when ``ensure`` first sees a URI:

- ``local`` for the first local URI (one without a host name, such as
  ``qemu:///system`` or ``test:///default``) a database is used with. The
  embedded CLI has one host and its rows read ``local`` wherever the
  database goes; which local URI that was is in its row.
- ``h-`` and the first 8 hex digits of the URI's SHA-256 for every other
  URI. Derived rather than counted, so two databases that meet the same URI
  give it the same id (easy to match when merging or comparing). Should two
  URIs share those 8 digits, the later one gets more digits: an id is
  unique in its database, and stable because it is stored, not recomputed.

A URI is compared as written: ``qemu+ssh://root@a/system`` and
``qemu+ssh://a/system`` are two hosts until someone says otherwise.

A host's ``name`` is for people (``--host NAME`` in a listing): the host
name in its URI, ``local`` for the local one, and the id where that name is
taken already, so names are unique too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import DateTime, String, UniqueConstraint, select
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from virtdeck.errors import InvalidInput

from .db import Base

LOCAL_ID = "local"
_DIGEST_LENGTHS = (8, 12, 16, 24, 32)


class HostRow(Base):
    __tablename__ = "hosts"
    __table_args__ = (
        UniqueConstraint("uri", name="uq_hosts_uri"),
        UniqueConstraint("name", name="uq_hosts_name"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    uri: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class HostRecord:
    id: str
    uri: str
    name: str


def is_local_uri(uri: str) -> bool:
    """Whether ``uri`` reaches the libvirtd of this machine (no host name in it)."""
    return not urlsplit(uri).hostname


def _candidate_ids(uri: str) -> list[str]:
    digest = hashlib.sha256(uri.encode()).hexdigest()
    return [f"h-{digest[:length]}" for length in _DIGEST_LENGTHS]


def _record(row: HostRow) -> HostRecord:
    return HostRecord(id=row.id, uri=row.uri, name=row.name)


class HostStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def ensure(self, uri: str) -> HostRecord:
        """The host reached by ``uri``, recorded now if this database has not seen it."""
        if not uri.strip():
            raise InvalidInput("a host needs a libvirt URI, such as qemu:///system; got none")
        # Two processes may meet a new URI at once: the one whose insert
        # loses the race reads the winner's row on its next round.
        for _attempt in range(3):
            with Session(self._engine) as session:
                known = session.scalars(select(HostRow).where(HostRow.uri == uri)).first()
                if known is not None:
                    return _record(known)
                row = self._new_row(session, uri)
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return _record(row)
        raise InvalidInput(  # pragma: no cover - needs three lost races in a row
            f"could not record host {uri}: other commands kept recording hosts at the same "
            "time; retry"
        )

    def get(self, host_id: str) -> HostRecord | None:
        with Session(self._engine) as session:
            row = session.get(HostRow, host_id)
            return _record(row) if row is not None else None

    def all(self) -> list[HostRecord]:
        """Every host, in the order the database first saw them."""
        with Session(self._engine) as session:
            rows = session.scalars(select(HostRow).order_by(HostRow.created_at, HostRow.id))
            return [_record(r) for r in rows]

    def _new_row(self, session: Session, uri: str) -> HostRow:
        ids = set(session.scalars(select(HostRow.id)))
        names = set(session.scalars(select(HostRow.name)))
        local = is_local_uri(uri)
        if local and LOCAL_ID not in ids:
            host_id = LOCAL_ID
        else:
            host_id = next(c for c in _candidate_ids(uri) if c not in ids)
        wanted = LOCAL_ID if host_id == LOCAL_ID else (urlsplit(uri).hostname or host_id)
        name = wanted if wanted not in names else host_id
        return HostRow(id=host_id, uri=uri, name=name, created_at=datetime.now(UTC))
