"""libvirt domain lifecycle events, as a queue a caller can read.

libvirt calls our callbacks from the default event loop's thread
(host/eventloop.py, registered before the connection opened); they only put
an event on a queue, so the reader decides how long to wait.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
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
    uuid: str = ""


def describe(event: int, detail: int) -> tuple[str, str]:
    name, details = _LIFECYCLE.get(event, (f"event-{event}", {}))
    return name, details.get(detail, str(detail))


class _Dispatcher:
    """The one registration per connection and event kind, shared by every watch on it.

    libvirt refuses a second callback for the same event on one connection
    ("event callback already tracked"), so watches subscribe here instead.
    """

    def __init__(self, host: Host, conn: Any) -> None:
        self.conn = conn
        self.watchers: dict[int, Callable[[Any, str, str], None]] = {}
        # Its own lock, not the module's: libvirt's event thread takes only this one.
        self.lock = threading.Lock()
        self.ids: list[int] = []
        try:
            self._register(host, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle)
            self._register(host, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot)
        except BaseException:
            self.deregister()
            raise

    def _register(self, host: Host, event_id: int, callback: Callable[..., None]) -> None:
        register = self.conn.domainEventRegisterAny
        self.ids.append(
            host.call("watch VM events", lambda _c: register(None, event_id, callback, None))
        )

    def _each(self, dom: Any, event: str, detail: str) -> None:
        with self.lock:
            watchers = list(self.watchers.values())
        for put in watchers:
            put(dom, event, detail)

    def _on_lifecycle(self, _conn: Any, dom: Any, event: int, detail: int, _opaque: Any) -> None:
        self._each(dom, *describe(event, detail))

    def _on_reboot(self, _conn: Any, dom: Any, _opaque: Any) -> None:
        self._each(dom, "rebooted", "by guest or host")

    def deregister(self) -> None:
        for callback_id in self.ids:
            try:
                self.conn.domainEventDeregisterAny(callback_id)
            except libvirt.libvirtError:
                pass  # the connection is gone, and the callbacks with it
        self.ids.clear()


# By id() of the connection; a dispatcher holds its connection, so the id
# cannot be reused while it is here.
_DISPATCHERS: dict[int, _Dispatcher] = {}
_DISPATCHERS_LOCK = threading.Lock()


class EventWatch:
    """Lifecycle (and reboot) events of every VM, or of one VM by name.

    Registered when made, so nothing that happens after the constructor
    returns is missed; ``close`` deregisters. With ``deliver``, each event
    is handed to it on libvirt's event thread instead of queued here. Any
    number of watches may be open on one host at once.
    """

    def __init__(
        self,
        host: Host,
        name: str | None = None,
        deliver: Callable[[DomainEvent], None] | None = None,
    ) -> None:
        self._name = name
        self._queue: queue.Queue[DomainEvent] = queue.Queue()
        self._deliver = deliver or self._queue.put
        conn = host.conn
        with _DISPATCHERS_LOCK:
            dispatcher = _DISPATCHERS.get(id(conn))
            if dispatcher is None:
                dispatcher = _DISPATCHERS[id(conn)] = _Dispatcher(host, conn)
            with dispatcher.lock:
                dispatcher.watchers[id(self)] = self._put
        self._dispatcher: _Dispatcher | None = dispatcher

    def _put(self, dom: Any, event: str, detail: str) -> None:
        name = dom.name()
        if self._name is None or name == self._name:
            when = datetime.now().astimezone()
            self._deliver(DomainEvent(when, name, event, detail, str(dom.UUIDString())))

    def get(self, timeout: float) -> DomainEvent | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is None:
            return
        with _DISPATCHERS_LOCK:
            with dispatcher.lock:
                dispatcher.watchers.pop(id(self), None)
                if dispatcher.watchers:
                    return
            if _DISPATCHERS.get(id(dispatcher.conn)) is dispatcher:
                del _DISPATCHERS[id(dispatcher.conn)]
            # Under the lock: a new watch on this connection registers only after.
            dispatcher.deregister()
