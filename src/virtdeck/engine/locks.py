"""One operation per VM at a time, across processes.

A second command on a VM that is already being changed gets Conflict at
once instead of racing the first one into a half-written definition.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from virtdeck.errors import Conflict

# The locks this process holds: a lock file locked again from the same
# process (another open file) would conflict with itself.
_held_here: set[Path] = set()


def held_here(lock_dir: Path, name: str) -> bool:
    return lock_dir / f"{name}.lock" in _held_here


@contextmanager
def vm_lock(lock_dir: Path, name: str, action: str) -> Iterator[None]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another command"
            raise Conflict(
                f"VM {name} is busy ({holder}); wait for that to finish, then retry"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{action} by pid {os.getpid()}".encode(), 0)
        _held_here.add(path)
        try:
            yield
        finally:
            _held_here.discard(path)
    finally:
        os.close(fd)
