"""The ``<volume>`` element: one image in a storage pool."""

from __future__ import annotations

from .sizes import SizeBytes
from .subelements import BackingStore, StorageTarget
from .text import quote
from .xmlbase import Child, InvalidElement, XmlElement, text


class StorageVolume(XmlElement):
    TAG = "volume"
    CHILD_ORDER = (
        "name",
        "key",
        "source",
        "capacity",
        "allocation",
        "physical",
        "target",
        "backingStore",
    )
    DEFAULT_FORMAT = "qcow2"
    type = text("./@type")
    name = text("./name")
    key = text("./key")
    capacity_bytes = SizeBytes("./capacity")
    allocation_bytes = SizeBytes("./allocation")
    target_element = Child(StorageTarget)
    backing_element = Child(BackingStore)
    path = target_element.field(StorageTarget.path)
    format = target_element.field(StorageTarget.format)
    backing_path = backing_element.field(BackingStore.path)
    backing_format = backing_element.field(BackingStore.format)

    @classmethod
    def new(
        cls,
        name: str,
        capacity_bytes: int,
        volume_format: str = DEFAULT_FORMAT,
        backing_path: str | None = None,
        backing_format: str | None = None,
    ) -> StorageVolume:
        """A new image of ``capacity_bytes``, an overlay of ``backing_path`` when given."""
        volume = cls()
        volume.name = name
        volume.capacity_bytes = capacity_bytes
        volume.format = volume_format
        volume.backing_path = backing_path
        volume.backing_format = backing_format
        return volume

    def validate(self) -> None:
        if not self.name:
            raise InvalidElement(self.TAG, "has no name; set name")
        if "/" in self.name:
            raise InvalidElement(self.TAG, f"name {quote(self.name)} has a '/'; use a file name")
        if self.capacity_bytes is None or self.capacity_bytes <= 0:
            raise InvalidElement(
                self.TAG, f"{quote(self.name)} has no capacity; set capacity_bytes above zero"
            )
        if self.backing_path is not None and self.backing_format is None:
            # QEMU refuses to guess the format of a backing file (a raw file
            # could claim to be qcow2 and point at any host file).
            raise InvalidElement(
                self.TAG,
                f"{quote(self.name)} has a backing file but no backing format; set backing_format",
            )
