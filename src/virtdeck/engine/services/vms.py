"""VMs: list, show, start, stop, delete, and their serial logs."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterator
from pathlib import Path

from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Timeout, opt
from virtdeck.host import disk_users, domains, storage
from virtdeck.model import Domain, quote

from ..context import HostContext
from ..definitions import Definitions
from ..meta import META_CREATED_DISKS
from ..schemas import (
    DeleteResult,
    DiskInfo,
    NicInfo,
    StopResult,
    VmDetail,
    VmSummary,
)


class VmService:
    """Reading VMs, starting, stopping and deleting them, and their serial logs."""

    def __init__(self, ctx: HostContext, defs: Definitions) -> None:
        self.ctx = ctx
        self.defs = defs
        self.host = ctx.host
        self.settings = ctx.settings

    # -- reading VMs ----------------------------------------------------------
    def list_vms(self, with_addresses: bool = True) -> list[VmSummary]:
        return [summary_of_state(s) for s in domains.list_states(self.host, with_addresses)]

    def get_vm(self, name: str) -> VmDetail:
        return _detail(domains.describe(domains.lookup(self.host, name)))

    def vm_xml(self, name: str, inactive: bool = False) -> str:
        return domains.lookup(self.host, name).xml(inactive=inactive)

    # -- lifecycle ------------------------------------------------------------
    def summary(self, handle: domains.DomainHandle) -> VmSummary:
        return summary_of_state(domains.describe(handle, with_addresses=False))

    def start_vm(self, name: str) -> VmSummary:
        handle = self.defs.lookup(name)
        with self.ctx.lock_vm(handle, "start"):
            domains.start(self.host, name)
        return self.summary(handle)

    def stop_vm(self, name: str, timeout: float = 60.0, force: bool = False) -> StopResult:
        handle = self.defs.lookup(name)
        with self.ctx.lock_vm(handle, "stop"):
            how = domains.stop(self.host, name, timeout, force)
        return StopResult(name=name, how=how)  # type: ignore[arg-type]

    def delete_vm(self, name: str, keep_disks: bool = False, force: bool = False) -> DeleteResult:
        handle = self.defs.lookup(name)
        with self.ctx.lock_vm(handle, "delete"):
            dom, model = self.defs.model(name)
            state = dom.state()
            # Deleting removes its disks: a guest still writing to them is
            # stopped only when the user says so, as oVirt and Proxmox do.
            if state in domains.ACTIVE_STATES and not force:
                raise Conflict(
                    f"VM {name} is {state}; stop it first, "
                    f"or add {opt('force')} to power it off and delete it",
                    field="force",
                    hint=Hint("vm.stop", vm=name),
                )
            created = model.get_meta_list(META_CREATED_DISKS)
            if not keep_disks:
                disk_users.refuse_delete_under_others(self.host, name, dom.uuid, created)
            # The definition is kept in the history first: 'vm restore' brings it back.
            self.defs.observe(dom)
            self.defs.record_deletion(dom)
            domains.undefine(self.host, name)
            removal = (
                disk_users.Removal(removed=[], kept=list(created))
                if keep_disks
                else disk_users.remove_unused(self.host, [Path(p) for p in created])
            )
            kept = removal.kept + [
                p for p in storage.disk_paths_of(model.to_xml()) if p not in created
            ]
            logs = self._remove_serial_logs(model)
        return DeleteResult(
            name=name,
            removed_disks=removal.removed,
            kept_disks=kept,
            kept_reasons=removal.reasons,
            removed_logs=logs,
        )

    def _remove_serial_logs(self, model: Domain) -> list[str]:
        """The VM's serial logs (and virtlogd's rotated ones), if they lie in the log directory.

        Only files in virtdeck's serial log directory named after this VM: a
        definition can point its log anywhere, and deleting a VM must not
        delete a file elsewhere that it happened to name.
        """
        log_dir = Path(os.path.realpath(self.settings.serial_log_dir))
        removed = []
        for serial in model.serials:
            if not serial.log_file:
                continue
            log = Path(os.path.realpath(serial.log_file))
            if log.parent != log_dir or not log.name.startswith(f"{model.name}-"):
                continue
            for path in [log, *sorted(log_dir.glob(f"{glob.escape(log.name)}.[0-9]*"))]:
                try:
                    path.unlink()
                    removed.append(str(path))
                except FileNotFoundError:
                    continue
        return removed

    # -- serial console log ---------------------------------------------------
    def serial_log_path(self, name: str) -> Path:
        model = Domain.from_xml(domains.lookup(self.host, name).xml())
        for serial in model.serials:
            if serial.log_file:
                return self._readable_log(name, Path(serial.log_file))
        raise NotFound(f"VM {name} has no serial log; VMs created by virtdeck have one")

    def _readable_log(self, name: str, log: Path) -> Path:
        """The log if it lies in the serial log directory: a definition can name any file.

        Without this, a VM whose log is set to /etc/shadow (virsh edit) would
        have 'vm log' print that file to whoever may read VM logs.
        """
        log_dir = Path(os.path.realpath(self.settings.serial_log_dir))
        resolved = Path(os.path.realpath(log))
        if not resolved.is_relative_to(log_dir):
            raise InvalidInput(
                f"VM {name}'s serial log {log} lies outside the serial log directory "
                f"{log_dir}, so virtdeck does not read it; point the log into that directory "
                "(edit its definition) or set VIRTDECK_SERIAL_LOG_DIR",
                hint=Hint("vm.edit", vm=name),
            )
        return resolved

    def read_log(self, name: str) -> str:
        path = self.serial_log_path(name)
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def follow_log(
        self, name: str, until: str | None = None, timeout: float | None = None
    ) -> Iterator[str]:
        """Yield the log's lines as they come; stop after a line containing ``until``."""
        path = self.serial_log_path(name)
        deadline = None if timeout is None else time.monotonic() + timeout
        offset = 0
        pending = ""
        while True:
            try:
                with open(path, "rb") as fh:
                    size = fh.seek(0, 2)
                    if size < offset:  # truncated: the VM started again
                        offset = 0
                    fh.seek(offset)
                    chunk = fh.read()
                    offset += len(chunk)
            except FileNotFoundError:
                chunk = b""
            pending += chunk.decode(errors="replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                clean = line.rstrip("\r")
                yield clean
                if until is not None and until in clean:
                    return
            if deadline is not None and time.monotonic() > deadline:
                wanted = f"a line with {quote(until)}" if until else "the line waited for"
                raise Timeout(
                    f"VM {name} printed no {wanted} within {timeout:g} s; "
                    "its log shows what it printed",
                    hint=Hint("vm.log", vm=name),
                )
            time.sleep(0.2)


def summary_of_state(state: domains.DomainState) -> VmSummary:
    return VmSummary(
        name=state.name,
        state=state.state,
        vcpus=state.vcpus,
        max_vcpus=state.max_vcpus,
        memory_kib=state.memory_kib,
        max_memory_kib=state.max_memory_kib,
        addresses=state.addresses,
        autostart=state.autostart,
        persistent=state.persistent,
    )


def _detail(state: domains.DomainState) -> VmDetail:
    model = Domain.from_xml(state.xml)
    created = set(model.get_meta_list(META_CREATED_DISKS))
    disks = [
        DiskInfo(
            target=d.target or "?",
            device=d.device or "disk",
            bus=d.bus,
            path=d.path,
            format=d.format,
            created_by_virtdeck=d.path in created,
        )
        for d in model.disks
    ]
    nics = [
        NicInfo(type=n.type, source=n.source, mac=n.mac, model=n.model) for n in model.interfaces
    ]
    graphics = []
    for g in model.graphics:
        where = f"{g.address or '127.0.0.1'}:{g.port}" if g.port and g.port > 0 else "auto port"
        graphics.append(f"{g.type} {where}")
    log = next((s.log_file for s in model.serials if s.log_file), None)
    return VmDetail(
        **summary_of_state(state).model_dump(),
        uuid=state.uuid,
        domain_type=model.type,
        machine=model.os.machine,
        disks=disks,
        nics=nics,
        graphics=graphics,
        serial_log=log,
    )
