"""The ``<domain>`` element: one virtual machine definition."""

from __future__ import annotations

from typing import TypeVar

from lxml import etree

from .devices import (
    Channel,
    Console,
    Controller,
    Disk,
    Filesystem,
    Graphics,
    Input,
    Interface,
    MemBalloon,
    Rng,
    Serial,
    Video,
)
from .sections import Clock, Cpu, Devices, Features, Os
from .sizes import SizeKiB
from .xmlbase import Child, InvalidElement, LazyChild, XmlElement, insert_ordered, integer, text

__all__ = ["METADATA_NS", "Clock", "Cpu", "Devices", "Domain", "Features", "Os", "SizeKiB"]

D = TypeVar("D", bound=XmlElement)

# virtdeck's own facts about a VM live in <metadata> under this namespace, so
# they travel with the definition (dumpxml, migration, backups).
METADATA_NS = "https://virtdeck.dev/xmlns/domain/1"
METADATA_PREFIX = "virtdeck"


class Domain(XmlElement):
    TAG = "domain"
    CHILD_ORDER = (
        "name",
        "uuid",
        "genid",
        "title",
        "description",
        "metadata",
        "maxMemory",
        "memory",
        "currentMemory",
        "blkiotune",
        "memtune",
        "memoryBacking",
        "vcpu",
        "vcpus",
        "iothreads",
        "cputune",
        "numatune",
        "resource",
        "sysinfo",
        "bootloader",
        "os",
        "idmap",
        "features",
        "cpu",
        "clock",
        "on_poweroff",
        "on_reboot",
        "on_crash",
        "pm",
        "perf",
        "devices",
        "seclabel",
    )

    type = text("./@type")
    name = text("./name")
    uuid = text("./uuid")
    title = text("./title")
    description = text("./description")
    memory_kib = SizeKiB("./memory")
    current_memory_kib = SizeKiB("./currentMemory")
    max_vcpus = integer("./vcpu")
    vcpu_placement = text("./vcpu/@placement")
    on_poweroff = text("./on_poweroff")
    on_reboot = text("./on_reboot")
    on_crash = text("./on_crash")

    @property
    def vcpus(self) -> int | None:
        """vCPUs at boot: ``<vcpu current>`` when set, otherwise the maximum."""
        current = self.get("./vcpu/@current")
        return int(current) if current is not None else self.max_vcpus

    @vcpus.setter
    def vcpus(self, value: int | None) -> None:
        if value is not None and self.max_vcpus is None:
            # No <vcpu> yet: the count is also the maximum (libvirt needs the text).
            self.max_vcpus = value
        if value is None or value == self.max_vcpus:
            self.set("./vcpu/@current", None)
        else:
            self.set("./vcpu/@current", str(value))

    @property
    def memory_current_kib(self) -> int | None:
        """What the guest gets: ``currentMemory`` when set, otherwise ``memory``."""
        return self.current_memory_kib or self.memory_kib

    def validate(self) -> None:
        """Raise InvalidElement for the first thing libvirt would refuse to define."""
        if self.type is None:
            raise InvalidElement(self.TAG, "has no type; set type to kvm or qemu")
        if not self.name:
            raise InvalidElement(self.TAG, "has no name; set name")
        if self.memory_kib is None or self.memory_kib <= 0:
            raise InvalidElement(self.TAG, f"{self.name} has no memory size; set memory_kib")
        current = self.current_memory_kib
        if current is not None and current > self.memory_kib:
            raise InvalidElement(
                self.TAG,
                f"{self.name} has currentMemory ({current} KiB) above memory "
                f"({self.memory_kib} KiB); raise memory_kib or lower current_memory_kib",
            )
        maximum, vcpus = self.max_vcpus, self.vcpus
        if maximum is None or maximum < 1 or vcpus is None or vcpus < 1:
            raise InvalidElement(self.TAG, f"{self.name} has no vCPUs; set max_vcpus to 1 or more")
        if vcpus > maximum:
            raise InvalidElement(
                self.TAG,
                f"{self.name} boots with {vcpus} vCPUs but may have at most {maximum}; "
                "raise max_vcpus or lower vcpus",
            )
        self.os.validate()
        if self.cpu is not None:
            self.cpu.validate()
        self.devices.validate()

    # -- sub-elements ---------------------------------------------------------
    # Reading any of these never changes the tree: os, features, clock and
    # devices read as empty when missing and join the tree on a first write.
    os = LazyChild(Os)
    cpu = Child(Cpu)
    features = LazyChild(Features)
    clock = LazyChild(Clock)
    devices = LazyChild(Devices)

    def ensure_cpu(self) -> Cpu:
        return Domain.cpu.ensure(self)

    def has_feature(self, name: str) -> bool:
        return self.features.has(name)

    def enable_feature(self, name: str) -> None:
        self.features.enable(name)

    # -- devices --------------------------------------------------------------
    @property
    def devices_node(self) -> etree._Element:
        """The <devices> element; detached and empty when the domain has none.

        Add devices with ``add_device``: it creates <devices> when needed.
        """
        return self.devices.node

    @property
    def emulator(self) -> str | None:
        return self.devices.emulator

    @property
    def disks(self) -> list[Disk]:
        return self.devices.disks

    @property
    def interfaces(self) -> list[Interface]:
        return self.devices.interfaces

    @property
    def graphics(self) -> list[Graphics]:
        return self.devices.graphics

    @property
    def serials(self) -> list[Serial]:
        return self.devices.serials

    @property
    def consoles(self) -> list[Console]:
        return self.devices.consoles

    @property
    def channels(self) -> list[Channel]:
        return self.devices.channels

    @property
    def controllers(self) -> list[Controller]:
        return self.devices.controllers

    @property
    def memballoon(self) -> MemBalloon | None:
        return self.devices.memballoon

    @property
    def rngs(self) -> list[Rng]:
        return self.devices.rngs

    @property
    def videos(self) -> list[Video]:
        return self.devices.videos

    @property
    def inputs(self) -> list[Input]:
        return self.devices.inputs

    @property
    def filesystems(self) -> list[Filesystem]:
        return self.devices.filesystems

    def add_device(self, device: D) -> D:
        return self.devices.add_child(device)

    def remove_device(self, device: XmlElement) -> None:
        parent = device.node.getparent()
        if parent is not None:
            parent.remove(device.node)

    # -- virtdeck metadata ----------------------------------------------------
    def _metadata_root(self, create: bool) -> etree._Element | None:
        meta = self.node.find("metadata")
        if meta is None:
            if not create:
                return None
            meta = etree.Element("metadata")
            insert_ordered(self.node, meta, self.CHILD_ORDER)
        ours = meta.find(f"{{{METADATA_NS}}}vm")
        if ours is None and create:
            ours = etree.SubElement(
                meta, f"{{{METADATA_NS}}}vm", nsmap={METADATA_PREFIX: METADATA_NS}
            )
        return ours

    def get_meta(self, key: str) -> str | None:
        root = self._metadata_root(create=False)
        if root is None:
            return None
        node = root.find(f"{{{METADATA_NS}}}{key}")
        return None if node is None else (node.text or "")

    def set_meta(self, key: str, value: str | None) -> None:
        root = self._metadata_root(create=value is not None)
        if root is None:
            return
        node = root.find(f"{{{METADATA_NS}}}{key}")
        if value is None:
            if node is not None:
                root.remove(node)
            if len(root) == 0:
                # Our namespace element is empty: leave no trace of it.
                meta = root.getparent()
                if meta is not None:
                    meta.remove(root)
                    if len(meta) == 0 and meta.getparent() is not None:
                        meta.getparent().remove(meta)  # type: ignore[union-attr]
            return
        if node is None:
            node = etree.SubElement(root, f"{{{METADATA_NS}}}{key}")
        node.text = value

    def get_meta_list(self, key: str) -> list[str]:
        raw = self.get_meta(key)
        return [item for item in (raw or "").split("\n") if item]

    def set_meta_list(self, key: str, values: list[str]) -> None:
        self.set_meta(key, "\n".join(values) if values else None)

    def metadata_xml(self) -> str | None:
        """Our metadata element alone, as it stands in the definition."""
        root = self._metadata_root(create=False)
        return None if root is None else etree.tostring(root, encoding="unicode")

    def metadata_for_set(self) -> str:
        """Our metadata as libvirt's setMetadata() takes it: in a default namespace.

        libvirt adds the prefix it is given itself, and refuses an element
        that already declares one.
        """
        source = self._metadata_root(create=False)
        root = etree.Element(f"{{{METADATA_NS}}}vm", nsmap={None: METADATA_NS})  # type: ignore[dict-item]
        for child in source if source is not None else []:
            etree.SubElement(root, child.tag).text = child.text
        return etree.tostring(root, encoding="unicode")
