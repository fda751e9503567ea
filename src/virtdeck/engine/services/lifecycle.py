"""Lifecycle beyond start/stop: reboot, pause, resume, autostart, rename, events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from virtdeck.errors import Conflict, Hint, InvalidInput, Timeout, opt
from virtdeck.host import domains
from virtdeck.host.connection import Host
from virtdeck.host.events import DomainEvent, EventWatch
from virtdeck.host.handle import DomainHandle
from virtdeck.model import Domain, InvalidName, check_name

from ..actors import ACTIONS
from ..context import HostContext
from ..definitions import Definitions
from ..operation_record import OperationRecord
from ..pubsub import DropOldest, operation_updates
from ..schemas import VmDetail, VmEvent, VmSummary
from .operation_run import operation_info
from .vms import VmService


def checked_new_name(name: str) -> str:
    try:
        return check_name(name)
    except InvalidName as exc:
        raise InvalidInput(str(exc), field="new_name") from exc


class EventFeed:
    """Lifecycle events as VmEvent, until ``timeout`` (None: until closed or Ctrl-C).

    Each event carries who caused it where virtdeck did (``actors.ACTIONS``,
    asked when libvirt reports it). With ``operations_of`` (a host id) the
    feed also yields the updates of that host's operations run in this
    process, as events of kind ``operation``. Events wait in one bounded
    queue: a reader that falls far behind loses the oldest.
    """

    def __init__(
        self,
        host: Host,
        name: str | None,
        timeout: float | None,
        operations_of: str | None = None,
    ) -> None:
        self._uri = host.uri
        self._name = name
        self._host_id = operations_of
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._queue: DropOldest[VmEvent | tuple[datetime, OperationRecord]] = DropOldest()
        self._watch = EventWatch(host, name, deliver=self._on_domain_event)
        self._unsubscribe = (
            operation_updates.subscribe(self._on_operation) if operations_of is not None else None
        )

    def _on_domain_event(self, event: DomainEvent) -> None:
        who = ACTIONS.match(
            self._uri, event.uuid or None, event.vm, event.event, event.time.timestamp()
        )
        self._queue.put(
            VmEvent(
                time=event.time,
                vm=event.vm,
                event=event.event,
                detail=event.detail,
                uuid=event.uuid or None,
                actor=who.actor.user if who is not None else None,
                operation_id=who.operation_id if who is not None else None,
            )
        )

    def _on_operation(self, record: OperationRecord) -> None:
        if record.host_id == self._host_id and self._name in (None, record.target):
            self._queue.put((datetime.now().astimezone(), record))

    def __iter__(self) -> Iterator[VmEvent]:
        while True:
            wait = 0.5
            if self._deadline is not None:
                wait = min(wait, self._deadline - time.monotonic())
                if wait <= 0:
                    return
            item = self._queue.get(wait)
            if isinstance(item, VmEvent):
                yield item
            elif item is not None:
                yield _operation_event(*item)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._watch.close()

    def __enter__(self) -> EventFeed:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _operation_event(when: datetime, record: OperationRecord) -> VmEvent:
    # Looked up as it is read, not as it came: the first update (the row
    # made) comes before the operation is tied to whoever started it.
    who = ACTIONS.operation_actor(record.id)
    return VmEvent(
        time=when,
        vm=record.target,
        event="operation",
        detail=f"{record.kind} {record.state}: {record.step} ({record.progress}%)",
        actor=who.user if who is not None else None,
        operation_id=record.id,
        operation=operation_info(record),
    )


class LifecycleService:
    def __init__(self, ctx: HostContext, defs: Definitions, vms: VmService) -> None:
        self.ctx = ctx
        self.defs = defs
        self.vms = vms
        self.host = ctx.host
        self.settings = ctx.settings

    def _summary_of(self, name: str) -> VmSummary:
        return self.vms.summary(self.defs.lookup(name))

    def _running(self, dom: DomainHandle, action: str) -> DomainHandle:
        """The VM, which must be running (not paused, not shut off) for ``action``."""
        name = dom.name
        state = dom.state()
        if state == "paused":
            raise Conflict(
                f"VM {name} is paused; resume it to {action} it", hint=Hint("vm.resume", vm=name)
            )
        if state not in domains.ACTIVE_STATES:
            raise Conflict(
                f"VM {name} is not running ({state}); start it first",
                hint=Hint("vm.start", vm=name),
            )
        return dom

    # -- reboot, pause, resume ------------------------------------------------
    def reboot_vm(self, name: str, force: bool = False, timeout: float = 60.0) -> VmSummary:
        """A clean shutdown by ACPI, then a start; ``force`` resets at once.

        Not libvirt's ACPI reboot: a guest answers the power button by
        powering off, and libvirt's "fake reboot" then resumes the same QEMU,
        which with its lock manager on (virtlockd) fails on the disk lock the
        guest still holds and leaves the VM shut off (libvirt 9.0). A new QEMU
        also picks up changes made to the definition, as Proxmox's reboot does.
        """
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "reboot"):
            self._running(dom, "reboot")
            if force:
                dom.reset()
                return self._summary_of(name)
            try:
                domains.stop(self.host, name, timeout, force=False)
            except Timeout:
                raise Timeout(
                    f"VM {name} did not shut down within {timeout:g} s to reboot (the guest "
                    "ignored the ACPI power button) and still runs; a forced reboot resets it",
                    hint=Hint("vm.reboot.force", vm=name),
                ) from None
            domains.start(self.host, name)
        return self._summary_of(name)

    def pause_vm(self, name: str) -> VmSummary:
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "pause"):
            state = dom.state()
            if state == "paused":
                raise Conflict(f"VM {name} is already paused", hint=Hint("vm.resume", vm=name))
            if state not in domains.ACTIVE_STATES:
                raise Conflict(f"VM {name} is not running ({state}); only a running VM pauses")
            dom.suspend()
        return self._summary_of(name)

    def resume_vm(self, name: str) -> VmSummary:
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "resume"):
            state = dom.state()
            if state != "paused":
                raise Conflict(f"VM {name} is not paused ({state}); nothing to resume")
            dom.resume()
        return self._summary_of(name)

    # -- autostart, rename ----------------------------------------------------
    def set_autostart(self, name: str, enabled: bool) -> VmSummary:
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "autostart"):
            if not dom.is_persistent():
                raise Conflict(f"VM {name} is transient (not defined); only defined VMs autostart")
            dom.set_autostart(enabled)
        return self._summary_of(name)

    def rename_vm(self, name: str, new_name: str) -> VmDetail:
        """virsh domrename, plus the serial log follows the new name."""
        checked_new_name(new_name)
        if new_name == name:
            raise InvalidInput(
                f"VM {name} already has that name; give a different new name", field="new_name"
            )
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "rename"), self.ctx.lock_name(new_name, "rename"):
            state = dom.state()
            if state != "shut off":
                raise Conflict(
                    f"VM {name} is {state}, and libvirt renames only VMs that are shut off; "
                    "stop it first",
                    hint=Hint("vm.stop", vm=name),
                )
            if domains.exists(self.host, new_name):
                raise Conflict(
                    f"a VM named {new_name!r} already exists on {self.host.uri}", field="new_name"
                )
            self.defs.observe(dom)
            dom.rename(new_name)
            self.defs.record(dom, "rename")
            self._move_serial_logs(dom, name, new_name)
        return self.vms.get_vm(new_name)

    def _move_serial_logs(self, dom: DomainHandle, old: str, new: str) -> None:
        """A log named after the old name would be shared with a new VM of that name."""
        model = Domain.from_xml(self.defs.inactive_xml(dom))
        changed = False
        for log in model.xpath("./devices/serial/log | ./devices/console/log"):
            path = Path(log.get("file") or "")
            if path.name.startswith(f"{old}-serial"):
                moved = path.with_name(new + path.name[len(old) :])
                log.set("file", str(moved))
                changed = True
                if path.exists() and not moved.exists():
                    try:
                        path.rename(moved)
                    except OSError:
                        pass  # only the last boot's output; the VM works without it
        if changed:
            self.defs.redefine(model.to_xml(), "rename")

    # -- events ---------------------------------------------------------------
    def events(
        self,
        name: str | None = None,
        timeout: float | None = None,
        include_operations: bool = False,
    ) -> EventFeed:
        """Lifecycle events (of one VM, by name) from now on; watching starts at once.

        With ``include_operations``, also the progress of operations (on that
        VM, by name) that this process runs.
        """
        if name is not None:
            self.defs.lookup(name)  # NotFound, with close names, for a typo
        if timeout is not None and timeout <= 0:
            raise InvalidInput(f"{opt('timeout')} must be more than 0 seconds", field="timeout")
        host_id = self.ctx.host_id if include_operations else None
        return EventFeed(self.host, name, timeout, operations_of=host_id)
