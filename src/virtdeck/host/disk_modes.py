"""Disks virtdeck made are readable by root (and, while a VM runs, QEMU's user) only.

Before this was fixed, virtdeck made disks 0644 under predictable names in
a world-readable directory: any local user could read every guest's data.
New files are made 0600 (``storage``); this makes the older ones so too.
libvirt's dynamic ownership hands a disk to QEMU's user while its VM runs,
so no mode bit for group or others is ever needed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import Any

import libvirt

from virtdeck.model import Domain

from .connection import Host

PRIVATE = 0o600


def make_private(paths: Iterable[str]) -> list[str]:
    """chmod 0600 each regular file that group or others may read; the ones changed."""
    changed = []
    for path in paths:
        try:
            info = os.lstat(path)  # a symlink is not followed: it is not ours to change
            if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
                os.chmod(path, PRIVATE)
                changed.append(path)
        except OSError:
            continue
    return changed


def created_disks(host: Host, meta_key: str) -> list[str]:
    """The files every VM's virtdeck metadata says virtdeck made for it."""

    def read(conn: Any) -> list[str]:
        found: list[str] = []
        for dom in conn.listAllDomains(0):
            try:
                flags = libvirt.VIR_DOMAIN_XML_INACTIVE if dom.isPersistent() else 0
                found += Domain.from_xml(dom.XMLDesc(flags)).get_meta_list(meta_key)
            except libvirt.libvirtError:
                continue
        return found

    return host.call("list the disks virtdeck made", read)
