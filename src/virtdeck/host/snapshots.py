"""Domain snapshots on one host: read what libvirt keeps about them.

libvirt stores a snapshot as XML (``virsh snapshot-dumpxml``); this module
turns that into plain facts, and says which kinds this host can revert.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import libvirt
from lxml import etree

from virtdeck.errors import NotFound
from virtdeck.model import quote

from .connection import Host, translate

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
    root = etree.fromstring(xml.encode())

    def text(path: str) -> str:
        found = root.findtext(path)
        return (found or "").strip()

    memory = root.find("memory")
    memory_kind = memory.get("snapshot", "no") if memory is not None else "no"
    disks = root.findall("disks/disk")
    external = any(d.get("snapshot") == "external" for d in disks)
    overlays = [
        str(d.find("source").get("file"))  # type: ignore[union-attr]
        for d in disks
        if d.get("snapshot") == "external"
        and d.find("source") is not None
        and d.find("source").get("file")  # type: ignore[union-attr]
    ]
    return SnapshotFacts(
        name=text("name"),
        description=text("description"),
        created=int(text("creationTime") or 0),
        vm_state=text("state"),
        memory=memory_kind in ("internal", "external"),
        external=external or memory_kind == "external",
        parent=text("parent/name") or None,
        current=current,
        overlays=overlays,
    )


def list_all(host: Host, dom: Any) -> list[SnapshotFacts]:
    """Every snapshot of ``dom``, oldest first."""

    def read(_conn: Any) -> list[SnapshotFacts]:
        found = []
        for snap in dom.listAllSnapshots(0):
            found.append(parse(snap.getXMLDesc(0), bool(snap.isCurrent(0))))
        return sorted(found, key=lambda s: (s.created, s.name))

    return host.call(f"list the snapshots of {dom.name()}", read)


def lookup(host: Host, dom: Any, name: str) -> Any:
    """The virDomainSnapshot called ``name``; NotFound lists the ones there are."""
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
            raise translate(exc, f"look up snapshot {name} of {dom.name()}") from exc
    names = [s.name for s in list_all(host, dom)]
    vm = dom.name()
    if not names:
        raise NotFound(
            f"VM {vm} has no snapshots; 'virtdeck vm snapshot create {vm}' makes one"
        ) from None
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"it has {', '.join(names)}"
    raise NotFound(f"VM {vm} has no snapshot named {quote(name)}; {hint}") from None


def supports_external_revert(host: Host) -> bool:
    """Can this host's libvirt revert to an external (disk-only) snapshot?"""
    version = host.call("read the libvirt version", lambda c: c.getLibVersion())
    return int(version) >= _EXTERNAL_REVERT_SINCE
