"""Typed, XML-bound libvirt objects. Pure: no I/O, no libvirt calls."""

from .builder import NewDisk, NewDomain, build_domain
from .devices import Disk, Graphics, Interface, Serial
from .domain import METADATA_NS, Domain
from .names import NAME_RULE, InvalidName, check_name
from .units import SizeError, format_size, parse_size, to_kib
from .xmlbase import XmlElement, XmlError

__all__ = [
    "METADATA_NS",
    "NAME_RULE",
    "Disk",
    "Domain",
    "Graphics",
    "Interface",
    "InvalidName",
    "NewDisk",
    "NewDomain",
    "Serial",
    "SizeError",
    "XmlElement",
    "XmlError",
    "build_domain",
    "check_name",
    "format_size",
    "parse_size",
    "to_kib",
]
