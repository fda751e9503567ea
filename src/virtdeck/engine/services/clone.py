"""Clones: a new VM with its own copy (or linked overlay) of each disk, as virt-clone makes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from virtdeck.errors import Conflict, Hint, Unsupported, opt
from virtdeck.host import domains, images, storage
from virtdeck.host.handle import DomainHandle
from virtdeck.model import Domain, disk_file_name

from ..context import HostContext
from ..definitions import Definitions
from ..meta import META_BASE_IMAGE, META_CLONED_FROM, META_CREATED_BY, META_CREATED_DISKS
from ..schemas import OperationInfo, VmDetail
from .lifecycle import checked_new_name
from .operation_run import OperationRun
from .operations import OperationService
from .vms import VmService


def clonable_disks(model: Domain) -> list[tuple[str, str]]:
    """(target, path) of each disk a clone needs its own copy of.

    CD-ROMs, floppies, read-only and shareable disks are shared by source
    and clone, as virt-clone does.
    """
    found = []
    for disk in model.disks:
        if (disk.device or "disk") != "disk" or disk.readonly:
            continue
        if disk.shareable:
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
        nic.mac_element = None
    for disk in model.disks:
        if disk.target in new_disks:
            disk.source_file = new_disks[disk.target]
            disk.format = "qcow2"
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
            serial.log_file = renamed[old]
    for log in model.xpath("./devices/console/log"):
        old_path = log.get("file")
        log.set("file", renamed.get(old_path, str(log_dir / f"{new_name}-serial0.log")))
    for channel_source in model.xpath("./devices/channel[@type='unix']/source[@path]"):
        # A socket path names the source VM; without one libvirt makes the clone's own.
        channel_source.getparent().remove(channel_source)
    return model


class CloneService:
    def __init__(
        self, ctx: HostContext, defs: Definitions, ops: OperationService, vms: VmService
    ) -> None:
        self.ctx = ctx
        self.defs = defs
        self.ops = ops
        self.vms = vms
        self.host = ctx.host
        self.settings = ctx.settings

    def clone_vm(self, source: str, new_name: str, linked: bool = False) -> VmDetail:
        """Clone and wait: the new VM, or the error the clone ended with."""
        return self.ops.result(self.submit_clone(source, new_name, linked).id, VmDetail)

    def submit_clone(self, source: str, new_name: str, linked: bool = False) -> OperationInfo:
        checked_new_name(new_name)
        if new_name == source:
            raise Conflict(
                f"a VM named {source!r} already exists; give the clone another name",
                field="new_name",
            )
        dom = self.defs.lookup(source)
        # Checked here, so a refusal makes no operation, and again under the locks.
        self._check(dom, new_name, linked)

        def work(run: OperationRun) -> VmDetail:
            state = self._check(dom, new_name, linked)
            model = Domain.from_xml(self.defs.inactive_xml(dom))
            self.defs.observe(dom)
            self._clone_locked(dom, model, new_name, linked, state == "paused", run)
            return self.vms.get_vm(new_name)

        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            with self.ctx.lock_vm(dom, "clone"), self.ctx.lock_name(new_name, "clone"):
                yield

        return self.ops.submit("clone", new_name, f"preparing a clone of {source}", work, hold=hold)

    def _check(self, dom: DomainHandle, new_name: str, linked: bool) -> str:
        source = dom.name
        state = dom.state()
        if state not in ("shut off", "paused"):
            raise Conflict(
                f"VM {source} is {state}; stop it or pause it before cloning, so its disks "
                "hold still",
                hint=Hint("vm.pause", vm=source),
            )
        if linked and state != "shut off":
            raise Conflict(
                f"a linked clone's disk is an overlay on {source}'s, which must never "
                f"change again; stop {source} first, or clone it without {opt('linked')}",
                field="linked",
                hint=Hint("vm.stop", vm=source),
            )
        if domains.exists(self.host, new_name):
            raise Conflict(
                f"a VM named {new_name!r} already exists on {self.host.uri}; pick another name",
                field="new_name",
            )
        return state

    def _clone_locked(
        self,
        dom: DomainHandle,
        model: Domain,
        new_name: str,
        linked: bool,
        paused: bool,
        run: OperationRun,
    ) -> None:
        source = dom.name
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
                check_place=self.ctx.check_place,
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
        self.defs.redefine(clone.to_xml(), "clone")
        run.release()
