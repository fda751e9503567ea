"""Snapshots: create (with memory for a running VM), list, revert, delete.

A snapshot of a running VM is internal and includes memory, as ``virsh
snapshot-create-as`` makes it: QEMU saves the guest's RAM and device state
and a qcow2 snapshot of every disk inside the disk files themselves, so a
revert brings the guest back to that very moment. ``disk_only`` asks for an
external snapshot instead: the disks are frozen and new overlay files take
the writes. Those overlays are virtdeck's to remove with the VM, so they are
added to its ``created-disks``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from virtdeck.errors import Conflict, Hint, InvalidInput, Unsupported, VirtdeckError, opt
from virtdeck.host import snapshots as host_snapshots
from virtdeck.host.handle import DomainHandle
from virtdeck.host.snapshots import SnapshotFacts
from virtdeck.model import METADATA_NS, Domain, DomainSnapshot, InvalidName, check_name

from ..context import HostContext
from ..definitions import Definitions
from ..meta import META_CREATED_DISKS
from ..schemas import OperationInfo, SnapshotDeleteResult, SnapshotInfo, SnapshotRevertResult
from .operation_run import OperationRun
from .operations import OperationService

ListChange = Callable[[list[str]], list[str]]


def default_snapshot_name() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _snapshot_xml(name: str, description: str) -> str:
    return DomainSnapshot.new(name, description).to_xml()


def _non_qcow2_disks(model: Domain) -> list[str]:
    """Writable disks that cannot hold an internal snapshot."""
    return [
        d.target or "?"
        for d in model.disks
        if (d.device or "disk") == "disk" and not d.readonly and d.format != "qcow2"
    ]


class SnapshotService:
    def __init__(self, ctx: HostContext, defs: Definitions, ops: OperationService) -> None:
        self.ctx = ctx
        self.defs = defs
        self.ops = ops
        self.host = ctx.host

    def _info(self, vm: str, facts: SnapshotFacts) -> SnapshotInfo:
        if facts.external:
            kind = "disk-only"
            revertible = host_snapshots.supports_external_revert(self.host)
        else:
            kind = "memory" if facts.memory else "disk"
            revertible = True
        return SnapshotInfo(
            vm=vm,
            name=facts.name,
            kind=kind,  # type: ignore[arg-type]
            created_at=datetime.fromtimestamp(facts.created, UTC),
            vm_state=facts.vm_state,
            description=facts.description,
            parent=facts.parent,
            current=facts.current,
            revertible=revertible,
            overlays=facts.overlays,
        )

    def _set_created_disks(self, dom: DomainHandle, change: ListChange, action: str) -> None:
        model = Domain.from_xml(self.defs.inactive_xml(dom))
        before = model.get_meta_list(META_CREATED_DISKS)
        after = change(before)
        if after != before:
            model.set_meta_list(META_CREATED_DISKS, after)
            self.defs.redefine(model.to_xml(), action)
            if dom.is_active():
                # The running definition is what 'vm show' reads; keep it in step.
                dom.set_metadata_live(model.metadata_for_set(), "virtdeck", METADATA_NS)

    # -- create ---------------------------------------------------------------
    def create_snapshot(
        self,
        name: str,
        snapshot: str | None = None,
        disk_only: bool = False,
        description: str = "",
    ) -> SnapshotInfo:
        """Take a snapshot and wait for it: the snapshot, or the error it ended with."""
        op = self.submit_snapshot(name, snapshot, disk_only, description)
        return self.ops.result(op.id, SnapshotInfo)

    def submit_snapshot(
        self,
        name: str,
        snapshot: str | None = None,
        disk_only: bool = False,
        description: str = "",
    ) -> OperationInfo:
        # Only a name left out gets the date: an empty one is a mistake, refused below.
        snapshot = default_snapshot_name() if snapshot is None else snapshot
        try:
            check_name(snapshot, "snapshot")
        except InvalidName as exc:
            hint = "; or leave it out to name it after the date and time" if not snapshot else ""
            raise InvalidInput(f"{exc}{hint}", field="snapshot") from exc
        taken = snapshot
        dom, model = self.defs.model(name)
        # Checked here, so a refusal makes no operation, and again under the lock.
        self._check_new(dom, model, taken, disk_only)
        kind = "disks only" if disk_only or not dom.is_active() else "memory and disks"

        def work(run: OperationRun) -> SnapshotInfo:
            self._check_new(dom, Domain.from_xml(self.defs.inactive_xml(dom)), taken, disk_only)
            self.defs.observe(dom)
            run.check_cancelled()
            facts = host_snapshots.create(dom, taken, _snapshot_xml(taken, description), disk_only)
            if facts.overlays:
                # libvirt pointed the definition at the new overlays.
                self.defs.record(dom, "snapshot-create")
                self._set_created_disks(
                    dom,
                    lambda old: old + [p for p in facts.overlays if p not in old],
                    "snapshot-create",
                )
            return self._info(name, facts)

        return self.ops.submit(
            "snapshot",
            name,
            f"taking snapshot {taken} ({kind})",
            work,
            hold=lambda: self.ctx.lock_vm(dom, "snapshot create"),
        )

    def _check_new(self, dom: DomainHandle, model: Domain, snapshot: str, disk_only: bool) -> None:
        name = dom.name
        existing = [s.name for s in host_snapshots.list_all(dom)]
        if snapshot in existing:
            raise Conflict(
                f"VM {name} already has a snapshot named {snapshot!r}; pick another name "
                "or delete it first",
                field="snapshot",
                hint=Hint("vm.snapshot.delete", vm=name, args={"snapshot": snapshot}),
            )
        raw = _non_qcow2_disks(model)
        if raw and not disk_only:
            raise Unsupported(
                f"VM {name} has disks that are not qcow2 ({', '.join(raw)}), and only "
                f"qcow2 disks hold internal snapshots; use {opt('disk_only')} for an external one",
                field="disk_only",
            )

    # -- read -----------------------------------------------------------------
    def list_snapshots(self, name: str) -> list[SnapshotInfo]:
        dom = self.defs.lookup(name)
        return [self._info(name, f) for f in host_snapshots.list_all(dom)]

    def get_snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        return self._info(name, host_snapshots.get(self.defs.lookup(name), snapshot))

    # -- revert ---------------------------------------------------------------
    def revert_snapshot(self, name: str, snapshot: str) -> SnapshotRevertResult:
        """Revert and wait for it: the VM's state after, or the error it ended with."""
        op = self.submit_revert(name, snapshot)
        return self.ops.result(op.id, SnapshotRevertResult)

    def submit_revert(self, name: str, snapshot: str) -> OperationInfo:
        dom = self.defs.lookup(name)
        # Checked here, so a refusal makes no operation, and again under the lock.
        self._check_revertible(dom, snapshot)

        def work(run: OperationRun) -> SnapshotRevertResult:
            self._check_revertible(dom, snapshot)
            self.defs.observe(dom)
            ours = Domain.from_xml(self.defs.inactive_xml(dom)).get_meta_list(META_CREATED_DISKS)
            run.check_cancelled()
            host_snapshots.revert(dom, snapshot)
            # The snapshot carries the definition it was taken with; it is the VM's now.
            self.defs.record(dom, "snapshot-revert")
            # That older definition may not list overlays made since; they are still ours
            # to remove with the VM.
            self._set_created_disks(
                dom,
                lambda old: old + [p for p in ours if p not in old and Path(p).exists()],
                "snapshot-revert",
            )
            return SnapshotRevertResult(vm=name, snapshot=snapshot, state=dom.state())

        return self.ops.submit(
            "snapshot-revert",
            name,
            f"reverting to snapshot {snapshot}",
            work,
            hold=lambda: self.ctx.lock_vm(dom, "snapshot revert"),
        )

    def _check_revertible(self, dom: DomainHandle, snapshot: str) -> None:
        info = self._info(dom.name, host_snapshots.get(dom, snapshot))
        if not info.revertible:
            lib, _hv = self.host.versions()
            raise Unsupported(
                f"snapshot {snapshot} of {dom.name} is disk-only (external) and libvirt {lib} "
                "on this host cannot revert to those; revert to a snapshot taken without "
                f"{opt('disk_only')} instead",
                field="snapshot",
            )

    # -- delete ---------------------------------------------------------------
    def delete_snapshot(
        self, name: str, snapshot: str, metadata_only: bool = False
    ) -> SnapshotDeleteResult:
        dom = self.defs.lookup(name)
        with self.ctx.lock_vm(dom, "snapshot delete"):
            facts = host_snapshots.get(dom, snapshot)
            self.defs.observe(dom)
            try:
                host_snapshots.delete(dom, snapshot, metadata_only)
            except (Unsupported, InvalidInput) as exc:
                if not facts.external:
                    raise
                raise Unsupported(
                    f"libvirt cannot merge the overlay files of disk-only snapshot {snapshot} "
                    f"back into {name}'s disks here ({_detail(exc)}); "
                    f"{opt('metadata_only')} forgets the snapshot and keeps its files in the "
                    "disk chain",
                    field="metadata_only",
                ) from exc
            removed = [p for p in facts.overlays if not Path(p).exists()]
            if facts.external and not metadata_only:
                self.defs.record(dom, "snapshot-delete")
                self._set_created_disks(
                    dom, lambda old: [p for p in old if p not in removed], "snapshot-delete"
                )
        return SnapshotDeleteResult(vm=name, snapshot=snapshot, removed_files=removed)


def _detail(exc: VirtdeckError) -> str:
    return exc.message.rsplit(": ", 1)[-1]
