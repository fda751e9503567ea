"""Where files that enter virtdeck may come from: storage pools and allowed directories.

A path named on the command line (and soon through the API) is a request to
let a VM read and write that file as QEMU's user, and to copy it with root's
rights. Naming ``/etc/shadow`` must not get its content into a disk, so a
path given to create, import or disk add has to lie inside a directory that
an administrator has set aside for images: a libvirt storage pool with a
target directory, or a directory listed in the settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import libvirt

from virtdeck.errors import InvalidInput, VirtdeckError, field_named
from virtdeck.model import StoragePool, format_size, quote

from .connection import Host


def pool_dirs(host: Host) -> list[Path]:
    """The target directories of every active storage pool (dir, fs, netfs), resolved."""

    def read(conn: Any) -> list[Path]:
        found = []
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            model = StoragePool.from_xml(pool.XMLDesc(0))
            if model.type not in ("dir", "fs", "netfs"):
                continue
            if model.target_path:
                found.append(Path(os.path.realpath(model.target_path)))
        return found

    return host.call("list storage pools", read)


def inside(path: Path, places: Sequence[Path]) -> bool:
    return any(path == place or path.is_relative_to(place) for place in places)


def places_of(host: Host, allowed_dirs: Sequence[Path]) -> list[Path]:
    extra = [Path(os.path.realpath(d)) for d in allowed_dirs]
    return sorted(set(pool_dirs(host) + extra))


def check_place(host: Host, path: Path, what: str, allowed_dirs: Sequence[Path]) -> Path:
    """``path`` with symlinks resolved, if it lies in a pool or an allowed directory.

    Resolved first, so that neither ``..`` nor a symlink inside a pool can
    point out of it. ``what`` names the path in the message: the request
    field it came in (``opt("iso")``), or words.
    """
    resolved = Path(os.path.realpath(path))
    places = places_of(host, allowed_dirs)
    if inside(resolved, places):
        return resolved
    listed = ", ".join(str(p) for p in places) or "none yet"
    shown = quote(str(path))
    if resolved != path:
        shown += f" (which is {quote(str(resolved))})"
    raise InvalidInput(
        f"{what} {shown} is outside every storage pool and allowed directory "
        f"({listed}); move the file into one of them, or make its directory a pool "
        "('virsh pool-define-as NAME dir --target DIR' then 'virsh pool-start NAME') "
        "or list it in VIRTDECK_ALLOWED_DIRS",
        field=field_named(what),
    )


def check_fits(host: Host, pool: str, size_bytes: int, what: str) -> None:
    """InvalidInput for a new disk larger than its pool could ever hold.

    New disks are sparse, so a size above what is free now is allowed (the
    guest fills it later, as with qemu-img); a size above the pool's whole
    capacity is a typo (1P for 1G), and the guest would fail its writes.
    ``what`` names the size: the request field it came in
    (``opt("size_bytes")``), or words.
    """

    def capacity(conn: Any) -> int:
        return int(conn.storagePoolLookupByName(pool).info()[1])

    try:
        total = host.call(f"read the size of storage pool {pool}", capacity)
    except VirtdeckError:
        return  # the pool is made on first use; the size is checked again then
    if size_bytes > total:
        raise InvalidInput(
            f"{what} {format_size(size_bytes)} is more than storage pool {pool!r} can ever "
            f"hold ({format_size(total)} in all); give a smaller size",
            field=field_named(what),
        )
