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

from lxml import etree

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
    format: str = "qcow2"
    device: Literal["disk", "cdrom"] = "disk"
    bus: str = "virtio"
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
    graphics_listen: str = "127.0.0.1"
    graphics_password: str | None = None
    serial_log: str | None = None
    cpu_mode: str | None = None
    machine: str = "q35"
    arch: str = "x86_64"
    boot: list[str] = field(default_factory=lambda: ["hd"])
    uuid: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _element(tag: str, **attrs: str) -> etree._Element:
    return etree.Element(tag, {k.rstrip("_"): v for k, v in attrs.items()})


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
            cpu.set("./@check", "none")
    dom.set("./clock/@offset", "utc")
    dom.on_poweroff = "destroy"
    dom.on_reboot = "restart"
    dom.on_crash = "destroy"
    _add_devices(dom, spec)
    return dom


def _add_devices(dom: Domain, spec: NewDomain) -> None:
    _add_disks(dom, spec)
    _add_controllers(dom, spec)
    for network in spec.networks:
        nic = Interface()
        nic.type = "network"
        nic.source_network = network
        nic.model = "virtio"
        dom.add_device(nic)
    _add_console(dom, spec)
    _add_graphics(dom, spec)
    balloon = MemBalloon()
    balloon.model = "virtio"
    balloon.stats_period = 5
    dom.add_device(balloon)
    rng = Rng()
    rng.model = "virtio"
    rng.backend_model = "random"
    rng.backend = "/dev/urandom"
    dom.add_device(rng)


def _add_disks(dom: Domain, spec: NewDomain) -> None:
    for new in spec.disks:
        disk = Disk()
        disk.type = "file"
        disk.device = new.device
        disk.driver_name = "qemu"
        disk.format = new.format
        disk.source_file = new.path
        disk.target = new.target
        disk.bus = new.bus
        if new.readonly or new.device == "cdrom":
            disk.readonly = True
        if new.boot_order is not None:
            disk.boot_order = new.boot_order
        dom.add_device(disk)


def _controller(dom: Domain, kind: str, model: str, index: int | None = None) -> None:
    controller = Controller()
    controller.type = kind
    if index is not None:
        controller.index = index
    controller.model = model
    dom.add_device(controller)


def _add_controllers(dom: Domain, spec: NewDomain) -> None:
    scsi = any(d.bus == "scsi" for d in spec.disks)
    if scsi:
        _controller(dom, "scsi", "virtio-scsi", index=0)
    if "q35" in spec.machine:
        # Hot-plugging a disk or NIC on q35 needs a free PCIe root port. The
        # virtio-scsi controller takes one too; SATA sits on the root complex.
        _controller(dom, "pci", "pcie-root", index=0)
        virtio_disks = sum(1 for d in spec.disks if d.bus == "virtio")
        used = virtio_disks + len(spec.networks) + OTHER_PCIE_DEVICES + int(scsi)
        for _ in range(used + SPARE_ROOT_PORTS):
            _controller(dom, "pci", "pcie-root-port")


def _add_console(dom: Domain, spec: NewDomain) -> None:
    serial = Serial()
    serial.type = "pty"
    if spec.serial_log:
        serial.log_file = spec.serial_log
        # 'off': the log holds what the guest printed since it last started.
        serial.log_append = "off"
    serial.target_type = "isa-serial"
    serial.target_port = 0
    dom.add_device(serial)
    console = Console()
    console.type = "pty"
    console.target_type = "serial"
    console.target_port = 0
    dom.add_device(console)
    agent = Channel()
    agent.type = "unix"
    agent.target_type = "virtio"
    agent.target_name = "org.qemu.guest_agent.0"
    dom.add_device(agent)


def _add_graphics(dom: Domain, spec: NewDomain) -> None:
    video = Video()
    video.model = "vga" if spec.graphics != "none" else "none"
    if spec.graphics != "none":
        graphics = Graphics()
        graphics.type = spec.graphics
        graphics.autoport = True
        graphics.listen = spec.graphics_listen
        graphics.listen_type = "address"
        graphics.listen_address = spec.graphics_listen
        if spec.graphics_password:
            graphics.password = spec.graphics_password
        dom.add_device(graphics)
        tablet = Input()
        tablet.type = "tablet"
        tablet.bus = "usb"
        dom.add_device(tablet)
    dom.add_device(video)
