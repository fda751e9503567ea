"""Typed, XML-bound libvirt objects. Pure: no I/O, no libvirt calls.

Each name below loads its module on first use (PEP 562), so that a caller
needing one small module (the CLI's quick ``vm list`` formats sizes with
``units``) does not load the XML binding and every element class with it.
Type checkers read the imports under TYPE_CHECKING.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

# Where each public name lives: the module of this package it is loaded from.
_WHERE = {
    "METADATA_NS": "domain",
    "NAME_RULE": "names",
    "QUOTE_MAX": "text",
    "SIZE_MAX": "units",
    "Address": "subelements",
    "BackingStore": "subelements",
    "Boot": "subelements",
    "Channel": "devices",
    "Child": "xmlbase",
    "Children": "xmlbase",
    "Clock": "sections",
    "Console": "devices",
    "Controller": "devices",
    "Cpu": "sections",
    "Devices": "sections",
    "DhcpRange": "network",
    "Disk": "devices",
    "Domain": "domain",
    "DomainSnapshot": "snapshot",
    "Driver": "subelements",
    "Features": "sections",
    "Filesystem": "devices",
    "Graphics": "devices",
    "Input": "devices",
    "Interface": "devices",
    "InvalidElement": "xmlbase",
    "InvalidName": "names",
    "LazyChild": "xmlbase",
    "Listen": "subelements",
    "Log": "subelements",
    "Mac": "subelements",
    "MemBalloon": "devices",
    "Model": "subelements",
    "Network": "network",
    "NetworkIp": "network",
    "NewDisk": "builder",
    "NewDomain": "builder",
    "Os": "sections",
    "Rng": "devices",
    "Serial": "devices",
    "SizeError": "units",
    "SnapshotDisk": "snapshot",
    "Source": "subelements",
    "StoragePool": "pool",
    "StorageTarget": "subelements",
    "StorageVolume": "volume",
    "Target": "subelements",
    "Video": "devices",
    "XmlElement": "xmlbase",
    "XmlError": "xmlbase",
    "build_domain": "builder",
    "check_lookup_name": "names",
    "check_name": "names",
    "clip": "text",
    "disk_file_name": "names",
    "format_size": "units",
    "parse_size": "units",
    "quote": "text",
    "to_kib": "units",
}

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

if not TYPE_CHECKING:
    # Hidden from type checkers, which would otherwise accept any name here.

    def __getattr__(name: str) -> object:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
