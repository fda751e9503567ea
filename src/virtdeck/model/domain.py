"""The ``<domain>`` element: one virtual machine definition."""

from __future__ import annotations

import builtins
from typing import TypeVar

from lxml import etree

from .devices import (
    DEVICE_ORDER,
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
from .units import to_kib, unit_factor
from .xmlbase import Field, XmlElement, XmlError, insert_ordered, integer, text

D = TypeVar("D", bound=XmlElement)

# virtdeck's own facts about a VM live in <metadata> under this namespace, so
# they travel with the definition (dumpxml, migration, backups).
METADATA_NS = "https://virtdeck.dev/xmlns/domain/1"
METADATA_PREFIX = "virtdeck"


def _kib_from(node: etree._Element) -> int:
    raw = (node.text or "").strip()
    # As libvirt reads it: a missing or empty unit means KiB, and a size that is
    # not a whole number of KiB is rounded up (1000 b is 1 KiB, not 0).
    unit = node.get("unit") or "KiB"
    return to_kib(int(raw) * unit_factor(unit))


class SizeKiB(Field[int]):
    """A libvirt memory size element (text plus ``unit``), read and written in KiB."""

    def __init__(self, path: str) -> None:
        super().__init__(path, int)

    def __get__(self, obj: XmlElement | None, owner: type) -> int | None:  # type: ignore[override]
        if obj is None:
            return self  # type: ignore[return-value]
        node = obj.node.find(self.path)
        if node is None or not (node.text or "").strip():
            return None
        try:
            return _kib_from(node)
        except ValueError as exc:
            raise XmlError(f"{self.path} has a bad size: {exc}") from exc

    def __set__(self, obj: XmlElement, value: int | None) -> None:
        if value is None:
            # Drop the unit first, so that the emptied element is pruned.
            obj.set(f"{self.path}/@unit", None)
            obj.set(self.path, None)
            return
        obj.set(self.path, str(value))
        obj.set(f"{self.path}/@unit", "KiB")


class Os(XmlElement):
    TAG = "os"
    CHILD_ORDER = ("type", "loader", "nvram", "kernel", "initrd", "cmdline", "boot", "bootmenu")
    type = text("./type")
    arch = text("./type/@arch")
    machine = text("./type/@machine")
    firmware = text("./@firmware")
    kernel = text("./kernel")

    @property
    def boot_devices(self) -> list[str]:
        return [b.get("dev", "") for b in self.node.findall("boot")]

    @boot_devices.setter
    def boot_devices(self, devices: list[str]) -> None:
        for old in self.node.findall("boot"):
            self.node.remove(old)
        for dev in devices:
            node = etree.Element("boot", dev=dev)
            insert_ordered(self.node, node, self.CHILD_ORDER)


class Cpu(XmlElement):
    TAG = "cpu"
    mode = text("./@mode")
    match = text("./@match")
    model = text("./model")


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

    # -- sub-elements ---------------------------------------------------------
    @property
    def os(self) -> Os:
        return self.ensure_child(Os, "./os")

    @property
    def cpu(self) -> Cpu | None:
        return self.child(Cpu, "./cpu")

    def ensure_cpu(self) -> Cpu:
        return self.ensure_child(Cpu, "./cpu")

    def has_feature(self, name: str) -> bool:
        return self.node.find(f"features/{name}") is not None

    def enable_feature(self, name: str) -> None:
        self.set(f"./features/{name}", "")
        node = self.node.find(f"features/{name}")
        if node is not None:
            node.text = None

    # -- devices --------------------------------------------------------------
    @property
    def devices_node(self) -> etree._Element:
        return self._ensure(["devices"])

    @property
    def emulator(self) -> str | None:
        return self.get("./devices/emulator")

    def _devices(self, cls: builtins.type[D]) -> list[D]:
        return self.children(cls, f"./devices/{cls.TAG}")

    @property
    def disks(self) -> list[Disk]:
        return self._devices(Disk)

    @property
    def interfaces(self) -> list[Interface]:
        return self._devices(Interface)

    @property
    def graphics(self) -> list[Graphics]:
        return self._devices(Graphics)

    @property
    def serials(self) -> list[Serial]:
        return self._devices(Serial)

    @property
    def consoles(self) -> list[Console]:
        return self._devices(Console)

    @property
    def channels(self) -> list[Channel]:
        return self._devices(Channel)

    @property
    def controllers(self) -> list[Controller]:
        return self._devices(Controller)

    @property
    def memballoon(self) -> MemBalloon | None:
        found: list[MemBalloon] = self._devices(MemBalloon)
        return found[0] if found else None

    @property
    def rngs(self) -> list[Rng]:
        return self._devices(Rng)

    @property
    def videos(self) -> list[Video]:
        return self._devices(Video)

    @property
    def inputs(self) -> list[Input]:
        return self._devices(Input)

    @property
    def filesystems(self) -> list[Filesystem]:
        return self._devices(Filesystem)

    def add_device(self, device: D) -> D:
        insert_ordered(self.devices_node, device.node, DEVICE_ORDER)
        return device

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
