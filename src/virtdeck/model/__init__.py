"""Typed, XML-bound libvirt objects. Pure: no I/O, no libvirt calls."""

from .builder import NewDisk, NewDomain, build_domain
from .devices import Disk, Graphics, Interface, Serial
from .domain import METADATA_NS, Domain
from .names import NAME_RULE, InvalidName, check_lookup_name, check_name, disk_file_name
from .text import QUOTE_MAX, clip, quote
from .units import SIZE_MAX, SizeError, format_size, parse_size, to_kib
from .xmlbase import XmlElement, XmlError

__all__ = [
    "METADATA_NS",
    "NAME_RULE",
    "QUOTE_MAX",
    "SIZE_MAX",
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
    "check_lookup_name",
    "check_name",
    "clip",
    "disk_file_name",
    "format_size",
    "parse_size",
    "quote",
    "to_kib",
]
