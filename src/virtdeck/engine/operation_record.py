"""What an operation record holds, and whether the process running one lives.

Kept apart from the database code (operations.py) so that commands that
never touch an operation do not load SQLAlchemy.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"

_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


@dataclass(frozen=True)
class Resource:
    type: str  # "file" or "domain" (a domain by UUID)
    name: str


@dataclass(frozen=True)
class OperationRecord:
    id: int
    host_id: str
    kind: str
    target: str
    state: str
    step: str
    progress: int
    # boot id / pid / pid's start time (process_identity) of the process running it.
    process: str
    error: str
    started_at: datetime
    ended_at: datetime | None
    resources: list[Resource] = field(default_factory=list)
    # Who runs it, for people and for a server that looks for its own rows.
    owner: str = ""
    machine_id: str = ""
    heartbeat_at: datetime | None = None
    # JSON the operation produced (what it made), once it has finished.
    result: str | None = None
    # The VirtdeckError code of a failure ("conflict", ...), "" otherwise.
    error_code: str = ""
    # The error cut into words and the request fields it names (errors.marked_parts).
    error_parts: list[tuple[str, bool]] = field(default_factory=list)


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


@functools.cache
def machine_id() -> str:
    """This machine's systemd/D-Bus machine id; "" where it has none."""
    for path in _MACHINE_ID_FILES:
        try:
            return path.read_text().strip()
        except OSError:
            continue
    return ""


def default_owner() -> str:
    """Who "this process" is in a record or a lease: host name and pid."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain.
    fields = stat.rsplit(")", 1)[1].split()
    # A zombie has ended; only its exit status waits to be collected (and
    # where PID 1 never collects it, as on these machines, it waits forever).
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def process_identity(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{_boot_id()}/{pid}/{_start_time(pid)}"


def process_alive(identity: str) -> bool:
    boot, pid, started = identity.split("/")
    return boot == _boot_id() and _start_time(int(pid)) == started


def runs_here(record: OperationRecord) -> bool:
    """Whether the record's process is (or was) on this machine in this boot.

    Only then can /proc say whether it lives. Both ids must match: machines
    cloned from one image often share a machine id, so a row with our machine
    id and another boot id may be a twin's, still running, and is judged by
    its heartbeat like any other machine's.
    """
    boot = record.process.split("/", 1)[0]
    return record.machine_id == machine_id() and boot == _boot_id()


def is_orphaned(record: OperationRecord, stale_after: float, now: datetime) -> bool:
    """Whether a running operation has lost the process that ran it.

    Here, the process is asked (a dead pid is dead at once). Elsewhere, or
    before this machine's last reboot, only its heartbeat can tell: silent
    for ``stale_after`` seconds (or never heard, and started that long ago)
    means gone, so a live process on another machine is never taken for dead
    just because its pid means nothing here.
    """
    if record.state != RUNNING:
        return False
    if runs_here(record):
        return not process_alive(record.process)
    last = record.heartbeat_at or record.started_at
    return (now - last).total_seconds() > stale_after
