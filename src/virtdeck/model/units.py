"""Sizes, parsed from human strings in one place.

virtdeck stores a size in bytes (disks) or KiB (memory, as libvirt does) and
accepts what a person types: ``512M``, ``2G``, ``1.5GiB``, ``2048KiB``, a
bare number of bytes. Single letters and ``iB`` suffixes are powers of 1024
(as in qemu-img and virsh); ``KB``/``MB``/``GB``/``TB`` are powers of 1000,
as libvirt defines them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

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
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


class SizeError(ValueError):
    """A size string that cannot be understood; the message says why."""


def unit_factor(unit: str) -> int:
    key = unit.lower()
    if key in _BINARY:
        return _BINARY[key]
    if key in _DECIMAL:
        return _DECIMAL[key]
    raise SizeError(f"unknown size unit {unit!r}; use K, M, G or T (powers of 1024)")


def parse_size(value: str | int, default_unit: str = "") -> int:
    """Return a size in bytes; refuses zero, negatives and garbage."""
    if isinstance(value, int):
        if value <= 0:
            raise SizeError(f"size must be greater than zero, got {value}")
        return value * unit_factor(default_unit)
    match = _SIZE.match(value)
    if match is None:
        raise SizeError(
            f"{value!r} is not a size; write a positive number with an optional unit, "
            "like 512M, 2G or 1.5GiB"
        )
    number, unit = match.groups()
    try:
        amount = Decimal(number) * unit_factor(unit or default_unit)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise SizeError(f"{value!r} is not a number") from exc
    if amount < 1:
        raise SizeError(f"size must be greater than zero, got {value!r}")
    return int(amount)


def to_kib(size_bytes: int) -> int:
    """Bytes to KiB, rounding up so that a size never shrinks."""
    return -(-size_bytes // 1024)


def format_size(size_bytes: int) -> str:
    """A short human form: 256 MiB, 1.5 GiB, 10 GiB."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size_bytes >= factor:
            amount = size_bytes / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size_bytes} B"
