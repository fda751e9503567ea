"""A VM's screen through libvirt (virDomainScreenshot), saved as PNG.

QEMU hands libvirt a PPM (P6) image; the test driver hands a PNG. PNG is
what a user can open anywhere, so PPM is converted here: an RGB PNG needs
only zlib and a few chunk headers, not an imaging library.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

import libvirt

from virtdeck.errors import OperationFailed

from .connection import translate
from .handle import DomainHandle

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# P6 header: magic, width, height, maxval, each separated by whitespace
# (comments allowed), then exactly one whitespace byte before the pixels.
_PPM_HEADER = re.compile(
    rb"P6(?:\s+|#[^\n]*\n)+(\d+)(?:\s+|#[^\n]*\n)+(\d+)(?:\s+|#[^\n]*\n)+(\d+)\s"
)


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    png: bytes


class BadImage(ValueError):
    pass


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (rows of width*3 bytes, top to bottom)."""
    stride = width * 3
    if width <= 0 or height <= 0 or len(rgb) != stride * height:
        raise BadImage(f"{len(rgb)} bytes do not make a {width}x{height} RGB image")
    # Filter type 0 (none) before each row; zlib does the real work.
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise BadImage("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def ppm_to_png(ppm: bytes) -> Image:
    match = _PPM_HEADER.match(ppm)
    if match is None:
        raise BadImage("not a binary PPM (P6) image")
    width, height, maxval = (int(g) for g in match.groups())
    if maxval != 255:
        raise BadImage(f"PPM with maxval {maxval} is not supported, only 255")
    pixels = ppm[match.end() : match.end() + width * height * 3]
    return Image(width, height, encode_png(width, height, pixels))


def to_png(data: bytes, mime: str) -> Image:
    """The screenshot as PNG, whatever of PPM or PNG the driver sent."""
    if data.startswith(PNG_SIGNATURE):
        width, height = png_size(data)
        return Image(width, height, data)
    if data.startswith(b"P6"):
        return ppm_to_png(data)
    raise BadImage(f"libvirt sent an image of type {mime!r}, neither PPM nor PNG")


def take(handle: DomainHandle, screen: int = 0) -> Image:
    """Read screen ``screen`` of a running domain through a libvirt stream."""
    name = handle.name
    conn = handle.host.conn
    stream = conn.newStream(0)
    try:
        mime = str(handle.virdomain(conn).screenshot(stream, screen, 0))
        chunks = []
        while True:
            got = stream.recv(1 << 20)
            if not got:
                break
            chunks.append(got)
        stream.finish()
    except libvirt.libvirtError as exc:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        raise translate(exc, f"take a screenshot of {name}") from exc
    try:
        return to_png(b"".join(chunks), mime)
    except BadImage as exc:
        raise OperationFailed(f"cannot take a screenshot of {name}: {exc}") from exc
