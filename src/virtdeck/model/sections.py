"""The large parts of a ``<domain>``: os, cpu, features, clock and devices."""

from __future__ import annotations

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
from .subelements import Boot
from .text import quote
from .xmlbase import Child, Children, InvalidElement, XmlElement, insert_ordered, text

OS_TYPES = ("hvm", "linux", "xen", "exe", "uml")


class Os(XmlElement):
    TAG = "os"
    CHILD_ORDER = (
        "type",
        "firmware",
        "loader",
        "nvram",
        "init",
        "initarg",
        "initenv",
        "initdir",
        "inituser",
        "initgroup",
        "kernel",
        "initrd",
        "cmdline",
        "shim",
        "dtb",
        "acpi",
        "boot",
        "bootmenu",
        "smbios",
        "bios",
    )
    type = text("./type")
    arch = text("./type/@arch")
    machine = text("./type/@machine")
    firmware = text("./@firmware")
    kernel = text("./kernel")
    boots = Children(Boot)

    @property
    def boot_devices(self) -> list[str]:
        return [boot.dev or "" for boot in self.boots]

    @boot_devices.setter
    def boot_devices(self, devices: list[str]) -> None:
        self.boots = [Boot.device(dev) for dev in devices]

    def validate(self) -> None:
        if self.type not in OS_TYPES:
            raise InvalidElement(
                self.TAG, f"type {quote(self.type)} is unknown; use hvm for a KVM or QEMU guest"
            )
        for boot in self.boots:
            if boot.dev is None:
                raise InvalidElement(self.TAG, "has a <boot> without dev; use hd, cdrom or network")


class Cpu(XmlElement):
    TAG = "cpu"
    CHILD_ORDER = ("model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa")
    CPU_MODES = ("custom", "host-model", "host-passthrough", "maximum")
    mode = text("./@mode")
    match = text("./@match")
    check = text("./@check")
    model = text("./model")

    def validate(self) -> None:
        if self.mode not in (None, *self.CPU_MODES):
            raise InvalidElement(
                self.TAG, f"mode {quote(self.mode)} is unknown; use {', '.join(self.CPU_MODES)}"
            )


class Features(XmlElement):
    """Hypervisor features, each an element of its own (``<acpi/>``, ``<apic/>``, ...)."""

    TAG = "features"
    # libvirt's own order of features (its enum, which it formats in).
    CHILD_ORDER = (
        "acpi",
        "apic",
        "pae",
        "hap",
        "viridian",
        "privnet",
        "hyperv",
        "kvm",
        "pvspinlock",
        "capabilities",
        "pmu",
        "vmport",
        "gic",
        "smm",
        "ioapic",
        "hpt",
        "vmcoreinfo",
        "htm",
        "nested-hv",
        "msrs",
        "ccf-assist",
        "xen",
        "cfpc",
        "sbbc",
        "ibs",
        "tcg",
        "async-teardown",
        "ras",
        "ps2",
    )

    def has(self, name: str) -> bool:
        return self.node.find(name) is not None

    def enable(self, name: str) -> None:
        if not self.has(name):
            # <acpi/>, as libvirt writes it, not <acpi></acpi>
            insert_ordered(self.attach().node, etree.Element(name), self.CHILD_ORDER)


class Clock(XmlElement):
    TAG = "clock"
    CHILD_ORDER = ("timer",)
    offset = text("./@offset")


class Devices(XmlElement):
    TAG = "devices"
    CHILD_ORDER = DEVICE_ORDER
    emulator = text("./emulator")
    disks = Children(Disk)
    interfaces = Children(Interface)
    graphics = Children(Graphics)
    serials = Children(Serial)
    consoles = Children(Console)
    channels = Children(Channel)
    controllers = Children(Controller)
    memballoon = Child(MemBalloon)
    rngs = Children(Rng)
    videos = Children(Video)
    inputs = Children(Input)
    filesystems = Children(Filesystem)

    def validate(self) -> None:
        seen: set[str] = set()
        for disk in self.disks:
            disk.validate()
            if disk.target in seen:
                raise InvalidElement(
                    self.TAG, f"has two disks on target {disk.target}; give each its own"
                )
            seen.add(disk.target or "")
        for group in (self.interfaces, self.graphics, self.serials, self.controllers):
            for device in group:
                device.validate()
