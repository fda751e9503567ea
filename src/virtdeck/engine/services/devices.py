"""Disk and NIC hot-plug, and what every live change shares.

A device goes to the running guest (live), to the definition (config), or
both; see ``services/live.py`` for the defaults. The live half goes
first, and is undone when the definition cannot take the device, so a
failure leaves the VM as it was. A new disk file is recorded in the VM's
metadata ('created-disks'), so 'vm delete' and 'vm disk remove' delete it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Timeout, VirtdeckError, opt
from virtdeck.host import disk_users, images, networks, places, storage
from virtdeck.host.handle import DomainHandle
from virtdeck.model import Domain, disk_file_name, quote
from virtdeck.model.devices import Disk, Interface
from virtdeck.model.spec import (
    NIC_MODELS,
    check_disk_target,
    new_disk,
    new_nic,
    next_disk_target,
    normalise_mac,
    random_mac,
)

from ..context import HostContext
from ..definitions import Definitions
from ..meta import META_CREATED_DISKS
from ..schemas import DeviceChange, DiskAdd, NicAdd, VmDisk, VmNic

# How long a guest may take to acknowledge a hot-unplug (TCG guests are slow).
DETACH_TIMEOUT = 60.0
D = TypeVar("D", Disk, Interface)


def scope(dom: DomainHandle, live: bool, config: bool) -> tuple[bool, bool]:
    """The flags a user gave, or virsh-like defaults when they gave none."""
    name = dom.name
    running = dom.is_active()
    persistent = dom.is_persistent()
    if not live and not config:
        live, config = running, persistent
    if live and not running:
        raise Conflict(
            f"VM {name} is not running, so nothing can change live; leave out {opt('live')} "
            "to change its definition (used from its next start)",
            field="live",
        )
    if config and not persistent:
        raise InvalidInput(
            f"VM {name} is transient and has no definition; leave out {opt('config')}",
            field="config",
        )
    return live, config


def refuse_running(dom: DomainHandle, what: str, note: str = "") -> None:
    """Conflict when the VM runs: its ``what`` changes only while it is stopped.

    ``note`` (starting with a space) adds what can still change while it runs.
    """
    if dom.is_active():
        name = dom.name
        raise Conflict(
            f"VM {name} is running and its {what} can only change while it is stopped{note}; "
            "stop it first",
            hint=Hint("vm.stop", vm=name),
        )


class DeviceService:
    """Disks and NICs of a VM: list, add, remove; live, in the definition, or both."""

    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.ctx = ctx
        self.defs = defs
        self.host = ctx.host
        self.settings = ctx.settings

    def _running_model(self, dom: DomainHandle) -> Domain | None:
        return self.defs.live_model(dom) if dom.is_active() else None

    # -- disks ----------------------------------------------------------------
    def list_disks(self, name: str) -> list[VmDisk]:
        dom, model = self.defs.model(name)
        running = self._running_model(dom)
        created = set(model.get_meta_list(META_CREATED_DISKS))
        found: dict[str, VmDisk] = {}
        for source, where in ((model, "config"), (running, "live")):
            for disk in source.disks if source is not None else []:
                target = disk.target or "?"
                entry = found.setdefault(
                    target,
                    VmDisk(
                        target=target,
                        device=disk.device or "disk",
                        bus=disk.bus,
                        path=disk.path,
                        format=disk.format,
                        created_by_virtdeck=disk.path in created,
                        live=False,
                        config=False,
                    ),
                )
                setattr(entry, where, True)
        return sorted(found.values(), key=lambda d: (len(d.target), d.target))

    def add_disk(self, req: DiskAdd) -> DeviceChange:
        name = req.name
        if (req.size_bytes is None) == (req.path is None):
            raise InvalidInput(
                f"give exactly one of {opt('size_bytes')} SIZE (a new disk) or "
                f"{opt('path')} FILE (an existing image)"
            )
        if req.target is not None:
            _checked(check_disk_target, req.target, "target")
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "disk-add"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            live, config = scope(dom, req.live, req.config)
            running = self._running_model(dom)
            in_use = model.disks + (running.disks if running else [])
            used = {d.target for d in in_use if d.target}
            target = req.target or _next_target(used)
            if target in used:
                raise Conflict(
                    f"VM {name} already has a disk {target}; pick another {opt('target')} "
                    "or leave it out",
                    field="target",
                )
            created: Path | None = None
            if req.path is not None:
                # DiskAdd has no format option: the header decides (a format
                # given later becomes ``declared``).
                facts = images.inspect(
                    Path(req.path),
                    check_place=self.ctx.check_place,
                    limits=images.ImageLimits(max_virtual_bytes=self.settings.max_image_bytes),
                    what=opt("path"),
                )
                path, disk_format = facts.path, facts.format
                if str(path) in {d.path for d in in_use}:
                    raise Conflict(f"VM {name} already uses {path}", field="path")
                disk_users.refuse_if_used(
                    self.host, path, opt("path"), "attach a copy of it to this VM instead"
                )
            else:
                assert req.size_bytes is not None
                pool = storage.ensure_default_pool(
                    self.host, self.settings.images_dir, self.settings.pool
                )
                places.check_fits(self.host, self.settings.pool, req.size_bytes, opt("size_bytes"))
                file_name = disk_file_name(name, dom.uuid, target, "qcow2")
                path, disk_format = pool / file_name, "qcow2"
                storage.create_empty(self.host, path, req.size_bytes)
                created = path
            xml = new_disk(str(path), disk_format, target).to_xml()
            attached = False
            try:
                if live:
                    self.attach(dom, xml, f"add disk {target} to VM {name}")
                    attached = True
                if config:
                    model.add_device(new_disk(str(path), disk_format, target))
                if created is not None:
                    # Recorded even for a live-only disk, so 'vm delete' removes the file.
                    listed = model.get_meta_list(META_CREATED_DISKS)
                    model.set_meta_list(META_CREATED_DISKS, [*listed, str(created)])
                if config or created is not None:
                    self.defs.redefine(model.to_xml(), "disk-add")
            except BaseException:
                if attached:
                    _quietly(lambda: dom.detach_device_live(xml, f"undo adding a device to {name}"))
                if created is not None:
                    _quietly(lambda: storage.delete_file(self.host, created))
                raise
        return DeviceChange(
            name=name,
            device=f"disk {target}",
            action="added",
            live=live,
            config=config,
            created_file=str(created) if created else None,
        )

    def remove_disk(
        self,
        name: str,
        target: str,
        live: bool = False,
        config: bool = False,
        keep_file: bool = False,
    ) -> DeviceChange:
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "disk-remove"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            live, config = scope(dom, live, config)
            defined = disk_by_target(model, target) if config else None
            running = self.defs.live_model(dom) if live else None
            attached = disk_by_target(running, target) if running else None
            if defined is None and attached is None:
                raise NotFound(
                    f"VM {name} has no disk {target} to remove; list its disks",
                    field="target",
                    hint=Hint("vm.disk.list", vm=name),
                )
            if attached is not None and attached.boot_order is not None:
                raise Conflict(
                    f"VM {name} boots from {target}, which cannot be unplugged while it runs; "
                    f"stop it first, or remove it with {opt('config')} only",
                    field="target",
                    hint=Hint("vm.stop", vm=name),
                )
            path = (attached or defined).path  # type: ignore[union-attr]
            if attached is not None:
                self.detach(dom, attached.to_xml(), f"disk {target}", disk_by_target, target)
            if defined is not None:
                model.remove_device(defined)
            result = DeviceChange(
                name=name,
                device=f"disk {target}",
                action="removed",
                live=attached is not None,
                config=defined is not None,
            )
            owned = model.get_meta_list(META_CREATED_DISKS)
            in_use = {d.path for d in model.disks}
            if dom.is_active():
                in_use |= {d.path for d in self.defs.live_model(dom).disks}
            drop = path if path in owned and path not in in_use else None
            if drop is not None:
                model.set_meta_list(META_CREATED_DISKS, [p for p in owned if p != drop])
            if defined is not None or drop is not None:
                self.defs.redefine(model.to_xml(), "disk-remove")
            if drop is not None and keep_file:
                result.kept_file = drop
            elif drop is not None:
                removal = disk_users.remove_unused(self.host, [Path(drop)])
                if removal.removed:
                    result.deleted_file = drop
                elif drop in removal.kept:
                    result.kept_file, result.kept_reason = drop, removal.reasons.get(drop)
        return result

    # -- NICs -----------------------------------------------------------------
    def list_nics(self, name: str) -> list[VmNic]:
        dom, model = self.defs.model(name)
        running = self._running_model(dom)
        found: dict[str, VmNic] = {}
        for source, where in ((model, "config"), (running, "live")):
            for nic in source.interfaces if source is not None else []:
                key = nic.mac or f"?{len(found)}"
                entry = found.setdefault(
                    key,
                    VmNic(
                        type=nic.type,
                        source=nic.source,
                        mac=nic.mac,
                        model=nic.model,
                        live=False,
                        config=False,
                    ),
                )
                setattr(entry, where, True)
        return list(found.values())

    def add_nic(self, req: NicAdd) -> DeviceChange:
        name = req.name
        if req.model not in NIC_MODELS:
            raise InvalidInput(
                f"NIC model {quote(req.model)} is not one virtdeck offers; "
                f"use {', '.join(NIC_MODELS)}"
            )
        mac = _checked(normalise_mac, req.mac, "mac") if req.mac else random_mac()
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "nic-add"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            live, config = scope(dom, req.live, req.config)
            self.check_network(req.network, live)
            running = self._running_model(dom)
            macs = {n.mac for n in model.interfaces + (running.interfaces if running else [])}
            if mac in macs:
                raise Conflict(
                    f"VM {name} already has a NIC with MAC {mac}; give another {opt('mac')}",
                    field="mac",
                )
            xml = new_nic(req.network, mac, req.model).to_xml()
            attached = False
            try:
                if live:
                    self.attach(dom, xml, f"add a NIC to VM {name}")
                    attached = True
                if config:
                    model.add_device(new_nic(req.network, mac, req.model))
                    self.defs.redefine(model.to_xml(), "nic-add")
            except BaseException:
                if attached:
                    _quietly(lambda: dom.detach_device_live(xml, f"undo adding a device to {name}"))
                raise
        return DeviceChange(
            name=name, device=f"nic {mac}", action="added", live=live, config=config
        )

    def remove_nic(
        self, name: str, mac: str, live: bool = False, config: bool = False
    ) -> DeviceChange:
        mac = _checked(normalise_mac, mac, "mac")
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "nic-remove"):
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            live, config = scope(dom, live, config)
            defined = nic_by_mac(model, mac) if config else None
            running = self.defs.live_model(dom) if live else None
            attached = nic_by_mac(running, mac) if running else None
            if defined is None and attached is None:
                raise NotFound(
                    f"VM {name} has no NIC with MAC {mac}; list its NICs",
                    field="mac",
                    hint=Hint("vm.nic.list", vm=name),
                )
            if attached is not None:
                self.detach(dom, attached.to_xml(), f"NIC {mac}", nic_by_mac, mac)
            if defined is not None:
                model.remove_device(defined)
                self.defs.redefine(model.to_xml(), "nic-remove")
        return DeviceChange(
            name=name,
            device=f"nic {mac}",
            action="removed",
            live=attached is not None,
            config=defined is not None,
        )

    def check_network(self, network: str, live: bool) -> None:
        networks.check_network(self.host, network, must_be_active=live)

    # -- device primitives (also used by apply) -------------------------------
    def attach(self, dom: DomainHandle, xml: str, action: str) -> None:
        dom.attach_device_live(xml, action)

    def detach(
        self,
        dom: DomainHandle,
        xml: str,
        what: str,
        find: Callable[[Domain, str], D | None],
        key: str,
    ) -> None:
        """Unplug from the running guest and wait until the guest let go of it."""
        name = dom.name
        dom.detach_device_live(xml, f"remove {what} from VM {name}")
        deadline = time.monotonic() + DETACH_TIMEOUT
        while find(self.defs.live_model(dom), key) is not None:
            if time.monotonic() > deadline:
                raise Timeout(
                    f"VM {name} has not released {what} within {DETACH_TIMEOUT:g} s (the guest "
                    f"must acknowledge the unplug); nothing else was changed: try again, or "
                    f"remove it with {opt('config')} and restart the VM",
                    hint=Hint("retry"),
                )
            time.sleep(0.5)


def _checked(check: Callable[[str], str], value: str, field: str) -> str:
    """``check(value)``, its ValueError (the model's, not a VirtdeckError) as InvalidInput."""
    try:
        return check(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from exc


def _next_target(used: set[str]) -> str:
    try:
        return next_disk_target(used)
    except ValueError as exc:
        raise Conflict(f"{exc}; remove a disk first") from exc


def disk_by_target(model: Domain, target: str) -> Disk | None:
    return next((d for d in model.disks if d.target == target), None)


def nic_by_mac(model: Domain, mac: str) -> Interface | None:
    return next((n for n in model.interfaces if (n.mac or "").lower() == mac), None)


def _quietly(undo: Callable[[], object]) -> None:
    """Best-effort undo after a failure; the first error is the one to report."""
    try:
        undo()
    except (VirtdeckError, OSError):
        pass
