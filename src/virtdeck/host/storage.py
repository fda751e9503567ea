"""Disk images on one host: the default pool, overlays and copies.

New disks live in the directory of the storage pool 'default' (created on
first use, as virt-install does). Images are made with qemu-img on this
machine, so these functions need a local URI.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
from lxml import etree

from virtdeck.errors import (
    Conflict,
    HostUnavailable,
    InvalidInput,
    OperationFailed,
    Unsupported,
    VirtdeckError,
)

from .checks import pool_path
from .connection import Host

DEFAULT_POOL = "default"


def _require_local(host: Host, action: str) -> None:
    if not host.is_local or host.is_test_driver:
        raise Unsupported(
            f"cannot {action} on {host.uri}: virtdeck makes disk images only on the local host "
            "for now; run it on that host"
        )


def ensure_default_pool(host: Host, images_dir: Path, name: str = DEFAULT_POOL) -> Path:
    """Path of the pool for new disks, defining and starting it when missing or stopped."""

    def ensure(conn: Any) -> None:
        try:
            pool = conn.storagePoolLookupByName(name)
        except Exception:
            images_dir.mkdir(parents=True, exist_ok=True)
            xml = (
                f"<pool type='dir'><name>{name}</name>"
                f"<target><path>{images_dir}</path></target></pool>"
            )
            pool = conn.storagePoolDefineXML(xml, 0)
            pool.setAutostart(1)
        if not pool.isActive():
            pool.create(0)

    host.call(f"prepare storage pool {name}", ensure, retry=False)
    path = pool_path(host, name)
    if path is None:
        raise OperationFailed(f"storage pool {name!r} has no target path; use a directory pool")
    return Path(path)


def refresh_pools(host: Host) -> None:
    """Let libvirt see files we added or removed (a stale listing is only cosmetic)."""

    def refresh(conn: Any) -> None:
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            try:
                pool.refresh(0)
            except libvirt.libvirtError:
                continue

    try:
        host.call("refresh storage pools", refresh)
    except VirtdeckError:
        pass


QEMU_IMG_MISSING = (
    "qemu-img is not installed; install Debian's qemu-utils (bash setup.sh demo does)"
)


def _run_qemu_img(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise HostUnavailable(QEMU_IMG_MISSING) from exc


def image_info(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidInput(f"image {path} does not exist; give the path of an existing disk image")
    proc = _run_qemu_img(["info", "--output", "json", "-U", str(path)])
    if proc.returncode != 0:
        raise InvalidInput(
            f"{path} is not a disk image qemu-img can read: "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr else ''}"
        )
    info: dict[str, Any] = json.loads(proc.stdout)
    return info


# Called with a new file's path as soon as it exists and is ours, before it
# is filled: the operation's record of what to remove if the process dies.
Claimed = Callable[[Path], None]
# Called with the percentage done while a long copy runs.
Progress = Callable[[int], None]

_PERCENT = re.compile(r"\((\d+(?:\.\d+)?)/100%\)")


def _qemu_img(action: str, *args: str) -> None:
    proc = _run_qemu_img(list(args))
    if proc.returncode != 0:
        raise _failed(action, proc.stderr)


def _failed(action: str, stderr: str) -> OperationFailed:
    lines = stderr.strip().splitlines()
    return OperationFailed(f"cannot {action}: {lines[-1] if lines else 'qemu-img failed'}")


def _qemu_img_with_progress(action: str, progress: Progress, *args: str) -> None:
    """qemu-img with ``-p``, its percentages passed on as they come."""
    try:
        # One stream: an error message is whatever line is not a percentage.
        proc = subprocess.Popen(
            ["qemu-img", *args[:1], "-p", *args[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except FileNotFoundError as exc:
        raise HostUnavailable(QEMU_IMG_MISSING) from exc
    assert proc.stdout is not None
    pending = b""
    last = -1
    said: list[str] = []
    try:
        # qemu-img redraws one line with carriage returns: "    (12.34/100%)\r".
        while chunk := os.read(proc.stdout.fileno(), 4096):
            pending += chunk
            *done, pending = re.split(rb"[\r\n]", pending)
            for raw in done:
                line = raw.decode(errors="replace").strip()
                found = _PERCENT.fullmatch(line)
                if found is None:
                    said += [line] if line else []
                elif int(float(found.group(1))) != last:
                    last = int(float(found.group(1)))
                    progress(last)
    finally:
        # Whatever stopped the reading (Ctrl-C, a failing callback), the copy
        # stops too, before the caller removes its file.
        if proc.poll() is None:
            proc.kill()
        returncode = proc.wait()
        proc.stdout.close()
    if returncode != 0:
        raise _failed(action, "\n".join([*said, pending.decode(errors="replace")]))


def _claim(path: Path, claimed: Claimed | None) -> None:
    """Create ``path`` as an empty file of ours, or refuse: never touch an existing one.

    Creating it (O_EXCL) rather than checking that it is absent means two
    creates racing for one name cannot both win.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError as exc:
        raise Conflict(
            f"disk {path} already exists; pick another VM name or remove that file"
        ) from exc
    except OSError as exc:
        why = (
            "the directory is read-only"
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
            else str(exc.strerror)
        )
        raise InvalidInput(
            f"cannot write disks to {path.parent}: {why}; "
            "make it writable or point pool 'default' elsewhere"
        ) from exc
    if claimed is not None:
        claimed(path)


