"""Disk image headers read in Python: which format a file is, and a qcow2 header's fields.

The parsing works on bytes already read, so that the decision about a file
never depends on what qemu-img would probe; ``backing_chain`` is the
tolerant reader of whole chains. The layouts follow QEMU's
``docs/interop/qcow2.txt`` and the probe functions of its block drivers.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

QCOW2_MAGIC = b"QFI\xfb"
# How much of a file the format decision needs (QEMU probes 2 KiB).
PROBE_BYTES = 4096
# The largest qcow2 cluster: header extensions and the backing name lie in the first.
MAX_CLUSTER = 2 << 20

EXT_END = 0x00000000
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_DATA_FILE = 0x44415441

INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
# dirty, corrupt, external data file, compression type, extended L2 entries
INCOMPAT_KNOWN = 0b11111
_MAX_EXTENSIONS = 1024
_MAX_BACKING_NAME = 1023  # QEMU's own limit
_MAX_CHAIN = 32  # backing_chain stops there, whatever the files say

_VMDK_VERSIONS = tuple(f"version={n}{end}".encode() for n in "123" for end in ("\n", "\r\n"))
_CLOOP = b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n"
_AT_START = (
    (b"KDMV", "vmdk"),
    (b"COWD", "vmdk"),
    (b"vhdxfile", "vhdx"),
    (b"conectix", "vpc (VHD)"),
    (b"QED\x00", "qed"),
    (b"LUKS\xba\xbe", "luks"),
    (b"WithoutFreeSpace", "parallels"),
    (b"WithouFreSpacExt", "parallels"),
    (b"Bochs Virtual HD Image", "bochs"),
    (_CLOOP, "cloop"),
)
_VDI_SIGNATURE = struct.pack("<I", 0xBEDA107F)


class HeaderError(ValueError):
    """A header that cannot be right; the text says what is wrong (a sentence fragment)."""


@dataclass(frozen=True)
class Qcow2Header:
    version: int
    virtual_size: int
    cluster_bits: int
    encrypted: bool
    incompatible: int  # feature bits; 0 for version 2
    backing_name: bytes | None  # as stored: not decoded, not resolved
    backing_format: bytes | None  # the backing-format header extension
    data_file: bytes | None  # the external data file extension

    @property
    def unknown_incompatible(self) -> int:
        return self.incompatible & ~INCOMPAT_KNOWN


def qcow2_version(head: bytes) -> int | None:
    """The version of a file that starts with the qcow magic, else None."""
    if head[:4] != QCOW2_MAGIC:
        return None
    return int.from_bytes(head[4:8], "big") if len(head) >= 8 else 0


def other_format(head: bytes, tail: bytes) -> str | None:
    """The name of a format QEMU would probe in a file that is not qcow2, or None.

    ``head`` is the file's first bytes (at least 2 KiB where there are), ``tail``
    its last 512.
    """
    if qcow2_version(head) == 1:
        return "qcow (version 1)"
    for magic, name in _AT_START:
        if head.startswith(magic):
            return name
    if head[64:68] == _VDI_SIGNATURE:
        return "vdi"
    if _vmdk_descriptor(head[:2048]):
        return "vmdk (descriptor)"
    if tail[:4] == b"koly":
        return "dmg"
    if tail[:8] == b"conectix":
        return "vpc (fixed VHD)"
    return None


def _vmdk_descriptor(buf: bytes) -> bool:
    """QEMU's vmdk_probe for a text descriptor: comments, blank lines, then version=N."""
    pos, end = 0, len(buf)
    while pos < end:
        if buf[pos : pos + 1] == b"#":
            newline = buf.find(b"\n", pos)
            pos = end if newline < 0 else newline + 1
            continue
        if buf[pos : pos + 1] == b" ":
            while pos < end and buf[pos : pos + 1] == b" ":
                pos += 1
            if buf[pos : pos + 1] == b"\r":
                pos += 1
            if pos >= end or buf[pos : pos + 1] != b"\n":
                return False
            pos += 1
            continue
        return buf.startswith(_VMDK_VERSIONS, pos)
    return False


def _field(buf: bytes, offset: int, size: int) -> int:
    if len(buf) < offset + size:
        raise HeaderError("its header is cut short")
    return int.from_bytes(buf[offset : offset + size], "big")


