"""Sizes, parsed from human strings in one place.

virtdeck stores a size in bytes (disks) or KiB (memory, as libvirt does) and
accepts what a person types: ``512M``, ``2G``, ``1.5GiB``, ``2048KiB``, a
bare number of bytes. Single letters and ``iB`` suffixes are powers of 1024
(as in qemu-img and virsh); ``KB``/``MB``/``GB``/``TB`` are powers of 1000,
as libvirt defines them. Every message about units says both.

libvirt and QEMU hold sizes in 64 bits, so a size above ``SIZE_MAX`` (8 EiB)
is refused here, before it can overflow anywhere else.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .text import quote

_BINARY = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "k": 2**10,
    "kib": 2**10,
    "m": 2**20,
    "mib": 2**20,
    "g": 2**30,
    "gib": 2**30,
    "t": 2**40,
    "tib": 2**40,
    "p": 2**50,
    "pib": 2**50,
}
_DECIMAL = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}
SIZE_MAX = 2**63 - 1
UNITS_RULE = (
    "K, M, G, T or P (powers of 1024: M = MiB = 2**20 bytes) "
    "or KB, MB, GB, TB, PB (powers of 1000: MB = 10**6 bytes)"
)
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


class SizeError(ValueError):
    """A size string that cannot be understood; the message says why."""


def unit_factor(unit: str) -> int:
    key = unit.lower()
    if key in _BINARY:
        return _BINARY[key]
    if key in _DECIMAL:
        return _DECIMAL[key]
    raise SizeError(f"unknown size unit {quote(unit)}; use {UNITS_RULE}")


def parse_size(value: str | int, default_unit: str = "") -> int:
    """Return a size in bytes; refuses zero, negatives and garbage."""
    if isinstance(value, int):
        if value <= 0:
            raise SizeError(f"size must be greater than zero, got {quote(value)}")
        return _bounded(Decimal(value) * unit_factor(default_unit), value)
    match = _SIZE.match(value)
    if match is None:
        raise SizeError(
            f"{quote(value)} is not a size; write a positive number with an optional unit, "
            "like 512M, 2G or 1.5GiB"
        )
    number, unit = match.groups()
    if len(number.partition(".")[0].lstrip("0")) > 30:
        # Far above SIZE_MAX whatever the unit; Decimal arithmetic on a
        # number of a million digits would overflow its context.
        _bounded(Decimal(SIZE_MAX + 1), value)
    try:
        amount = Decimal(number) * unit_factor(unit or default_unit)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise SizeError(f"{quote(value)} is not a number") from exc
    if amount < 1:
        raise SizeError(f"size must be greater than zero, got {quote(value)}")
    return _bounded(amount, value)


def _bounded(amount: Decimal, value: str | int) -> int:
    """``amount`` as an int, or SizeError when it is above SIZE_MAX."""
    if amount > SIZE_MAX:
        raise SizeError(
            f"{quote(value)} is more than 8 EiB (2**63 bytes), the most libvirt and QEMU "
            "can hold (sizes are 64-bit); give a smaller size"
        )
    return int(amount)


def to_kib(size_bytes: int) -> int:
    """Bytes to KiB, rounding up so that a size never shrinks."""
    return -(-size_bytes // 1024)


_FORMAT_UNITS = (
    ("EiB", 2**60),
    ("PiB", 2**50),
    ("TiB", 2**40),
    ("GiB", 2**30),
    ("MiB", 2**20),
    ("KiB", 2**10),
)


def format_size(size_bytes: int) -> str:
    """A short human form: 256 MiB, 1.5 GiB, 10 GiB; 1.05e+6 EiB beyond 1024 EiB."""
    if size_bytes >= 2**70:
        # Beyond any real size (those stop at 8 EiB); still one short word, and
        # Decimal, since a float cannot hold every such number.
        return f"{Decimal(size_bytes) / Decimal(2**60):.2e} EiB"
    for unit, factor in _FORMAT_UNITS:
        if size_bytes >= factor:
            amount = size_bytes / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size_bytes} B"
