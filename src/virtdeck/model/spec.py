"""Pure helpers for live changes and VM specs: exact sizes, MACs, disk targets.

No I/O and no libvirt: the engine decides, these only compute and build.
"""

from __future__ import annotations

import random
import re

from .devices import Disk, Graphics, Interface
from .domain import Domain
from .text import quote

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_VIRTIO_TARGET = re.compile(r"^vd([a-z]{1,2})$")
NIC_MODELS = ("virtio", "e1000e", "e1000", "rtl8139")


def exact_size(size_bytes: int) -> str:
    """The shortest form that parses back to exactly ``size_bytes``: 256M, 1G, 1536K."""
    for suffix, factor in (("T", 2**40), ("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return f"{size_bytes}B"


def normalise_mac(mac: str) -> str:
    """Lower case, colon separated; ValueError names what is wrong."""
    value = mac.strip().lower().replace("-", ":")
    if not _MAC.match(value):
        raise ValueError(
            f"{quote(mac)} is not a MAC address; write six hex pairs like 52:54:00:12:34:56"
        )
    if int(value[:2], 16) & 1:
        raise ValueError(f"{quote(mac)} is a multicast address; a NIC needs a unicast one")
    return value


def random_mac() -> str:
    """A locally administered address in QEMU's 52:54:00 range, as libvirt makes them."""
    tail = random.randbytes(3)
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


def check_disk_target(target: str) -> str:
    if not _VIRTIO_TARGET.match(target):
        raise ValueError(
            f"disk target {quote(target)} is not a virtio disk name; use vdb, vdc, ... "
            "(vd and letters)"
        )
    return target


def next_disk_target(used: set[str]) -> str:
    """The first free virtio name after those in use: vdb after vda, vdaa after vdz."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = [f"vd{a}" for a in letters] + [f"vd{a}{b}" for a in letters for b in letters]
    for name in names:
        if name not in used:
            return name
    raise ValueError("every virtio disk name is taken")


def new_disk(path: str, disk_format: str, target: str) -> Disk:
    return Disk.file(path, disk_format, target)


def new_nic(network: str, mac: str, model: str) -> Interface:
    return Interface.network(network, model, mac)


def graphics_kind(dom: Domain) -> str:
    """The kind of the VM's first graphics device, or 'none'."""
    found = dom.graphics
    return (found[0].type or "none") if found else "none"


def set_graphics(dom: Domain, kind: str) -> None:
    """One local graphics device of ``kind`` (vnc, spice), or none at all."""
    for old in dom.graphics:
        dom.remove_device(old)
    if kind == "none":
        return
    dom.add_device(Graphics.local(kind))
    for video in dom.videos:
        if video.model == "none":
            video.model = "vga"
