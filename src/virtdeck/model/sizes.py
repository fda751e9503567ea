"""Size elements of libvirt XML: a number as text and its ``unit`` attribute.

``<memory unit='MiB'>512</memory>``, ``<capacity unit='bytes'>1073741824</capacity>``:
read in one fixed unit whatever unit the element was written in, and
written back in that fixed unit.
"""

from __future__ import annotations

from typing import Any, Self, overload

from .units import unit_factor
from .xmlbase import Field, XmlElement, XmlError


class SizeField(Field[int]):
    """A size element read and written in ``unit`` (factor ``scale`` bytes).

    As libvirt reads it: a missing or empty unit means ``unit``, and a size
    that is not a whole number of ``unit`` is rounded up (1000 b is 1 KiB).
    """

    def __init__(self, path: str, unit: str, scale: int) -> None:
        super().__init__(path, int)
        self.unit = unit
        self.scale = scale

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> int | None: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | int | None:
        if obj is None:
            return self
        node = obj.node.find(self.path)
        if node is None or not (node.text or "").strip():
            return None
        try:
            size_bytes = int((node.text or "").strip()) * unit_factor(node.get("unit") or self.unit)
        except ValueError as exc:
            raise XmlError(f"{self.path} has a bad size: {exc}") from exc
        return -(-size_bytes // self.scale)

    def __set__(self, obj: XmlElement, value: int | None) -> None:
        if value is None:
            # Drop the unit first, so that the emptied element is pruned.
            obj.set(f"{self.path}/@unit", None)
            obj.set(self.path, None)
            return
        obj.set(self.path, str(value))
        obj.set(f"{self.path}/@unit", self.unit)


class SizeKiB(SizeField):
    """A memory size, in KiB as libvirt keeps memory."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "KiB", 1024)


class SizeBytes(SizeField):
    """A storage size (capacity, allocation), in bytes."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "bytes", 1)
