"""Disk images on one host: the default pool, overlays and copies.

New disks live in the directory of the storage pool 'default' (created on
first use, as virt-install does). Images are made with qemu-img on this
machine, so these functions need a local URI. An existing image comes in only
as the ``ImageFacts`` of ``virtdeck.host.images.inspect``, and every qemu-img
run names its formats and goes through ``images``' limits (prlimit).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt

from virtdeck.errors import (
    Conflict,
    Hint,
    InvalidInput,
    OperationFailed,
    Unsupported,
    VirtdeckError,
)
from virtdeck.model import Domain, StoragePool

from .checks import pool_path
from .connection import Host
from .images import ImageFacts
from .qemu_img import limit_failure, qemu_img_argv, run_limited

DEFAULT_POOL = "default"


def require_local(host: Host, action: str) -> None:
    """Unsupported unless virtdeck can make image files for ``host`` (a local, real one)."""
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
            xml = StoragePool.new(name, str(images_dir)).to_xml()
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


# qemu-img making or copying a disk: as much memory as a copy may want, and
# no time or CPU limit (copying a large image takes as long as it takes).
WORK_MEMORY_BYTES = 2 << 30


def _run_qemu_img(args: list[str], action: str) -> subprocess.CompletedProcess[str]:
    return run_limited(args, action, timeout=None, memory_bytes=WORK_MEMORY_BYTES, cpu_seconds=None)


# Called with a new file's path as soon as it exists and is ours, before it
# is filled: the operation's record of what to remove if the process dies.
Claimed = Callable[[Path], None]
# Called with the percentage done while a long copy runs.
Progress = Callable[[int], None]

_PERCENT = re.compile(r"\((\d+(?:\.\d+)?)/100%\)")


def _qemu_img(action: str, *args: str) -> None:
    proc = _run_qemu_img(list(args), action)
    if proc.returncode != 0:
        raise _failed(action, proc.stderr)


def _failed(action: str, stderr: str) -> OperationFailed:
    lines = stderr.strip().splitlines()
    return OperationFailed(f"cannot {action}: {lines[-1] if lines else 'qemu-img failed'}")


def _qemu_img_with_progress(action: str, progress: Progress, *args: str) -> None:
    """qemu-img with ``-p``, its percentages passed on as they come."""
    argv = qemu_img_argv([*args[:1], "-p", *args[1:]], WORK_MEMORY_BYTES, None)
    # One stream: an error message is whatever line is not a percentage.
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
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
    output = "\n".join([*said, pending.decode(errors="replace")])
    limited = limit_failure(returncode, output, action, WORK_MEMORY_BYTES, None)
    if limited is not None:
        raise limited
    if returncode != 0:
        raise _failed(action, output)


def _claim(path: Path, claimed: Claimed | None) -> None:
    """Create ``path`` as an empty file of ours, or refuse: never touch an existing one.

    Creating it (O_EXCL) rather than checking that it is absent means two
    creates racing for one name cannot both win.
    """
    try:
        # 0600: a disk holds the guest's data; libvirt's dynamic ownership gives
        # QEMU's user access while the VM runs.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)  # whatever the umask
    except FileExistsError as exc:
        raise Conflict(
            # No advice to remove it: it may be another VM's disk.
            f"file {path} already exists and virtdeck never overwrites a file; "
            "the list of VMs and 'virsh vol-list' show whose it may be",
            hint=Hint("vm.list"),
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
    base: ImageFacts,
    dest: Path,
    size_bytes: int | None = None,
    claimed: Claimed | None = None,
) -> None:
    """A qcow2 disk backed by the inspected ``base``: made in O(1) whatever its size."""
    require_local(host, "create a disk")
    if size_bytes is not None and size_bytes < base.virtual_size:
        raise InvalidInput(
            f"disk size is smaller than the image's {base.virtual_size} "
            "bytes; give a larger size or none"
        )
    size = base.virtual_size if size_bytes is None else size_bytes
    with _new_image(host, dest, claimed):
        # -u: qemu-img need not open the base again; inspect read its size.
        _qemu_img(
            f"create overlay {dest}",
            *("create", "-q", "-f", "qcow2", "-b", str(base.path), "-F", base.format, "-u"),
            *(str(dest), str(size)),
        )


def copy_image(
    host: Host,
    source: ImageFacts,
    dest: Path,
    force_share: bool = False,
    claimed: Claimed | None = None,
    progress: Progress | None = None,
) -> None:
    """An independent qcow2 copy of the inspected ``source`` (its backing chain flattened).

    ``force_share`` reads an image a paused VM holds open (its QEMU keeps the
    write lock; pausing flushed its writes, so the copy is consistent).
    """
    require_local(host, "copy a disk")
    base = source.path
    args = (
        "convert",
        *(["-U"] if force_share else []),
        *("-f", source.format, "-O", "qcow2", str(base), str(dest)),
    )
    with _new_image(host, dest, claimed):
        if progress is None:
            _qemu_img(f"copy {base} to {dest}", args[0], "-q", *args[1:])
        else:
            _qemu_img_with_progress(f"copy {base} to {dest}", progress, *args)


def create_empty(host: Host, dest: Path, size_bytes: int, claimed: Claimed | None = None) -> None:
    require_local(host, "create a disk")
    with _new_image(host, dest, claimed):
        _qemu_img(f"create disk {dest}", "create", "-q", "-f", "qcow2", str(dest), str(size_bytes))


def delete_file(host: Host, path: Path) -> bool:
    """Delete one image file we created; True when it was there."""
    require_local(host, "delete a disk")
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    refresh_pools(host)
    return True


def disk_paths_of(xml: str) -> list[str]:
    """The files the definition's disks (and CD-ROMs) are."""
    return [d.source_file for d in Domain.from_xml(xml).disks if d.source_file]
