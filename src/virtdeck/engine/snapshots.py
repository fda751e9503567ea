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

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import libvirt
from lxml import etree

from virtdeck.errors import Conflict, InvalidInput, Unsupported, VirtdeckError
from virtdeck.host import domains
from virtdeck.host import snapshots as host_snapshots
from virtdeck.host.snapshots import SnapshotFacts
from virtdeck.model import METADATA_NS, Domain, InvalidName, check_name

from .operation_ops import OperationsMixin
from .schemas import SnapshotDeleteResult, SnapshotInfo, SnapshotRevertResult
from .vms import META_CREATED_DISKS


def default_snapshot_name() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _snapshot_xml(name: str, description: str) -> str:
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    return etree.tostring(root, encoding="unicode")


def _non_qcow2_disks(model: Domain) -> list[str]:
    """Writable disks that cannot hold an internal snapshot."""
    return [
        d.target or "?"
        for d in model.disks
        if (d.device or "disk") == "disk" and not d.readonly and d.format != "qcow2"
    ]


class SnapshotMixin(OperationsMixin):
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

    def _record(self, dom: Any, action: str) -> None:
        """Keep a definition that libvirt itself changed (revert, external snapshots)."""
        self.history.record(
            self.host.uri, dom.UUIDString(), dom.name(), self.inactive_xml(dom), action
        )

    def _set_created_disks(self, dom: Any, change: Any, action: str) -> None:
        model = Domain.from_xml(self.inactive_xml(dom))
        before = model.get_meta_list(META_CREATED_DISKS)
        after = change(before)
        if after != before:
            model.set_meta_list(META_CREATED_DISKS, after)
            self.redefine(model.to_xml(), action)
            if dom.isActive():
                # The running definition is what 'vm show' reads; keep it in step.
                ours = model.metadata_for_set()
                live = libvirt.VIR_DOMAIN_AFFECT_LIVE
                kind = libvirt.VIR_DOMAIN_METADATA_ELEMENT
                self.host.call(
                    f"update the metadata of {dom.name()}",
                    lambda _c: dom.setMetadata(kind, ours, "virtdeck", METADATA_NS, live),
                )

    # -- create ---------------------------------------------------------------
    def create_snapshot(
        self,
        name: str,
        snapshot: str | None = None,
        disk_only: bool = False,
        description: str = "",
    ) -> SnapshotInfo:
        # Only a name left out gets the date: an empty one is a mistake, refused below.
        snapshot = default_snapshot_name() if snapshot is None else snapshot
        try:
            check_name(snapshot, "snapshot")
        except InvalidName as exc:
            hint = "; or leave it out to name it after the date and time" if not snapshot else ""
            raise InvalidInput(f"{exc}{hint}") from exc
        with self.lock(name, "snapshot create"):
            dom, model = self.model(name)
            existing = [s.name for s in host_snapshots.list_all(self.host, dom)]
            if snapshot in existing:
                raise Conflict(
                    f"VM {name} already has a snapshot named {snapshot!r}; pick another name "
                    f"or delete it first with 'virtdeck vm snapshot delete {name} {snapshot}'"
                )
            raw = _non_qcow2_disks(model)
            if raw and not disk_only:
                raise Unsupported(
                    f"VM {name} has disks that are not qcow2 ({', '.join(raw)}), and only "
                    "qcow2 disks hold internal snapshots; use --disk-only for an external one"
                )
            self.observe(dom)
            flags = 0
            if disk_only:
                flags = (
                    libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                    | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                )
            kind = "disks only" if disk_only or not dom.isActive() else "memory and disks"
            with self.operation("snapshot", name, f"taking snapshot {snapshot} ({kind})"):
                xml = _snapshot_xml(snapshot, description)
                snap = self.host.call(
                    f"create snapshot {snapshot} of {name}",
                    lambda _c: dom.snapshotCreateXML(xml, flags),
                    retry=False,
                )
                facts = host_snapshots.parse(snap.getXMLDesc(0), True)
                if facts.overlays:
                    # libvirt pointed the definition at the new overlays.
                    self._record(dom, "snapshot-create")
                    self._set_created_disks(
                        dom,
                        lambda old: old + [p for p in facts.overlays if p not in old],
                        "snapshot-create",
                    )
        return self._info(name, facts)

    # -- read -----------------------------------------------------------------
    def list_snapshots(self, name: str) -> list[SnapshotInfo]:
        dom = self.lookup(name)
        return [self._info(name, f) for f in host_snapshots.list_all(self.host, dom)]

    def get_snapshot(self, name: str, snapshot: str) -> SnapshotInfo:
        dom = self.lookup(name)
        snap = host_snapshots.lookup(self.host, dom, snapshot)
        return self._info(name, host_snapshots.parse(snap.getXMLDesc(0), bool(snap.isCurrent(0))))

    # -- revert ---------------------------------------------------------------
    def revert_snapshot(self, name: str, snapshot: str) -> SnapshotRevertResult:
        with self.lock(name, "snapshot revert"):
            dom = self.lookup(name)
            snap = host_snapshots.lookup(self.host, dom, snapshot)
            info = self._info(name, host_snapshots.parse(snap.getXMLDesc(0), False))
            if not info.revertible:
                lib, _hv = self.host.versions()
                raise Unsupported(
                    f"snapshot {snapshot} of {name} is disk-only (external) and libvirt {lib} "
                    "on this host cannot revert to those; revert to a snapshot taken without "
                    "--disk-only instead"
                )
            self.observe(dom)
            ours = Domain.from_xml(self.inactive_xml(dom)).get_meta_list(META_CREATED_DISKS)
            with self.operation("snapshot-revert", name, f"reverting to snapshot {snapshot}"):
                self.host.call(
                    f"revert {name} to snapshot {snapshot}",
                    lambda _c: dom.revertToSnapshot(snap, 0),
                    retry=False,
                )
                # The snapshot carries the definition it was taken with; it is the VM's now.
                self._record(dom, "snapshot-revert")
                # That older definition may not list overlays made since; they are still ours
                # to remove with the VM.
                self._set_created_disks(
                    dom,
                    lambda old: old + [p for p in ours if p not in old and Path(p).exists()],
                    "snapshot-revert",
                )
            state = domains.state_of(dom)
        return SnapshotRevertResult(vm=name, snapshot=snapshot, state=state)

    # -- delete ---------------------------------------------------------------
    def delete_snapshot(
        self, name: str, snapshot: str, metadata_only: bool = False
    ) -> SnapshotDeleteResult:
        with self.lock(name, "snapshot delete"):
            dom = self.lookup(name)
            snap = host_snapshots.lookup(self.host, dom, snapshot)
            facts = host_snapshots.parse(snap.getXMLDesc(0), False)
            self.observe(dom)
            flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY if metadata_only else 0
            try:
                self.host.call(
                    f"delete snapshot {snapshot} of {name}",
                    lambda _c: snap.delete(flags),
                    retry=False,
                )
            except (Unsupported, InvalidInput) as exc:
                if not facts.external:
                    raise
                raise Unsupported(
                    f"libvirt cannot merge the overlay files of disk-only snapshot {snapshot} "
                    f"back into {name}'s disks here ({_detail(exc)}); "
                    "'--metadata-only' forgets the snapshot and keeps its files in the disk chain"
                ) from exc
            removed = [p for p in facts.overlays if not Path(p).exists()]
            if facts.external and not metadata_only:
                self._record(dom, "snapshot-delete")
                self._set_created_disks(
                    dom, lambda old: [p for p in old if p not in removed], "snapshot-delete"
                )
        return SnapshotDeleteResult(vm=name, snapshot=snapshot, removed_files=removed)


def _detail(exc: VirtdeckError) -> str:
    return exc.message.rsplit(": ", 1)[-1]
