"""The one inspector for disk image files that come into virtdeck.

Every image a user names (a new VM's ``image`` or ``import_disk``, a clone's
disks, a disk added by ``path``) goes through ``inspect`` before anything
uses it. The
format is decided once, from the header read here in Python: a file's
content never gets to pick the format by qemu-img's probing, a qcow2 never
reaches QEMU with a backing file outside the allowed places, a ``json:`` or
network backing, or an external data file. qemu-img only cross-checks,
under CPU, memory and time limits (``run_qemu_img``), and every qemu-img
call names its formats (``-f``/``-F``). docs/images.md lists the refusals.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from virtdeck.errors import InvalidInput, NotFound, field_named
from virtdeck.model.text import quote
from virtdeck.model.units import format_size

from . import image_headers as hdr
from .image_headers import backing_chain, has_protocol
from .qemu_img import QEMU_IMG_MISSING, last_line, run_limited

__all__ = [
    "QEMU_IMG_MISSING",
    "ImageFacts",
    "ImageFormat",
    "ImageLimits",
    "PlaceCheck",
    "backing_chain",
    "inspect",
    "run_qemu_img",
]

ImageFormat = Literal["raw", "qcow2"]
FORMATS: tuple[ImageFormat, ...] = ("raw", "qcow2")
MAX_DEPTH = 8  # images in one backing chain, the top one included


@dataclass(frozen=True)
class ImageLimits:
    max_virtual_bytes: int  # refuse images whose virtual size is larger
    qemu_img_timeout: float = 60.0  # seconds for one qemu-img info/check
    qemu_img_memory_bytes: int = 1 << 30  # address-space limit of that qemu-img
    qemu_img_cpu_seconds: int = 30


@dataclass(frozen=True)
class ImageFacts:
    path: Path  # resolved absolute path
    format: ImageFormat
    virtual_size: int
    backing: ImageFacts | None  # the (already checked) backing image, for qcow2 overlays


# (resolved path, what it is) -> the path, or InvalidInput naming the allowed places.
PlaceCheck = Callable[[Path, str], Path]

_CONVERT = "convert it to qcow2 first ('qemu-img convert -O qcow2 FILE NEW.qcow2')"


def inspect(
    path: Path,
    *,
    check_place: PlaceCheck,
    limits: ImageLimits,
    declared: str | None = None,
    what: str = "the disk image",
) -> ImageFacts:
    """The checked facts of the image at ``path``, or one sentence saying why not.

    ``what`` names the image in messages: the request field it came in
    (``opt("image")``), which each refusal then gives as its ``field``, or words.
    """
    subject = f"{what} {path}"
    try:
        # The place first: whether a file outside the pools exists, and what
        # it is, is none of the caller's business.
        resolved = check_place(_resolve(path), what)
        _check_kind(resolved, subject)
        return _inspect(resolved, subject, check_place, limits, declared, ())
    except (InvalidInput, NotFound) as exc:
        # Every refusal below is about this file or its backing chain: said
        # once here rather than at each of the places that raise one.
        if exc.field is None:
            exc.field = field_named(what)
        raise


def _inspect(
    path: Path,
    subject: str,
    check_place: PlaceCheck,
    limits: ImageLimits,
    declared: str | None,
    below: tuple[Path, ...],
) -> ImageFacts:
    """``path`` is resolved, in its place, and named ``subject`` in messages."""
    head, tail, size = _read(path, subject)
    version = hdr.qcow2_version(head)
    if version is not None and version != 1:
        fmt: ImageFormat = "qcow2"
    else:
        other = hdr.other_format(head, tail)
        if other is not None:
            raise InvalidInput(f"{subject} is a {other} image; {_CONVERT}")
        fmt = "raw"
    _check_declared(subject, fmt, declared)
    backing = None
    if fmt == "qcow2":
        header = _qcow2_header(head, subject)
        size = header.virtual_size
        if header.backing_name is not None:
            backing = _backing(path, subject, header, check_place, limits, (*below, path))
    _check_size(subject, size, limits)
    _cross_check(path, subject, fmt, size, limits)
    return ImageFacts(path=path, format=fmt, virtual_size=size, backing=backing)


def _resolve(path: Path) -> Path:
    try:
        return Path(os.path.abspath(path)).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InvalidInput(f"{path} cannot be resolved ({exc}); give a plain file path") from exc


def _check_kind(path: Path, subject: str) -> None:
    """The right sentence for a path that is not a regular, non-empty file."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise NotFound(
            f"{subject} does not exist; give the path of an existing disk image file"
        ) from exc
    except OSError as exc:
        raise _unreadable(subject, exc) from exc
    kind = _kind(st.st_mode)
    if kind is not None:
        raise InvalidInput(
            f"{subject} is {kind}, not a disk image file; give the path of an image file"
        )
    if st.st_size == 0:
        raise InvalidInput(
            f"{subject} is empty (0 bytes), so a VM would get a disk with nothing on it; "
            "check that its download or copy finished, and give a real image"
        )


