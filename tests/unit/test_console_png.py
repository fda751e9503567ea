"""Screenshots: PPM from QEMU to PNG, checked by decoding the PNG back."""

from __future__ import annotations

import struct
import zlib

import pytest

from virtdeck.host.screenshot import BadImage, encode_png, png_size, ppm_to_png, to_png


def decode_png(png: bytes) -> tuple[int, int, bytes]:
    """A minimal reader for what encode_png writes: 8-bit RGB, filter 0, CRCs checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc
        chunks.append((kind, data))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height, depth, colour, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, comp, filt, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    stride = 1 + width * 3
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, b"".join(row[1:] for row in rows)


def gradient(width: int, height: int) -> bytes:
    return bytes(
        (x * 7 + y * 3 + c * 50) % 256
        for y in range(height)
        for x in range(width)
        for c in range(3)
    )


def test_png_round_trip_keeps_every_pixel() -> None:
    rgb = gradient(37, 11)
    png = encode_png(37, 11, rgb)
    assert decode_png(png) == (37, 11, rgb)
    assert png_size(png) == (37, 11)


def test_ppm_with_comment_becomes_png() -> None:
    rgb = gradient(5, 4)
    ppm = b"P6\n# made by a test\n5 4\n255\n" + rgb
    image = ppm_to_png(ppm)
    assert (image.width, image.height) == (5, 4)
    assert decode_png(image.png) == (5, 4, rgb)


def test_qemu_style_header_and_png_passthrough() -> None:
    rgb = bytes(range(6)) * 4
    image = to_png(b"P6 4 2 255\n" + rgb, "image/x-portable-pixmap")
    assert decode_png(image.png)[2] == rgb
    again = to_png(image.png, "image/png")
    assert again.png == image.png and (again.width, again.height) == (4, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"P6 two 2 255\n", "not a binary PPM"),
        (b"P3\n2 2\n255\n0 0 0", "neither PPM nor PNG"),
        (b"P6\n2 2\n65535\n" + bytes(24), "maxval 65535"),
        (b"P6\n2 2\n255\n" + bytes(5), "do not make a 2x2 RGB image"),
        (b"GIF89a", "neither PPM nor PNG"),
    ],
)
def test_bad_images_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(BadImage, match=message):
        to_png(data, "image/whatever")
