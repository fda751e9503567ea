"""Lifecycle beyond start/stop: reboot, pause, resume, autostart, rename, clone, events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from virtdeck.errors import Conflict, InvalidInput, Timeout, Unsupported
from virtdeck.host import domains, images, storage
from virtdeck.host.events import EventWatch
from virtdeck.model import Domain, InvalidName, check_name, disk_file_name

from .operation_ops import OperationRun, OperationsMixin
from .schemas import VmDetail, VmEvent, VmSummary
from .vms import META_BASE_IMAGE, META_CREATED_BY, META_CREATED_DISKS, summary_of_state

META_CLONED_FROM = "cloned-from"


def _checked_name(name: str) -> str:
    try:
        return check_name(name)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def clonable_disks(model: Domain) -> list[tuple[str, str]]:
    """(target, path) of each disk a clone needs its own copy of.

    CD-ROMs, floppies, read-only and shareable disks are shared by source
    and clone, as virt-clone does.
    """
    found = []
    for disk in model.disks:
        if (disk.device or "disk") != "disk" or disk.readonly:
            continue
        if disk.node.find("shareable") is not None:
            continue
        target = disk.target or "?"
        if disk.type != "file" or not disk.source_file:
            raise Unsupported(
                f"disk {target} of {model.name} is not a file, and virtdeck clones only file "
                "disks; detach it, clone, and attach storage to the clone yourself"
            )
        found.append((target, disk.source_file))
    return found


def clone_definition(
    source_xml: str,
    new_name: str,
    new_disks: dict[str, str],
    log_dir: Path,
    new_uuid: str | None = None,
) -> Domain:
    """The source's definition made into a new VM's: name, UUID, MACs, disks, logs.

    ``new_disks`` maps a disk target to the clone's file for it. Everything
    else (devices, CPU, memory, unmodelled elements) stays as it was.
    """
    model = Domain.from_xml(source_xml)
    model.name = new_name
    model.uuid = new_uuid or str(uuid.uuid4())
    for stale in model.xpath("./genid | ./os/nvram | ./devices/interface/target"):
        stale.getparent().remove(stale)
    for nic in model.interfaces:
        # libvirt gives each NIC without an address a fresh 52:54:00 MAC.
        for mac in nic.node.findall("mac"):
            nic.node.remove(mac)
    for disk in model.disks:
        if disk.target in new_disks:
            disk.set("./source/@file", new_disks[disk.target])
            disk.set("./driver/@type", "qcow2")
            for chain in disk.node.findall("backingStore"):
                disk.node.remove(chain)
    # Each serial port logs to the clone's own file; a console that mirrors a
    # serial port (as <console> does for serial0) follows it.
    renamed: dict[str, str] = {}
    for index, serial in enumerate(model.serials):
        old = serial.log_file
        if old:
            port = serial.target_port if serial.target_port is not None else index
            renamed[old] = str(log_dir / f"{new_name}-serial{port}.log")
            serial.set("./log/@file", renamed[old])
    for log in model.xpath("./devices/console/log"):
        old_path = log.get("file")
        log.set("file", renamed.get(old_path, str(log_dir / f"{new_name}-serial0.log")))
    for channel_source in model.xpath("./devices/channel[@type='unix']/source[@path]"):
        # A socket path names the source VM; without one libvirt makes the clone's own.
        channel_source.getparent().remove(channel_source)
    return model


class EventFeed:
    """Lifecycle events as VmEvent, until ``timeout`` (None: until closed or Ctrl-C)."""

    def __init__(self, watch: EventWatch, timeout: float | None) -> None:
        self._watch = watch
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def __iter__(self) -> Iterator[VmEvent]:
        while True:
            wait = 0.5
            if self._deadline is not None:
                wait = min(wait, self._deadline - time.monotonic())
                if wait <= 0:
                    return
            event = self._watch.get(wait)
            if event is not None:
                yield VmEvent(time=event.time, vm=event.vm, event=event.event, detail=event.detail)

    def close(self) -> None:
        self._watch.close()

    def __enter__(self) -> EventFeed:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class LifecycleMixin(OperationsMixin):
    def _summary_of(self, name: str) -> VmSummary:
        return summary_of_state(domains.describe(self.lookup(name), with_addresses=False))

    def _running(self, name: str, action: str) -> Any:
        """The VM, which must be running (not paused, not shut off) for ``action``."""
        dom = self.lookup(name)
        state = domains.state_of(dom)
        if state == "paused":
            raise Conflict(
                f"VM {name} is paused; resume it with 'virtdeck vm resume {name}' to {action} it"
            )
        if state not in domains.ACTIVE_STATES:
            raise Conflict(f"VM {name} is not running ({state}); start it first")
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
        with self.lock(name, "reboot"):
            dom = self._running(name, "reboot")
            if force:
                self.host.call(f"reset VM {name}", lambda _c: dom.reset(0), retry=False)
                return self._summary_of(name)
            try:
                domains.stop(self.host, name, timeout, force=False)
            except Timeout:
                raise Timeout(
                    f"VM {name} did not shut down within {timeout:g} s to reboot (the guest "
                    f"ignored the ACPI power button) and still runs; 'virtdeck vm reboot {name} "
                    "--force' resets it"
                ) from None
            domains.start(self.host, name)
        return self._summary_of(name)

    def pause_vm(self, name: str) -> VmSummary:
        with self.lock(name, "pause"):
            dom = self.lookup(name)
            state = domains.state_of(dom)
            if state == "paused":
                raise Conflict(f"VM {name} is already paused; 'virtdeck vm resume {name}'")
            if state not in domains.ACTIVE_STATES:
                raise Conflict(f"VM {name} is not running ({state}); only a running VM pauses")
            self.host.call(f"pause VM {name}", lambda _c: dom.suspend(), retry=False)
        return self._summary_of(name)

    def resume_vm(self, name: str) -> VmSummary:
        with self.lock(name, "resume"):
            dom = self.lookup(name)
            state = domains.state_of(dom)
            if state != "paused":
                raise Conflict(f"VM {name} is not paused ({state}); nothing to resume")
            self.host.call(f"resume VM {name}", lambda _c: dom.resume(), retry=False)
        return self._summary_of(name)

    # -- autostart, rename ----------------------------------------------------
    def set_autostart(self, name: str, enabled: bool) -> VmSummary:
        with self.lock(name, "autostart"):
            dom = self.lookup(name)
            if not dom.isPersistent():
                raise Conflict(f"VM {name} is transient (not defined); only defined VMs autostart")
            value = 1 if enabled else 0
            self.host.call(
                f"set autostart of {name}", lambda _c: dom.setAutostart(value), retry=False
            )
        return self._summary_of(name)

    def rename_vm(self, name: str, new_name: str) -> VmDetail:
        """virsh domrename, plus the serial log follows the new name."""
        _checked_name(new_name)
        if new_name == name:
            raise InvalidInput(f"VM {name} already has that name; give a different new name")
        with self.lock(name, "rename"), self.lock(new_name, "rename"):
            dom = self.lookup(name)
            state = domains.state_of(dom)
            if state != "shut off":
                raise Conflict(
                    f"VM {name} is {state}, and libvirt renames only VMs that are shut off; "
                    f"stop it first with 'virtdeck vm stop {name}'"
                )
            if domains.exists(self.host, new_name):
                raise Conflict(f"a VM named {new_name!r} already exists on {self.host.uri}")
            self.observe(dom)
            self.host.call(
                f"rename VM {name} to {new_name}", lambda _c: dom.rename(new_name, 0), retry=False
            )
            dom = self.lookup(new_name)
            self.history.record(
                self.host.uri, dom.UUIDString(), new_name, self.inactive_xml(dom), "rename"
            )
            self._move_serial_logs(dom, name, new_name)
        return self.get_vm(new_name)

    def _move_serial_logs(self, dom: Any, old: str, new: str) -> None:
        """A log named after the old name would be shared with a new VM of that name."""
        model = Domain.from_xml(self.inactive_xml(dom))
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
            self.redefine(model.to_xml(), "rename")

    if TYPE_CHECKING:
        # VmMixin's, in the assembled Engine.
        def get_vm(self, name: str) -> VmDetail: ...

    # -- clone ----------------------------------------------------------------
    def clone_vm(self, source: str, new_name: str, linked: bool = False) -> VmDetail:
        _checked_name(new_name)
        if new_name == source:
            raise Conflict(f"a VM named {source!r} already exists; give the clone another name")
        with self.lock(source, "clone"), self.lock(new_name, "clone"):
            dom, model = self.model(source)
            state = domains.state_of(dom)
            if state not in ("shut off", "paused"):
                raise Conflict(
                    f"VM {source} is {state}; stop it or pause it ('virtdeck vm pause "
                    f"{source}') before cloning, so its disks hold still"
                )
            if linked and state != "shut off":
                raise Conflict(
                    f"a linked clone's disk is an overlay on {source}'s, which must never "
                    f"change again; stop {source} first, or clone it without --linked"
                )
            if domains.exists(self.host, new_name):
                raise Conflict(
                    f"a VM named {new_name!r} already exists on {self.host.uri}; pick another name"
                )
            self.observe(dom)
            with self.operation("clone", new_name, f"preparing a clone of {source}") as run:
                self._clone_locked(dom, model, new_name, linked, state == "paused", run)
        return self.get_vm(new_name)

    def _clone_locked(
        self, dom: Any, model: Domain, new_name: str, linked: bool, paused: bool, run: OperationRun
    ) -> None:
        source = dom.name()
        pool_dir = storage.ensure_default_pool(
            self.host, self.settings.images_dir, self.settings.pool
        )
        created: list[Path] = []

        def claimed(path: Path) -> None:
            created.append(path)
            run.made_file(path)

        disks = clonable_disks(model)
        if disks:
            storage.require_local(self.host, "copy a disk")
        # Each disk is inspected as any image coming in is: the definition's
        # format must match the file's header, its chain must stay in place.
        limits = images.ImageLimits(max_virtual_bytes=self.settings.max_image_bytes)
        formats = {d.target: d.format for d in model.disks}
        sources = [
            images.inspect(
                Path(original),
                check_place=self.check_place,
                limits=limits,
                declared=formats.get(target),
                what=f"disk {target} of VM {source}",
            )
            for target, original in disks
        ]
        share = 80 // max(1, len(disks))  # of the whole, for each disk
        new_disks: dict[str, str] = {}
        clone_uuid = str(uuid.uuid4())
        for index, ((target, _original), facts) in enumerate(zip(disks, sources, strict=True)):
            dest = pool_dir / disk_file_name(new_name, clone_uuid, target, "qcow2")
            what = f"{'linking' if linked else 'copying'} disk {target} of {source}"

            def progress(pct: int, what: str = what, index: int = index) -> None:
                run.step(what, 5 + share * index + share * pct // 100)

            progress(0)
            if linked:
                storage.create_overlay(self.host, facts, dest, claimed=claimed)
            else:
                storage.copy_image(self.host, facts, dest, paused, claimed, progress)
            new_disks[target] = str(dest)
        clone = clone_definition(
            model.to_xml(), new_name, new_disks, self.settings.serial_log_dir, clone_uuid
        )
        clone.set_meta_list(META_CREATED_DISKS, [str(p) for p in created])
        clone.set_meta(META_CREATED_BY, "virtdeck vm clone")
        clone.set_meta(META_CLONED_FROM, source)
        bases = [p for _t, p in disks]
        clone.set_meta(META_BASE_IMAGE, bases[0] if linked and bases else None)
        run.step("defining the clone", 90)
        run.made_domain(str(clone.uuid))  # first, as in create
        self.redefine(clone.to_xml(), "clone")
        run.release()

    # -- events ---------------------------------------------------------------
    def events(self, name: str | None = None, timeout: float | None = None) -> EventFeed:
        """Lifecycle events (of one VM, by name) from now on; watching starts at once."""
        if name is not None:
            self.lookup(name)  # NotFound, with close names, for a typo
        if timeout is not None and timeout <= 0:
            raise InvalidInput("--timeout must be more than 0 seconds")
        return EventFeed(EventWatch(self.host, name), timeout)
