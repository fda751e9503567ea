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

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from virtdeck.host.events import DomainEvent, EventWatch

from ..context import HostContext
from ..schemas import VmSummary
from .vms import VmService

RESYNC_SECONDS = 10.0
# Versions are unique in the process, across caches: a page kept for one
# engine's listing is never taken for another's (two servers in one process).
_VERSIONS = itertools.count(1)


@dataclass
class _Flight:
    """One read of the listing under way, and what it came to."""

    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[int, list[VmSummary]] | None = None
    error: BaseException | None = None


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
        self._flight: _Flight | None = None

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
        # What happened while nobody watched is unknown: the caller reads now.
        self._watched_conn = self._ctx.host.current_conn()

    def current_version(self) -> int | None:
        """The version of a listing that is still good, without reading anything; None if stale.

        Memory only: a server can answer from a page it wrote for this
        version without handing the request to a worker thread.
        """
        return self._version if self._fresh() else None

    def listing(self) -> tuple[int, list[VmSummary]]:
        """(version, the VMs with their addresses); the version changes with the listing.

        One thread reads while the others wait for its result (or its error):
        a thousand clients after one event cost one read, and while libvirtd
        is away they all hear so after one wait, not one after another.
        """
        with self._lock:
            if self._fresh():
                assert self._listing is not None
                return self._version, self._listing
            flight = self._flight
            leading = flight is None
            if flight is None:
                flight = self._flight = _Flight()
        if not leading:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        try:
            # Cleared before the read: an event that comes during it marks it again.
            self._dirty = False
            read_at = time.monotonic()
            self._watching()
            listing = self._vms.list_vms(with_addresses=True)
        except BaseException as exc:
            self._dirty = True
            with self._lock:
                self._flight = None
            flight.error = exc
            flight.done.set()
            raise
        with self._lock:
            self._listing, self._read_at = listing, read_at
            self._version = next(_VERSIONS)
            flight.result = (self._version, listing)
            self._flight = None
        flight.done.set()
        return flight.result

    def _fresh(self) -> bool:
        return (
            self._listing is not None
            and not self._dirty
            and self._ctx.host.current_conn() is self._watched_conn
            and time.monotonic() - self._read_at <= RESYNC_SECONDS
            and self._ctx.host.connected() is True
        )

    def close(self) -> None:
        with self._lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
