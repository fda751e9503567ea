"""libvirt domain lifecycle events, as a queue a caller can read.

libvirt calls our callbacks from the default event loop's thread
(host/eventloop.py, registered before the connection opened); they only put
an event on a queue, so the reader decides how long to wait.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import libvirt

from .connection import Host

# (event, {detail code: detail}) as virsh event --list names them.
_LIFECYCLE: dict[int, tuple[str, dict[int, str]]] = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: (
        "defined",
        {0: "added", 1: "updated", 2: "renamed", 3: "from snapshot"},
    ),
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: ("undefined", {0: "removed", 1: "renamed"}),
    libvirt.VIR_DOMAIN_EVENT_STARTED: (
        "started",
        {0: "booted", 1: "migrated", 2: "restored", 3: "from snapshot", 4: "woken up"},
    ),
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: (
        "paused",
        {
            0: "paused",
            1: "migrated",
            2: "I/O error",
            3: "watchdog",
            4: "restored",
            5: "from snapshot",
            6: "API error",
            7: "postcopy",
            8: "postcopy failed",
        },
    ),
    libvirt.VIR_DOMAIN_EVENT_RESUMED: (
        "resumed",
        {0: "unpaused", 1: "migrated", 2: "from snapshot", 3: "postcopy", 4: "postcopy failed"},
    ),
    libvirt.VIR_DOMAIN_EVENT_STOPPED: (
        "stopped",
        {
            0: "shutdown",
            1: "destroyed",
            2: "crashed",
            3: "migrated",
            4: "saved",
            5: "failed",
            6: "from snapshot",
        },
    ),
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: ("shutdown", {0: "finished", 1: "by guest", 2: "by host"}),
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: ("pmsuspended", {0: "memory", 1: "disk"}),
    libvirt.VIR_DOMAIN_EVENT_CRASHED: ("crashed", {0: "panicked", 1: "crashloaded"}),
}


@dataclass(frozen=True)
class DomainEvent:
    time: datetime
    vm: str
    event: str
    detail: str


def describe(event: int, detail: int) -> tuple[str, str]:
    name, details = _LIFECYCLE.get(event, (f"event-{event}", {}))
    return name, details.get(detail, str(detail))


class EventWatch:
    """Lifecycle (and reboot) events of every VM, or of one VM by name.

    Registered when made, so nothing that happens after the constructor
    returns is missed; ``close`` deregisters.
    """

    def __init__(self, host: Host, name: str | None = None) -> None:
        self._name = name
        self._queue: queue.Queue[DomainEvent] = queue.Queue()
        self._conn: Any = host.conn
        self._ids: list[int] = []
        register = self._conn.domainEventRegisterAny
        self._ids.append(
            host.call(
                "watch VM events",
                lambda _c: register(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
                ),
            )
        )
        self._ids.append(
            host.call(
                "watch VM events",
                lambda _c: register(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot, None
                ),
            )
        )

    def _put(self, dom: Any, event: str, detail: str) -> None:
        name = dom.name()
        if self._name is None or name == self._name:
            self._queue.put(DomainEvent(datetime.now().astimezone(), name, event, detail))

    def _on_lifecycle(self, _conn: Any, dom: Any, event: int, detail: int, _opaque: Any) -> None:
        self._put(dom, *describe(event, detail))

    def _on_reboot(self, _conn: Any, dom: Any, _opaque: Any) -> None:
        self._put(dom, "rebooted", "by guest or host")

    def get(self, timeout: float) -> DomainEvent | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        for callback_id in self._ids:
            try:
                self._conn.domainEventDeregisterAny(callback_id)
            except libvirt.libvirtError:
                pass  # the connection is gone, and the callbacks with it
        self._ids.clear()