def _kind(mode: int) -> str | None:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _read(path: Path, subject: str) -> tuple[bytes, bytes, int]:
    """The first cluster's worth, the last 512 bytes and the size, of a regular file."""
    _check_kind(path, subject)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(subject, exc) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            raise InvalidInput(f"{subject} changed while virtdeck read it; try again")
        head = os.pread(fd, hdr.MAX_CLUSTER, 0)
        tail = os.pread(fd, 512, max(0, st.st_size - 512))
    except OSError as exc:
        raise _unreadable(subject, exc) from exc
    finally:
        os.close(fd)
    return head, tail, st.st_size


def _unreadable(subject: str, exc: OSError) -> InvalidInput:
    if isinstance(exc, PermissionError):
        return InvalidInput(
            f"{subject} cannot be read (permission denied); make it and its directories "
            "readable by the user virtdeck runs as"
        )
    return InvalidInput(f"{subject} cannot be read ({exc.strerror}); check the file and its disk")


def _check_declared(subject: str, fmt: ImageFormat, declared: str | None) -> None:
    if declared is None or declared == fmt:
        return
    if declared not in FORMATS:
        raise InvalidInput(
            f"{subject} is said to be {quote(declared)}, and virtdeck takes only raw and "
            f"qcow2 images; {_CONVERT}"
        )
    if declared == "raw":
        raise InvalidInput(
            f"{subject} is said to be raw but starts with a qcow2 header: a raw disk whose "
            "first bytes look like qcow2 is the classic trick to make QEMU read host files "
            "through a backing file, so it is refused; if it really is a qcow2 image, "
            "say qcow2"
        )
    raise InvalidInput(
        f"{subject} is said to be qcow2 but has no qcow2 header (its content is raw); "
        "check that it is the right file, or say raw"
    )


def _qcow2_header(head: bytes, subject: str) -> hdr.Qcow2Header:
    try:
        header = hdr.parse_qcow2(head)
    except hdr.HeaderError as exc:
        raise InvalidInput(
            f"{subject} is not a valid qcow2 image: {exc}; repair it with 'qemu-img check -r "
            "all' or use another copy"
        ) from exc
    if header.incompatible & hdr.INCOMPAT_DATA_FILE or header.data_file is not None:
        name = quote(header.data_file.decode(errors="replace")) if header.data_file else "?"
        raise InvalidInput(
            f"{subject} keeps its data in an external data file ({name}), which could be any "
            "host file, so it is refused; make a self-contained copy with "
            "'qemu-img convert -O qcow2'"
        )
    if header.unknown_incompatible:
        raise InvalidInput(
            f"{subject} uses qcow2 features virtdeck does not know (incompatible feature "
            f"bits 0x{header.unknown_incompatible:x}); convert it with 'qemu-img convert "
            "-O qcow2' on this host"
        )
    if header.incompatible & hdr.INCOMPAT_CORRUPT:
        raise InvalidInput(
            f"{subject} is marked corrupt; repair it with 'qemu-img check -r all' first"
        )
    if header.encrypted:
        raise InvalidInput(
            f"{subject} is encrypted, and virtdeck cannot give QEMU its key; make a "
            "decrypted copy with 'qemu-img convert' first"
        )
    return header