def parse_qcow2(buf: bytes) -> Qcow2Header:
    """The fields of a qcow2 header; ``buf`` is the file's first cluster (or all of it)."""
    version = _field(buf, 4, 4)
    if version not in (2, 3):
        raise HeaderError(f"it is qcow2 version {version}, which QEMU does not read")
    backing_offset = _field(buf, 8, 8)
    backing_size = _field(buf, 16, 4)
    cluster_bits = _field(buf, 20, 4)
    if not 9 <= cluster_bits <= 21:
        raise HeaderError(f"its cluster size 2**{cluster_bits} is not one QEMU allows")
    cluster_size = 1 << cluster_bits
    incompatible, header_length = 0, 72
    if version == 3:
        incompatible = _field(buf, 72, 8)
        header_length = _field(buf, 100, 4)
        if header_length < 104 or header_length > cluster_size:
            raise HeaderError(f"its header length {header_length} is out of range")
    ext_end = backing_offset if backing_offset else cluster_size
    extensions = _extensions(buf, header_length, min(ext_end, cluster_size))
    backing_name = None
    if backing_offset and backing_size:
        if backing_size > _MAX_BACKING_NAME or backing_offset + backing_size > cluster_size:
            raise HeaderError("its backing file name is too long or lies outside the header")
        if len(buf) < backing_offset + backing_size:
            raise HeaderError("its header is cut short")
        backing_name = buf[backing_offset : backing_offset + backing_size]
    return Qcow2Header(
        version=version,
        virtual_size=_field(buf, 24, 8),
        cluster_bits=cluster_bits,
        encrypted=_field(buf, 32, 4) != 0,
        incompatible=incompatible,
        backing_name=backing_name,
        backing_format=extensions.get(EXT_BACKING_FORMAT),
        data_file=extensions.get(EXT_DATA_FILE),
    )


def _extensions(buf: bytes, offset: int, end: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for _ in range(_MAX_EXTENSIONS):
        if offset + 8 > end:
            break
        kind, length = _field(buf, offset, 4), _field(buf, offset + 4, 4)
        offset += 8
        if kind == EXT_END:
            break
        if length > end - offset or len(buf) < offset + length:
            raise HeaderError(f"its header extension 0x{kind:08x} runs past the header")
        found.setdefault(kind, buf[offset : offset + length].rstrip(b"\x00"))
        offset += (length + 7) & ~7
    return found


def has_protocol(name: str) -> bool:
    """QEMU's rule: a ':' before the first '/' names a protocol (nbd:, http://, file:)."""
    stops = [i for i in (name.find(":"), name.find("/")) if i >= 0]
    return bool(stops) and name[min(stops)] == ":"


def backing_chain(path: Path) -> list[Path]:
    """The files an image depends on (its backing files, resolved), read from the headers
    only, tolerant: never raises for an unreadable/odd file (returns what it could read).

    For the 'is this file still used by some VM' check before a delete, so it
    rather says too much than too little: a ``file:`` name and the file names
    inside a ``json:`` name count, a network backing does not.
    """
    found: list[Path] = []
    try:
        current = Path(os.path.abspath(path)).resolve()
    except (OSError, RuntimeError):
        return found
    start = current
    for _ in range(_MAX_CHAIN):
        try:
            nexts = [
                Path(os.path.abspath(current.parent / n)).resolve() for n in _backing_names(current)
            ]
        except (OSError, RuntimeError):
            return found
        new = [n for n in nexts if n not in found and n != start]
        found += new
        if not new:
            break
        current = new[0]
    return found


def _backing_names(path: Path) -> list[str]:
    """The backing file names in ``path``'s qcow2 header, as files; [] for anything odd."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # opening a device can have effects
            return []
        fd = os.open(path, flags)
        try:
            head = os.pread(fd, MAX_CLUSTER, 0) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        finally:
            os.close(fd)
        if qcow2_version(head) not in (2, 3):
            return []
        raw = parse_qcow2(head).backing_name
        name = raw.decode() if raw else ""
    except (OSError, HeaderError, UnicodeDecodeError):
        return []
    if name.startswith("json:"):
        try:
            return sorted(set(_filenames(json.loads(name[5:]))))
        except (ValueError, RecursionError):
            return []
    if name.startswith("file:"):
        name = name[5:]
    return [name] if name and "\x00" not in name and not has_protocol(name) else []


def _filenames(tree: object) -> list[str]:
    if isinstance(tree, dict):
        own = [v for k, v in tree.items() if k == "filename" and isinstance(v, str)]
        return own + [f for v in tree.values() for f in _filenames(v)]
    if isinstance(tree, list):
        return [f for v in tree for f in _filenames(v)]
    return []
