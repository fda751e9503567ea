"""One operation per VM at a time, across processes.

A second command on a VM that is already being changed gets Conflict at
once instead of racing the first one into a half-written definition.

The lock file's name is a digest of the host and the VM's name, never the
name itself: a name is user input ('../../etc/x', 4 KB long) and must not
choose a path. The file exists only while the lock is held, so a command
on a VM that does not exist leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from virtdeck.errors import Conflict
from virtdeck.host.domains import checked_name

# The locks this process holds: a lock file locked again from the same
# process (another open file) would conflict with itself.
_held_here: set[Path] = set()


def lock_path(lock_dir: Path, host_uri: str, name: str) -> Path:
    """Where the lock of VM ``name`` on ``host_uri`` lives: a fixed-length safe name."""
    key = hashlib.sha256(f"{host_uri}\0{name}".encode()).hexdigest()[:32]
    return lock_dir / f"vm-{key}.lock"


def held_here(lock_dir: Path, host_uri: str, name: str) -> bool:
    return lock_path(lock_dir, host_uri, name) in _held_here


def _open_locked(path: Path, name: str) -> int:
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
            raise Conflict(
                f"VM {name} is busy ({holder}); wait for that to finish, then retry"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def vm_lock(lock_dir: Path, host_uri: str, name: str, action: str) -> Iterator[None]:
    checked_name(name)  # before the name comes near a file
    lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = lock_path(lock_dir, host_uri, name)
    fd = _open_locked(path, name)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{action} by pid {os.getpid()}".encode(), 0)
        _held_here.add(path)
        try:
            yield
        finally:
            _held_here.discard(path)
            # Unlinked while still locked: see _open_locked.
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
