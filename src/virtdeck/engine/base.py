"""What every part of the engine shares: settings, the host, history, locks.

The engine is one class (``virtdeck.engine.Engine``) assembled from one mixin
per area (VMs, live changes, snapshots, history, ...), each in its own
module. They all build on ``EngineBase``: the host connection, the history
store, the per-VM lock, and ``redefine``, the one way a definition changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import libvirt

from virtdeck.host import domains
from virtdeck.host.connection import Host
from virtdeck.model import Domain
from virtdeck.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SqlEngine

    from .history import HistoryStore
    from .operations import OperationStore
from .locks import held_here, vm_lock


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
        with vm_lock(self.settings.data_dir / "locks", name, action):
            yield

    def locked_here(self, name: str) -> bool:
        """Whether this process holds the lock of VM ``name`` now."""
        return held_here(self.settings.data_dir / "locks", name)

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
        if model.name and domains.exists(self.host, model.name):
            self.observe(self.lookup(model.name))
        dom = domains.define(self.host, xml, f"{action} VM {model.name}", validate)
        self.history.record(
            self.host.uri, dom.UUIDString(), dom.name(), self.inactive_xml(dom), action
        )
        return dom

    def record_deletion(self, dom: Any) -> None:
        self.history.record(
            self.host.uri,
            dom.UUIDString(),
            dom.name(),
            self.inactive_xml(dom),
            "delete",
            deleted=True,
        )
