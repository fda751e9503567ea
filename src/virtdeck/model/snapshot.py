"""The ``<domainsnapshot>`` element: what ``virsh snapshot-dumpxml`` shows.

virtdeck builds one to ask for a snapshot (a name and a description; libvirt
fills in the rest) and reads the ones libvirt keeps.
"""

from __future__ import annotations

from .subelements import Driver, Source
from .text import quote
from .xmlbase import Child, Children, InvalidElement, LazyChild, XmlElement, integer, text

MEMORY_KINDS = ("no", "internal", "external")
DISK_SNAPSHOT_KINDS = ("no", "internal", "external", "manual")


class SnapshotDisk(XmlElement):
    """How one disk of the VM is in the snapshot; external ones name their overlay."""

    TAG = "disk"
    CHILD_ORDER = ("driver", "source")
    name = text("./@name")
    snapshot = text("./@snapshot")
    driver_element = Child(Driver)
    source_element = Child(Source)
    format = driver_element.field(Driver.type)
    source_file = source_element.field(Source.file)

    @property
    def external(self) -> bool:
        return self.snapshot == "external"

    def validate(self) -> None:
        if not self.name:
            raise InvalidElement(self.TAG, "of a snapshot has no name; set the disk's target")
        if self.snapshot not in (None, *DISK_SNAPSHOT_KINDS):
            raise InvalidElement(
                self.TAG,
                f"{self.name} has snapshot={quote(self.snapshot)}; "
                f"use {', '.join(DISK_SNAPSHOT_KINDS)}",
            )


class SnapshotDisks(XmlElement):
    TAG = "disks"
    disks = Children(SnapshotDisk)


class SnapshotMemory(XmlElement):
    TAG = "memory"
    snapshot = text("./@snapshot")
    file = text("./@file")


class SnapshotParent(XmlElement):
    TAG = "parent"
    name = text("./name")


class DomainSnapshot(XmlElement):
    TAG = "domainsnapshot"
    # libvirt's order (what virDomainSnapshotDefFormat writes).
    CHILD_ORDER = (
        "name",
        "description",
        "state",
        "parent",
        "creationTime",
        "memory",
        "disks",
        "domain",
        "inactiveDomain",
        "cookie",
        "active",
    )
    name = text("./name")
    description = text("./description")
    state = text("./state")  # the VM's state when it was taken
    creation_time = integer("./creationTime")  # seconds since the epoch
    parent_element = Child(SnapshotParent)
    parent = parent_element.field(SnapshotParent.name)
    memory_element = Child(SnapshotMemory)
    memory_snapshot = memory_element.field(SnapshotMemory.snapshot)
    memory_file = memory_element.field(SnapshotMemory.file)
    disks_element = LazyChild(SnapshotDisks)

    @classmethod
    def new(cls, name: str, description: str = "") -> DomainSnapshot:
        """What to hand ``snapshotCreateXML``: libvirt fills in everything else."""
        snapshot = cls()
        snapshot.name = name
        if description:
            snapshot.description = description
        return snapshot

    @property
    def disks(self) -> list[SnapshotDisk]:
        return self.disks_element.disks

    def add_disk(self, name: str, snapshot: str, source_file: str | None = None) -> SnapshotDisk:
        """Ask for disk ``name`` (its target, vda) to be snapshotted as ``snapshot``."""
        disk = SnapshotDisk()
        disk.name = name
        disk.snapshot = snapshot
        disk.source_file = source_file
        return self.disks_element.add_child(disk)

    @property
    def has_memory(self) -> bool:
        """The guest's RAM and device state are in it (a running VM's snapshot)."""
        return self.memory_snapshot in ("internal", "external")

    @property
    def external(self) -> bool:
        """Its disks (or memory) live in files of their own, next to the originals."""
        return self.memory_snapshot == "external" or any(d.external for d in self.disks)

    @property
    def overlays(self) -> list[str]:
        """The overlay files an external snapshot made, one per disk."""
        return [d.source_file for d in self.disks if d.external and d.source_file]

    def validate(self) -> None:
        if not self.name:
            raise InvalidElement(self.TAG, "has no name; set name")
        if self.memory_snapshot not in (None, *MEMORY_KINDS):
            raise InvalidElement(
                self.TAG,
                f"{self.name} has memory snapshot={quote(self.memory_snapshot)}; "
                f"use {', '.join(MEMORY_KINDS)}",
            )
        if self.memory_snapshot == "external" and not self.memory_file:
            raise InvalidElement(
                self.TAG, f"{self.name} keeps memory externally but names no file; set memory_file"
            )
        for disk in self.disks:
            disk.validate()
