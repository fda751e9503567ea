"""What an operation record holds, and whether the process running one lives.

Kept apart from the database code (operations.py) so that commands that
never touch an operation do not load SQLAlchemy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Resource:
    type: str  # "file" or "domain" (a domain by UUID)
    name: str


@dataclass(frozen=True)
class OperationRecord:
    id: int
    host_uri: str
    kind: str
    target: str
    state: str
    step: str
    progress: int
    process: str
    error: str
    started_at: datetime
    ended_at: datetime | None
    resources: list[Resource] = field(default_factory=list)


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


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