def _backing(
    path: Path,
    subject: str,
    header: hdr.Qcow2Header,
    check_place: PlaceCheck,
    limits: ImageLimits,
    chain: tuple[Path, ...],
) -> ImageFacts:
    """The checked backing image of the qcow2 ``path`` (``chain``: it and the images above)."""
    assert header.backing_name is not None
    try:
        name = header.backing_name.decode()
    except UnicodeDecodeError:
        name = ""
    if not name or "\x00" in name:
        raise InvalidInput(f"{subject} has an unreadable backing file name; {_REBASE}")
    if name.startswith("json:"):
        raise InvalidInput(
            f"{subject} describes its backing file with a json: name ({quote(name)}), which "
            f"can make QEMU open any host file or network resource; {_REBASE}"
        )
    if has_protocol(name):
        raise InvalidInput(
            f"{subject} has a network or protocol backing file ({quote(name)}); virtdeck "
            f"takes only backing files on this host's disks; {_REBASE}"
        )
    backing = _resolve(path.parent / name)
    if backing in chain:
        raise InvalidInput(f"{subject} has a backing chain that loops back to {backing}")
    if len(chain) >= MAX_DEPTH:
        raise InvalidInput(
            f"{subject} has a backing chain of more than {MAX_DEPTH} images; flatten it with "
            "'qemu-img convert -O qcow2' first"
        )
    what = f"the backing file of {path}"
    backing = check_place(backing, what)
    fmt = header.backing_format.decode(errors="replace") if header.backing_format else None
    return _inspect(backing, f"{backing} ({what})", check_place, limits, fmt, chain)


_REBASE = "make a self-contained copy with 'qemu-img convert -O qcow2' first"


def _check_size(subject: str, size: int, limits: ImageLimits) -> None:
    if size == 0:
        raise InvalidInput(f"{subject} has a virtual size of 0 bytes; give a real image")
    if size > limits.max_virtual_bytes:
        raise InvalidInput(
            f"{subject} has a virtual size of {format_size(size)} ({size} bytes), over the "
            f"limit of {format_size(limits.max_virtual_bytes)}; raise the setting "
            "max_image_bytes (VIRTDECK_MAX_IMAGE_BYTES) if this image is meant to be used"
        )


def _cross_check(path: Path, subject: str, fmt: ImageFormat, size: int, lim: ImageLimits) -> None:
    args = ["info", "-f", fmt, "--force-share", "--output", "json", str(path)]
    proc = run_qemu_img(args, lim, f"read {subject}")
    if proc.returncode != 0:
        raise InvalidInput(
            f"{subject} is not a {fmt} image qemu-img can read ({last_line(proc.stderr)}); "
            "repair it with 'qemu-img check -r all' or use another copy"
        )
    try:
        seen = int(json.loads(proc.stdout)["virtual-size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"qemu-img cannot tell the virtual size of {subject}") from exc
    if seen != size:
        raise InvalidInput(
            f"qemu-img reads a virtual size of {seen} bytes for {subject}, but its header "
            f"says {size}; repair it with 'qemu-img check -r all' or use another copy"
        )


def run_qemu_img(
    args: Sequence[str], limits: ImageLimits, action: str
) -> subprocess.CompletedProcess[str]:
    """qemu-img under ``limits``; its own failures are the caller's to read (returncode).

    A timeout becomes Timeout, a kill by a limit OperationFailed, both saying
    which limit; ``action`` completes "cannot ...".
    """
    return run_limited(
        args,
        action,
        timeout=limits.qemu_img_timeout,
        memory_bytes=limits.qemu_img_memory_bytes,
        cpu_seconds=limits.qemu_img_cpu_seconds,
    )
