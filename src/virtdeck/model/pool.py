"""The ``<pool>`` element: a storage pool (virtdeck makes directory pools)."""

from __future__ import annotations

from .sizes import SizeBytes
from .subelements import StorageTarget
from .text import quote
from .xmlbase import Child, InvalidElement, XmlElement, text

# Pools whose target is a directory on the host.
PATH_POOLS = ("dir", "fs", "netfs")


class PoolSource(XmlElement):
    TAG = "source"
    CHILD_ORDER = ("host", "device", "dir", "adapter", "name", "format")
    name = text("./name")
    dir = text("./dir/@path")
    device = text("./device/@path")
    host = text("./host/@name")
    format = text("./format/@type")


class StoragePool(XmlElement):
    TAG = "pool"
    CHILD_ORDER = ("name", "uuid", "capacity", "allocation", "available", "source", "target")
    type = text("./@type")
    name = text("./name")
    uuid = text("./uuid")
    capacity_bytes = SizeBytes("./capacity")
    allocation_bytes = SizeBytes("./allocation")
    available_bytes = SizeBytes("./available")
    source_element = Child(PoolSource)
    target_element = Child(StorageTarget)
    target_path = target_element.field(StorageTarget.path)

    @classmethod
    def new(cls, name: str, path: str, pool_type: str = "dir") -> StoragePool:
        """A pool of the image files in directory ``path``."""
        pool = cls()
        pool.type = pool_type
        pool.name = name
        pool.target_path = path
        return pool

    def validate(self) -> None:
        if not self.type:
            raise InvalidElement(self.TAG, "has no type; set type (dir for a directory)")
        if not self.name:
            raise InvalidElement(self.TAG, "has no name; set name")
        path = self.target_path
        if self.type in PATH_POOLS and not (path and path.startswith("/")):
            raise InvalidElement(
                self.TAG,
                f"{quote(self.name)} has target path {quote(path)}; give an absolute path",
            )
