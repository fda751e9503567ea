"""One host's context: what every service of the engine is built with.

A ``HostContext`` holds the settings, the host's connection, the stores
(history, operations; opened on first use, so a quick ``vm list`` never
loads SQLAlchemy) and the lock manager. Services get it as a constructor
argument; none of them builds its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from virtdeck.errors import Conflict
from virtdeck.host import disk_modes, places
from virtdeck.host.connection import Host
from virtdeck.host.domains import checked_name
from virtdeck.host.handle import DomainHandle
from virtdeck.settings import Settings

from .actors import ACTIONS
from .locks import FileLocks, LockKey, LockManager
from .meta import META_CREATED_DISKS

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SqlEngine

    from .history import HistoryStore
    from .operations import OperationStore


class HostContext:
    def __init__(
        self,
        settings: Settings,
        host: Host | None = None,
        locks: LockManager | None = None,
        database: SqlEngine | None = None,
    ) -> None:
        self.settings = settings
        self.host = host or Host(settings.uri)
        self.locks: LockManager = locks or FileLocks(settings.data_dir / "locks")
        self._database = database
        self._owns_database = database is None
        self._history: HistoryStore | None = None
        self._operations: OperationStore | None = None
        self._host_id: str | None = None

    def close(self) -> None:
        self.host.close()
        if self._database is not None and self._owns_database:
            self._database.dispose()

    # -- the stores -----------------------------------------------------------
    def database(self) -> SqlEngine:
        if self._database is None:
            # SQLAlchemy and Alembic load here, not at start-up: a quick
            # 'vm list' should not pay for them.
            from .db import open_migrated  # noqa: PLC0415

            self._database = open_migrated(self.settings.data_dir, self.settings.database_url)
        return self._database

    @property
    def host_id(self) -> str:
        """This host's id in the database (``local`` for the first local URI)."""
        if self._host_id is None:
            from .hosts import HostStore  # noqa: PLC0415 - see database()

            self._host_id = HostStore(self.database()).ensure(self.host.uri).id
        return self._host_id

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

    # -- locks ----------------------------------------------------------------
    def _lock_host(self) -> str:
        # File locks belong to one machine, where the URI names the host
        # without a database; leases are shared through one, by host id.
        return self.host.uri if isinstance(self.locks, FileLocks) else self.host_id

    def vm_key(self, handle: DomainHandle) -> LockKey:
        return LockKey(self._lock_host(), "vm", handle.uuid)

    def name_key(self, name: str) -> LockKey:
        checked_name(name)  # before the name comes near a file or a row
        return LockKey(self._lock_host(), "name", name)

    @contextlib.contextmanager
    def lock_vm(self, handle: DomainHandle, action: str) -> Iterator[None]:
        """One change per VM at a time (by UUID); a second gets Conflict at once.

        The VM was looked up by name before its lock was taken; once held,
        the name must still be its own, so that a command that goes on by
        name acts on the VM it locked.
        """
        with self.locks.hold(self.vm_key(handle), f"VM {handle.name}", action):
            now = handle.current_name()
            if now != handle.name:
                raise Conflict(
                    f"VM {handle.name} was renamed to {now} meanwhile; "
                    "run the command again with its new name"
                )
            self._make_old_disks_private()
            with ACTIONS.acting(self.host.uri, action, uuid=handle.uuid, name=handle.name):
                yield

    @contextlib.contextmanager
    def lock_name(self, name: str, action: str) -> Iterator[None]:
        """A name being taken (create, a clone's or a rename's new name)."""
        with self.locks.hold(self.name_key(name), f"VM {name}", action):
            self._make_old_disks_private()
            with ACTIONS.acting(self.host.uri, action, name=name):
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
        changed = disk_modes.make_private(disk_modes.created_disks(self.host, META_CREATED_DISKS))
        marker.write_text("".join(f"made private: {path}\n" for path in changed))

    # -- files a user names -----------------------------------------------------
    def check_place(self, path: Path, what: str) -> Path:
        """``path`` resolved, if it lies in a storage pool or an allowed directory.

        Every file a user names (an image, a disk to import or attach, a CD)
        goes through this before anything reads it.
        """
        return places.check_place(self.host, path, what, self.settings.allowed_dirs)
