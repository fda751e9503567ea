"""Typed, XML-bound libvirt objects. Pure: no I/O, no libvirt calls."""

from .builder import NewDisk, NewDomain, build_domain
from .devices import (
    Channel,
    Console,
    Controller,
    Disk,
    Filesystem,
    Graphics,
    Input,
    Interface,
    MemBalloon,
    Rng,
    Serial,
    Video,
)
from .domain import METADATA_NS, Domain
from .names import NAME_RULE, InvalidName, check_lookup_name, check_name, disk_file_name
from .network import DhcpRange, Network, NetworkIp
from .pool import StoragePool
from .sections import Clock, Cpu, Devices, Features, Os
from .snapshot import DomainSnapshot, SnapshotDisk
from .subelements import (
    Address,
    BackingStore,
    Boot,
    Driver,
    Listen,
    Log,
    Mac,
    Model,
    Source,
    StorageTarget,
    Target,
)
from .text import QUOTE_MAX, clip, quote
from .units import SIZE_MAX, SizeError, format_size, parse_size, to_kib
from .volume import StorageVolume
from .xmlbase import Child, Children, InvalidElement, LazyChild, XmlElement, XmlError

__all__ = [
    "METADATA_NS",
    "NAME_RULE",
    "QUOTE_MAX",
    "SIZE_MAX",
    "Address",
    "BackingStore",
    "Boot",
    "Channel",
    "Child",
    "Children",
    "Clock",
    "Console",
    "Controller",
    "Cpu",
    "Devices",
    "DhcpRange",
    "Disk",
    "Domain",
    "DomainSnapshot",
    "Driver",
    "Features",
    "Filesystem",
    "Graphics",
    "Input",
    "Interface",
    "InvalidElement",
    "InvalidName",
    "LazyChild",
    "Listen",
    "Log",
    "Mac",
    "MemBalloon",
    "Model",
    "Network",
    "NetworkIp",
    "NewDisk",
    "NewDomain",
    "Os",
    "Rng",
    "Serial",
    "SizeError",
    "SnapshotDisk",
    "Source",
    "StoragePool",
    "StorageTarget",
    "StorageVolume",
    "Target",
    "Video",
    "XmlElement",
    "XmlError",
    "build_domain",
    "check_lookup_name",
    "check_name",
    "clip",
    "disk_file_name",
    "format_size",
    "parse_size",
    "quote",
    "to_kib",
]
