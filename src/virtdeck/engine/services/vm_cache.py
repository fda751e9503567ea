"""The VM list a server keeps: fed by libvirt's events, repaired by a periodic resync.

A server answers the same list to many clients; reading it from libvirt for
each (a bulk call, then a summary per VM) costs tens of milliseconds at a
thousand VMs. This keeps the last listing and reads it again only when it
may be stale: after a domain event (anything virsh or virtdeck does to a
VM's state or definition sends one), after a change the server made itself
(``invalidate``), and at least every ``RESYNC_SECONDS``, which catches what
sends no event (an autostart flag, a guest's new address). After libvirtd
restarts, the watch is registered again on the new connection.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from virtdeck.host.events import DomainEvent, EventWatch

from ..context import HostContext
from ..schemas import VmSummary
from .vms import VmService

RESYNC_SECONDS = 10.0


class VmListCache:
    def __init__(self, ctx: HostContext, vms: VmService) -> None:
        self._ctx = ctx
        self._vms = vms
        self._lock = threading.Lock()
        self._listing: list[VmSummary] | None = None
        self._version = 0
        self._read_at = 0.0
        self._dirty = True
        self._watch: EventWatch | None = None
        self._watched_conn: Any = None

    def _on_event(self, _event: DomainEvent) -> None:
        # On libvirt's event thread: only a flag, never a call back into libvirt.
        self._dirty = True

    def invalidate(self) -> None:
        self._dirty = True

    def _watching(self) -> None:
        conn = self._ctx.host.current_conn()
        if conn is not None and conn is self._watched_conn:
            return
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        self._watch = EventWatch(self._ctx.host, deliver=self._on_event)
        self._watched_conn = self._ctx.host.current_conn()
        self._dirty = True  # what happened while nobody watched is unknown

    def current_version(self) -> int | None:
        """The version of a listing that is still good, without reading anything; None if stale.

        Memory only: a server can answer from a page it wrote for this
        version without handing the request to a worker thread.
        """
        conn = self._ctx.host.current_conn()
        if (
            self._listing is None
            or self._dirty
            or conn is None
            or conn is not self._watched_conn
            or time.monotonic() - self._read_at > RESYNC_SECONDS
        ):
            return None
        return self._version

    def listing(self) -> tuple[int, list[VmSummary]]:
        """(version, the VMs with their addresses); the version changes with the listing."""
        with self._lock:
            self._watching()
            stale = time.monotonic() - self._read_at > RESYNC_SECONDS
            if self._listing is None or self._dirty or stale:
                # Cleared before the read: an event that comes during it marks it again.
                self._dirty = False
                self._read_at = time.monotonic()
                try:
                    self._listing = self._vms.list_vms(with_addresses=True)
                except BaseException:
                    self._dirty = True
                    raise
                self._version += 1
            return self._version, self._listing

    def close(self) -> None:
        with self._lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
