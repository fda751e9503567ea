"""Reading the appliance's status lines from its serial log.

The appliance prints ``virtdeck-appliance ready key=value ...`` once it is up
and ``virtdeck-appliance changed ...`` whenever what it reports changes; see
appliance/rootfs/sbin/appliance-monitor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from virtdeck.engine import Engine

MARK = "virtdeck-appliance "


@dataclass(frozen=True)
class Status:
    word: str  # ready, changed, seed, shutdown, power-button
    fields: dict[str, str]

    @property
    def cpus(self) -> int:
        return int(self.fields["cpus"])

    @property
    def mem_kib(self) -> int:
        return int(self.fields["mem_kib"])

    @property
    def disks(self) -> list[str]:
        return [d for d in self.fields.get("disks", "").split(",") if d]

    @property
    def nics(self) -> dict[str, str]:
        found = {}
        for item in self.fields.get("nics", "").split(","):
            if ":" in item:
                nic, addr = item.split(":", 1)
                found[nic] = addr
        return found


def parse(line: str) -> Status | None:
    at = line.find(MARK)
    if at < 0:
        return None
    words = line[at + len(MARK) :].split()
    if not words:
        return None
    fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    return Status(words[0], fields)


def wait_for(
    engine: Engine, name: str, want: Callable[[Status], bool], timeout: float = 90.0
) -> Status:
    """The first status line since the VM started that satisfies ``want``."""
    deadline = time.monotonic() + timeout
    for line in engine.follow_log(name, timeout=timeout):
        status = parse(line)
        if status is not None and want(status):
            return status
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"{name}: no matching status line within {timeout} s")


def wait_ready(engine: Engine, name: str, timeout: float = 90.0) -> Status:
    return wait_for(engine, name, lambda s: s.word == "ready", timeout)


def latest(engine: Engine, name: str) -> Status:
    """The newest ready/changed line so far."""
    found = None
    for line in engine.read_log(name).splitlines():
        status = parse(line)
        if status is not None and status.word in ("ready", "changed"):
            found = status
    assert found is not None, f"{name} printed no status line yet"
    return found
