"""Domain snapshots on one host: read what libvirt keeps about them.

libvirt stores a snapshot as XML (``virsh snapshot-dumpxml``); this module
turns that into plain facts, and says which kinds this host can revert.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import libvirt

from virtdeck.errors import Hint, NotFound
from virtdeck.model import DomainSnapshot, quote

from .connection import Host
from .handle import DomainHandle

# libvirt 9.7 added reverting to external (disk-only) snapshots to the QEMU
# driver; before it the call fails with "not supported yet".
_EXTERNAL_REVERT_SINCE = 9_007_000


@dataclass(frozen=True)
class SnapshotFacts:
    name: str
    description: str
    created: int  # seconds since the epoch
    vm_state: str  # the VM's state when it was taken: running, paused, shutoff, disk-snapshot
    memory: bool  # the guest's RAM and device state are in it
    external: bool  # its disks are overlay files next to the originals, not inside them
    parent: str | None
    current: bool
    overlays: list[str] = field(default_factory=list)  # files an external snapshot made


def parse(xml: str, current: bool) -> SnapshotFacts:
    snap = DomainSnapshot.from_xml(xml)
    return SnapshotFacts(
        name=(snap.name or "").strip(),
        description=(snap.description or "").strip(),
        created=snap.creation_time or 0,
        vm_state=(snap.state or "").strip(),
        memory=snap.has_memory,
        external=snap.external,
        parent=snap.parent,
        current=current,
        overlays=snap.overlays,
    )


def list_all(handle: DomainHandle) -> list[SnapshotFacts]:
    """Every snapshot of the VM, oldest first."""

    def read(dom: Any) -> list[SnapshotFacts]:
        found = []
        for snap in dom.listAllSnapshots(0):
            found.append(parse(snap.getXMLDesc(0), bool(snap.isCurrent(0))))
        return sorted(found, key=lambda s: (s.created, s.name))

    return handle.call(f"list the snapshots of {handle.name}", read)


def _snapshot(handle: DomainHandle, dom: Any, name: str) -> Any:
    """The virDomainSnapshot called ``name``; NotFound lists the ones there are."""
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise
    names = [s.name for s in list_all(handle)]
    vm = handle.name
    if not names:
        raise NotFound(
            f"VM {vm} has no snapshots; take one first",
            field="snapshot",
            hint=Hint("vm.snapshot.create", vm=vm),
        ) from None
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"it has {', '.join(names)}"
    raise NotFound(
        f"VM {vm} has no snapshot named {quote(name)}; {hint}", field="snapshot"
    ) from None


def get(handle: DomainHandle, name: str) -> SnapshotFacts:
    """The snapshot called ``name``; NotFound lists the ones there are."""

    def read(dom: Any) -> SnapshotFacts:
        snap = _snapshot(handle, dom, name)
        return parse(snap.getXMLDesc(0), bool(snap.isCurrent(0)))

    return handle.call(f"look up snapshot {name} of {handle.name}", read)


def create(handle: DomainHandle, name: str, xml: str, disk_only: bool) -> SnapshotFacts:
    """Take a snapshot (internal, with memory when running; or external, disks only)."""
    flags = 0
    if disk_only:
        flags = (
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
        )

    def take(dom: Any) -> SnapshotFacts:
        return parse(dom.snapshotCreateXML(xml, flags).getXMLDesc(0), True)

    return handle.call(f"create snapshot {name} of {handle.name}", take, retry=False)


def revert(handle: DomainHandle, name: str) -> None:
    handle.call(
        f"revert {handle.name} to snapshot {name}",
        lambda dom: dom.revertToSnapshot(_snapshot(handle, dom, name), 0),
        retry=False,
    )


def delete(handle: DomainHandle, name: str, metadata_only: bool) -> None:
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY if metadata_only else 0
    handle.call(
        f"delete snapshot {name} of {handle.name}",
        lambda dom: _snapshot(handle, dom, name).delete(flags),
        retry=False,
    )


def supports_external_revert(host: Host) -> bool:
    """Can this host's libvirt revert to an external (disk-only) snapshot?"""
    version = host.call("read the libvirt version", lambda c: c.getLibVersion())
    return int(version) >= _EXTERNAL_REVERT_SINCE
