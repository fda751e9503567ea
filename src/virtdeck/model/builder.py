"""Build the definition of a new VM from a few plain choices.

Pure: takes a ``NewDomain`` and returns a ``Domain``; reads no files and
calls no libvirt. What it writes follows what virt-install writes for a
modern x86_64 guest: q35, virtio devices, a serial console whose output is
logged to a file, spare PCIe root ports so disks and NICs can be hot-added.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Literal

from .devices import (
    Channel,
    Console,
    Controller,
    Disk,
    Graphics,
    Input,
    Interface,
    MemBalloon,
    Rng,
    Serial,
    Video,
)
from .domain import Domain

GraphicsKind = Literal["vnc", "spice", "none"]
# Free PCIe root ports left for hot-plugging disks and NICs on q35 (libvirt
# puts each PCIe device of the definition on a root port of its own first).
SPARE_ROOT_PORTS = 8
# Devices of our own definition that take a root port besides disks and NICs:
# balloon, rng, virtio-serial (agent channel) and the USB controller.
OTHER_PCIE_DEVICES = 4


@dataclass
class NewDisk:
    path: str
    format: str = Disk.DEFAULT_FORMAT
    device: Literal["disk", "cdrom"] = "disk"
    bus: str = Disk.DEFAULT_BUS
    target: str = "vda"
    readonly: bool = False
    boot_order: int | None = None


@dataclass
class NewDomain:
    name: str
    domain_type: Literal["kvm", "qemu"]
    vcpus: int
    max_vcpus: int
    memory_kib: int
    max_memory_kib: int
    disks: list[NewDisk] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    graphics: GraphicsKind = "vnc"
    graphics_listen: str = Graphics.DEFAULT_LISTEN
    graphics_password: str | None = None
    serial_log: str | None = None
    cpu_mode: str | None = None
    machine: str = "q35"
    arch: str = "x86_64"
    boot: list[str] = field(default_factory=lambda: ["hd"])
    uuid: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def build_domain(spec: NewDomain) -> Domain:
    dom = Domain()
    dom.type = spec.domain_type
    dom.name = spec.name
    dom.uuid = spec.uuid or str(uuidlib.uuid4())
    for key, value in spec.metadata.items():
        dom.set_meta(key, value)
    dom.memory_kib = spec.max_memory_kib
    dom.current_memory_kib = spec.memory_kib
    dom.max_vcpus = spec.max_vcpus
    dom.vcpu_placement = "static"
    dom.vcpus = spec.vcpus
    dom.os.type = "hvm"
    dom.os.arch = spec.arch
    dom.os.machine = spec.machine
    if not any(d.boot_order is not None for d in spec.disks):
        # libvirt refuses <os><boot> next to a per-device <boot order>: that one wins.
        dom.os.boot_devices = spec.boot
    dom.enable_feature("acpi")
    dom.enable_feature("apic")
    if spec.cpu_mode:
        cpu = dom.ensure_cpu()
        cpu.mode = spec.cpu_mode
        if spec.cpu_mode == "host-passthrough":
            cpu.check = "none"
    dom.clock.offset = "utc"
    dom.on_poweroff = "destroy"
    dom.on_reboot = "restart"
    dom.on_crash = "destroy"
    _add_devices(dom, spec)
    return dom


def _add_devices(dom: Domain, spec: NewDomain) -> None:
    _add_disks(dom, spec)
    _add_controllers(dom, spec)
    for network in spec.networks:
        dom.add_device(Interface.network(network))
    _add_console(dom, spec)
    _add_graphics(dom, spec)
    dom.add_device(MemBalloon.virtio())
    dom.add_device(Rng.urandom())


def _add_disks(dom: Domain, spec: NewDomain) -> None:
    for new in spec.disks:
        disk = Disk.file(new.path, new.format, new.target, new.bus, new.device)
        if new.readonly:
            disk.readonly = True
        if new.boot_order is not None:
            disk.boot_order = new.boot_order
        dom.add_device(disk)


def _add_controllers(dom: Domain, spec: NewDomain) -> None:
    scsi = any(d.bus == "scsi" for d in spec.disks)
    if scsi:
        dom.add_device(Controller.new("scsi", "virtio-scsi", index=0))
    if "q35" in spec.machine:
        # Hot-plugging a disk or NIC on q35 needs a free PCIe root port. The
        # virtio-scsi controller takes one too; SATA sits on the root complex.
        dom.add_device(Controller.new("pci", "pcie-root", index=0))
        virtio_disks = sum(1 for d in spec.disks if d.bus == "virtio")
        used = virtio_disks + len(spec.networks) + OTHER_PCIE_DEVICES + int(scsi)
        for _ in range(used + SPARE_ROOT_PORTS):
            dom.add_device(Controller.new("pci", "pcie-root-port"))


def _add_console(dom: Domain, spec: NewDomain) -> None:
    dom.add_device(Serial.pty(spec.serial_log))
    dom.add_device(Console.serial_pty())
    dom.add_device(Channel.guest_agent())


def _add_graphics(dom: Domain, spec: NewDomain) -> None:
    if spec.graphics != "none":
        dom.add_device(Graphics.local(spec.graphics, spec.graphics_listen, spec.graphics_password))
        dom.add_device(Input.new("tablet", "usb"))
    dom.add_device(Video.new("vga" if spec.graphics != "none" else "none"))
