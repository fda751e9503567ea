"""What every part of the engine shares: settings, the host, history, locks.

The engine is one class (``virtdeck.engine.Engine``) assembled from one mixin
per area (VMs, live changes, snapshots, history, ...), each in its own
module. They all build on ``EngineBase``: the host connection, the history
store, the per-VM lock, and ``redefine``, the one way a definition changes.
"""

from __future__ import annotations

import contextlib
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import libvirt

from virtdeck.errors import Conflict, InvalidInput
from virtdeck.host import disk_modes, domains, places
from virtdeck.host.connection import Host
from virtdeck.model import Domain
from virtdeck.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SqlEngine

    from .history import HistoryStore
    from .operations import OperationStore
from .locks import held_here, vm_lock


def canonical_uuid(text: str | None) -> str | None:
    """A ``<uuid>`` as libvirt prints it (lower case, with dashes); None when absent."""
    if text is None or not text.strip():
        return None
    try:
        return str(uuidlib.UUID(text.strip()))
    except ValueError:
        raise InvalidInput(f"<uuid>{text}</uuid> is not a UUID") from None


class EngineBase:
    def __init__(self, settings: Settings, host: Host | None = None) -> None:
        self.settings = settings
        self.host = host or Host(settings.uri)
        self._database: SqlEngine | None = None
        self._history: HistoryStore | None = None
        self._operations: OperationStore | None = None

    def close(self) -> None:
        self.host.close()
        if self._database is not None:
            self._database.dispose()

    def database(self) -> SqlEngine:
        if self._database is None:
            # SQLAlchemy and Alembic load here, not at start-up: a quick
            # 'vm list' should not pay for them.
            from .db import open_migrated  # noqa: PLC0415

            self._database = open_migrated(self.settings.data_dir)
        return self._database

    @property
    def history(self) -> HistoryStore:
        if self._history is None:
            from .history import HistoryStore  # noqa: PLC0415 - see database()

            self._history = HistoryStore(self.database())
        return self._history

    @property
    def operation_store(self) -> OperationStore:
        if self._operations is None:
            from .operations import OperationStore  # noqa: PLC0415 - see database()

            self._operations = OperationStore(self.database())
        return self._operations

    @contextlib.contextmanager
    def lock(self, name: str, action: str) -> Iterator[None]:
        """One operation per VM at a time; a second gets Conflict at once."""
        with vm_lock(self.settings.data_dir / "locks", self.host.uri, name, action):
            self._make_old_disks_private()
            yield

    def _make_old_disks_private(self) -> None:
        """Once per data directory and host: the disks made before 0600 become 0600.

        Run by the first command that changes something, not by reading ones.
        """
        if not self.host.is_local or self.host.is_test_driver:
            return
        marker = self.settings.data_dir / "disk-modes-private"
        if marker.exists():
            return
        from .vms import META_CREATED_DISKS  # noqa: PLC0415 - vms builds on this module

        changed = disk_modes.make_private(disk_modes.created_disks(self.host, META_CREATED_DISKS))
        marker.write_text("".join(f"made private: {path}\n" for path in changed))

    def locked_here(self, name: str) -> bool:
        """Whether this process holds the lock of VM ``name`` now."""
        return held_here(self.settings.data_dir / "locks", self.host.uri, name)

    def check_place(self, path: Path, what: str) -> Path:
        """``path`` resolved, if it lies in a storage pool or an allowed directory.

        Every file a user names (an image, a disk to import or attach, a CD)
        goes through this before anything reads it.
        """
        return places.check_place(self.host, path, what, self.settings.allowed_dirs)

    # -- reading --------------------------------------------------------------
    def lookup(self, name: str) -> Any:
        return domains.lookup(self.host, name)

    def inactive_xml(self, dom: Any) -> str:
        """The persistent definition (what a restart would use)."""
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        return str(
            self.host.call(f"read the definition of {dom.name()}", lambda _c: dom.XMLDesc(flags))
        )

    def model(self, name: str) -> tuple[Any, Domain]:
        """The virDomain and a model of its persistent definition."""
        dom = self.lookup(name)
        return dom, Domain.from_xml(self.inactive_xml(dom))

    # -- history --------------------------------------------------------------
    def observe(self, dom: Any) -> None:
        """Record the current definition if it changed since virtdeck last saw it.

        This is how edits made outside virtdeck (virsh edit, virt-xml) land in
        the history: the next virtdeck command that looks at the VM keeps them.
        """
        if not dom.isPersistent():
            return
        self.history.record(
            self.host.uri, dom.UUIDString(), dom.name(), self.inactive_xml(dom), "external"
        )

    def redefine(self, xml: str, action: str, validate: bool = False) -> Any:
        """Define ``xml`` (a new or changed VM), keeping the version it replaces.

        ``validate`` has libvirt check the XML against its schema first, which
        catches misspelt elements that a plain define would silently drop.
        """
        model = Domain.from_xml(xml)
        holder = None
        if model.name and domains.exists(self.host, model.name):
            holder = self.lookup(model.name)
            self.observe(holder)
        self._check_identity(model, holder)
        dom = domains.define(self.host, xml, f"{action} VM {model.name}", validate)
        self.history.record(
            self.host.uri, dom.UUIDString(), dom.name(), self.inactive_xml(dom), action
        )
        return dom

    def _check_identity(self, model: Domain, holder: Any | None) -> None:
        """A definition handed to libvirt is the VM it names, never a different one.

        libvirt takes a definition without ``<uuid>`` for a new VM, and one
        whose UUID another VM has for a rename of that VM; neither is a change
        of the VM that has the name. ``holder`` is the VM that has it now.
        """
        name = model.name
        uuid = canonical_uuid(model.uuid)
        if holder is not None:
            theirs = holder.UUIDString()
            if uuid is None:
                raise InvalidInput(
                    f"the definition of VM {name} has no <uuid>, so libvirt would take it for "
                    f"a new VM; VM {name} keeps its UUID: give <uuid>{theirs}</uuid>"
                )
            if uuid != theirs:
                raise Conflict(
                    f"VM {name} exists with UUID {theirs}, and a definition with UUID {uuid} "
                    f"is another VM; rename or delete VM {name} first"
                )
        if uuid is not None:
            other = domains.by_uuid(self.host, uuid)
            if other is not None and other.name() != name:
                raise Conflict(
                    f"UUID {uuid} is VM {other.name()}'s, and a definition naming it {name} "
                    f"would rename it; use 'virtdeck vm rename {other.name()} {name}'"
                )

    def record_deletion(self, dom: Any) -> None:
        self.history.record(
            self.host.uri,
            dom.UUIDString(),
            dom.name(),
            self.inactive_xml(dom),
            "delete",
            deleted=True,
        )
