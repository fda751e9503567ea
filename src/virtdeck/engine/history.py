"""Every earlier version of every domain definition, in the database.

libvirt keeps only the current definition. virtdeck records the XML each
time it changes one (create, edit, set-cpus, delete, ...) and, when it sees
a definition that changed behind its back (``virsh edit``), records that
too, marked ``external``. So delete, edit and any change can be undone.

Versions are keyed by (host id, UUID): a host by its id in the hosts table
(hosts.py), so its history stays put when the URI that reaches it changes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, as_utc
from .digest import xml_digest
from .hosts import HostRow
from .versions import Version


class DomainVersion(Base):
    __tablename__ = "domain_versions"
    __table_args__ = (
        UniqueConstraint(
            "host_id", "domain_uuid", "version", name="uq_domain_versions_host_uuid_version"
        ),
        # Which VMs (UUIDs) have had a name on a host (migrations 0003, 0004).
        Index("ix_domain_versions_host_name_uuid", "host_id", "domain_name", "domain_uuid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: both above start with it.
    host_id: Mapped[str] = mapped_column(
        String(40), ForeignKey(HostRow.id, name="fk_domain_versions_host_id")
    )
    domain_uuid: Mapped[str] = mapped_column(String(36), index=True)
    domain_name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    xml: Mapped[str] = mapped_column(Text)
    xml_sha256: Mapped[str] = mapped_column(String(64))
    # True on the version recorded when the VM was deleted.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HistoryStore:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def latest(self, host_id: str, uuid: str) -> DomainVersion | None:
        with Session(self._engine) as session:
            return session.scalars(
                select(DomainVersion)
                .where(DomainVersion.host_id == host_id, DomainVersion.domain_uuid == uuid)
                .order_by(DomainVersion.version.desc())
                .limit(1)
            ).first()

    def latest_digests(self, host_id: str) -> dict[str, str]:
        """uuid -> digest of its newest recorded XML, for one host."""
        with Session(self._engine) as session:
            rows = session.execute(
                select(DomainVersion.domain_uuid, DomainVersion.xml_sha256, DomainVersion.version)
                .where(DomainVersion.host_id == host_id)
                .order_by(DomainVersion.domain_uuid, DomainVersion.version)
            ).all()
        return {uuid: digest for uuid, digest, _version in rows}

    def record(
        self, host_id: str, uuid: str, name: str, xml: str, action: str, deleted: bool = False
    ) -> int | None:
        """Store one version; returns its number, or None when it equals the newest."""
        digest = xml_digest(xml)
        with Session(self._engine) as session, session.begin():
            last = session.scalars(
                select(DomainVersion)
                .where(DomainVersion.host_id == host_id, DomainVersion.domain_uuid == uuid)
                .order_by(DomainVersion.version.desc())
                .limit(1)
            ).first()
            if last is not None and last.xml_sha256 == digest and not deleted and not last.deleted:
                return None
            number = 1 if last is None else last.version + 1
            session.add(
                DomainVersion(
                    host_id=host_id,
                    domain_uuid=uuid,
                    domain_name=name,
                    version=number,
                    action=action,
                    xml=xml,
                    xml_sha256=digest,
                    deleted=deleted,
                    created_at=datetime.now(UTC),
                )
            )
            return number

    def uuids_named(self, host_id: str, name: str) -> list[str]:
        """Every VM (by UUID) that has had ``name`` on this host, most recent first.

        A name is not an identity: a VM deleted and another created with its
        name are two VMs, and a renamed VM had both names.
        """
        with Session(self._engine) as session:
            newest = func.max(DomainVersion.id)
            rows = session.execute(
                select(DomainVersion.domain_uuid, newest)
                .where(DomainVersion.host_id == host_id, DomainVersion.domain_name == name)
                .group_by(DomainVersion.domain_uuid)
                .order_by(newest.desc())
            ).all()
        return [uuid for uuid, _newest in rows]

    def versions_of(self, host_id: str, uuid: str) -> list[Version]:
        """Every version of one VM, oldest first, whatever names it had."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(DomainVersion)
                .where(DomainVersion.host_id == host_id, DomainVersion.domain_uuid == uuid)
                .order_by(DomainVersion.version)
            ).all()
            return [
                Version(
                    version=r.version,
                    action=r.action,
                    xml=r.xml,
                    deleted=r.deleted,
                    created_at=as_utc(r.created_at),
                    uuid=r.domain_uuid,
                    name=r.domain_name,
                )
                for r in rows
            ]
