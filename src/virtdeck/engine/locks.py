"""One command per VM (or per name being claimed) at a time.

A second command on a VM that is already being changed gets Conflict at
once instead of racing the first one into a half-written definition. A lock
is keyed by (host, kind, value): kind ``vm`` is an existing VM by UUID, kind
``name`` a name being claimed (create, a clone's or a rename's target), so
two creates of one name exclude each other before either VM exists.

One interface, two backends:

- ``FileLocks``: flock(2) on files under the data dir, for the embedded CLI.
  A file's name is a digest of the key, never the name itself: a name is
  user input ('../../etc/x', 4 KB long) and must not choose a path. The
  file exists only while the lock is held, so a command on a VM that does
  not exist leaves nothing behind.
- ``LeaseLocks`` (leases.py): rows in the database with an expiry that a
  heartbeat pushes on, for servers sharing one database.

What a task holds is tracked in a ``ContextVar``, not in the process: a
thread (or an asyncio task) sees only its own holds. Holding a key this
task holds already is a no-op, so code under a lock may call code that
takes the same lock; another thread of the same process gets Conflict, as
another process would (flock locks belong to an open file, not a process).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid as uuidlib
from collections.abc import Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from virtdeck.errors import Conflict, InvalidInput
from virtdeck.host.domains import checked_name

if TYPE_CHECKING:
    from .leases import LeaseLocks

__all__ = [
    "FileLocks",
    "LeaseLocks",
    "LockKey",
    "LockManager",
    "busy_message",
]

LockKind = Literal["vm", "name"]


@dataclass(frozen=True)
class LockKey:
    host: str  # the host's identity: its URI (file backend) or its id (lease backend)
    kind: LockKind
    value: str  # the VM's UUID (kind vm) or the name (kind name)

    def __post_init__(self) -> None:
        if not self.host:
            raise InvalidInput("a lock needs the host it is on; got an empty host")
        if self.kind == "name":
            checked_name(self.value)  # before the name comes near a file or a row
        elif self.kind == "vm":
            try:
                canonical = str(uuidlib.UUID(self.value))
            except ValueError:
                raise InvalidInput(
                    f"a VM's lock is keyed by its UUID; {self.value!r} is not one"
                ) from None
            # One VM, one key, however its UUID was spelt.
            object.__setattr__(self, "value", canonical)
        else:
            raise InvalidInput(f"a lock is of kind 'vm' or 'name', not {self.kind!r}")


class LockManager(Protocol):
    def hold(self, key: LockKey, label: str, action: str) -> AbstractContextManager[None]:
        """Hold ``key`` for the ``with`` block; Conflict at once when another holds it.

        ``label`` names the thing in a message ("VM web1"), ``action`` says
        what the holder does ("start"), for whoever finds it busy.
        """
        ...

    def held_here(self, key: LockKey) -> bool:
        """Whether this task (thread, asyncio task) holds ``key`` now."""
        ...


def busy_message(label: str, holder: str) -> str:
    return f"{label} is busy ({holder}); wait for that to finish, then retry"


# -- what this task holds ---------------------------------------------------


@dataclass(eq=False)
class _Hold:
    where: Hashable
    active: bool = True


# A tuple, replaced on each change, so that a context copied into a new
# asyncio task never shares a mutable set with its parent. A hold marks
# itself inactive when it ends: a task that outlives the block it was
# started in must not believe it still holds the lock.
_held: ContextVar[tuple[_Hold, ...]] = ContextVar("virtdeck_held_locks", default=())


def held_in_this_task(where: Hashable) -> bool:
    return any(h.active and h.where == where for h in _held.get())


@contextmanager
def tracking(where: Hashable) -> Iterator[None]:
    """Count ``where`` as held by this task for the ``with`` block."""
    hold = _Hold(where)
    token = _held.set((*_held.get(), hold))
    try:
        yield
    finally:
        hold.active = False
        _held.reset(token)


# -- the file backend -------------------------------------------------------


def _open_locked(path: Path, label: str) -> int:
    """An fd holding the flock of ``path``, the file that is there now.

    A holder unlinks the file when it lets go; whoever had opened the old
    file meanwhile and then got its lock holds a lock nobody else sees, so
    it checks that the path still is its file and starts again if not.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another command"
            os.close(fd)
            raise Conflict(busy_message(label, holder)) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


class FileLocks:
    """Locks as flock(2)ed files in ``lock_dir``; they exclude across processes of one machine."""

    def __init__(self, lock_dir: Path) -> None:
        self._dir = lock_dir

    def path(self, key: LockKey) -> Path:
        """Where ``key``'s lock file lives: a fixed-length name that no input chooses."""
        digest = hashlib.sha256(f"{key.host}\0{key.kind}\0{key.value}".encode()).hexdigest()
        return self._dir / f"{key.kind}-{digest[:32]}.lock"

    def _where(self, key: LockKey) -> Hashable:
        return ("file", str(self.path(key).absolute()))

    def held_here(self, key: LockKey) -> bool:
        return held_in_this_task(self._where(key))

    @contextmanager
    def hold(self, key: LockKey, label: str, action: str) -> Iterator[None]:
        where = self._where(key)
        if held_in_this_task(where):
            yield
            return
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(key)
        fd = _open_locked(path, label)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{action} by pid {os.getpid()}".encode(), 0)
            with tracking(where):
                try:
                    yield
                finally:
                    # Unlinked while still locked: see _open_locked.
                    path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def __getattr__(name: str) -> object:
    # LeaseLocks needs SQLAlchemy, which a plain 'vm list' must not load.
    if name == "LeaseLocks":
        from .leases import LeaseLocks  # noqa: PLC0415

        return LeaseLocks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