@contextlib.contextmanager
def _new_image(host: Host, dest: Path, claimed: Claimed | None) -> Iterator[None]:
    """Make ``dest`` fully or not at all: a failure removes the claimed file."""
    _claim(dest, claimed)
    try:
        yield
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    refresh_pools(host)


def create_overlay(
    host: Host,
    base: Path,
    dest: Path,
    size_bytes: int | None = None,
    claimed: Claimed | None = None,
) -> None:
    """A qcow2 disk backed by ``base``: made in O(1) whatever the base's size."""
    _require_local(host, "create a disk")
    info = image_info(base)
    if size_bytes is not None and size_bytes < int(info["virtual-size"]):
        raise InvalidInput(
            f"disk size is smaller than the image's {info['virtual-size']} "
            "bytes; give a larger size or none"
        )
    size = [] if size_bytes is None else [str(size_bytes)]
    with _new_image(host, dest, claimed):
        _qemu_img(
            f"create overlay {dest}",
            *("create", "-q", "-f", "qcow2", "-b", str(base.resolve()), "-F", info["format"]),
            *(str(dest), *size),
        )


def copy_image(
    host: Host,
    base: Path,
    dest: Path,
    force_share: bool = False,
    claimed: Claimed | None = None,
    progress: Progress | None = None,
) -> None:
    """An independent qcow2 copy of ``base``.

    ``force_share`` reads an image a paused VM holds open (its QEMU keeps the
    write lock; pausing flushed its writes, so the copy is consistent).
    """
    _require_local(host, "copy a disk")
    info = image_info(base)
    args = (
        "convert",
        *(["-U"] if force_share else []),
        *("-f", info["format"], "-O", "qcow2", str(base), str(dest)),
    )
    with _new_image(host, dest, claimed):
        if progress is None:
            _qemu_img(f"copy {base} to {dest}", args[0], "-q", *args[1:])
        else:
            _qemu_img_with_progress(f"copy {base} to {dest}", progress, *args)


def create_empty(host: Host, dest: Path, size_bytes: int, claimed: Claimed | None = None) -> None:
    _require_local(host, "create a disk")
    with _new_image(host, dest, claimed):
        _qemu_img(f"create disk {dest}", "create", "-q", "-f", "qcow2", str(dest), str(size_bytes))


def delete_file(host: Host, path: Path) -> bool:
    """Delete one image file we created; True when it was there."""
    _require_local(host, "delete a disk")
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    refresh_pools(host)
    return True


def disk_paths_of(xml: str) -> list[str]:
    root = etree.fromstring(xml.encode())
    found = root.xpath("./devices/disk/source/@file")
    return [str(s) for s in found] if isinstance(found, list) else []
