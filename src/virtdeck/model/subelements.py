"""Sub-elements that many devices share: ``<address>``, ``<driver>``, ``<source>``, ...

Each is a class of its own, bound into a device with ``Child`` and read from
it with ``Child.field``, so a device declares ``format =
driver_element.field(Driver.type)`` instead of spelling ``./driver/@type``.
A ``<source>`` or ``<target>`` means different things in different devices;
their classes carry the attributes of every device that virtdeck reads.
"""

from __future__ import annotations

import re

from .text import quote
from .xmlbase import Child, InvalidElement, XmlElement, integer, text, yes_no

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}\Z")


class Address(XmlElement):
    """Where a device sits on its bus: PCI slot, drive unit, USB port, ..."""

    TAG = "address"
    type = text("./@type")
    domain = text("./@domain")
    bus = text("./@bus")
    slot = text("./@slot")
    function = text("./@function")
    multifunction = text("./@multifunction")
    controller = text("./@controller")
    target = text("./@target")
    unit = text("./@unit")
    port = text("./@port")

    def validate(self) -> None:
        if self.type is None and not self.is_empty():
            raise InvalidElement(self.TAG, "has no type; set type (pci, drive, usb, ...)")


class Driver(XmlElement):
    """The backend driver of a disk, NIC or filesystem (qemu, virtiofs) and its tuning."""

    TAG = "driver"
    name = text("./@name")
    type = text("./@type")
    cache = text("./@cache")
    io = text("./@io")
    discard = text("./@discard")
    queues = integer("./@queues")

    def validate(self) -> None:
        if self.queues is not None and self.queues < 1:
            raise InvalidElement(self.TAG, f"has queues={self.queues}; use 1 or more")


class Source(XmlElement):
    """What a device is connected to on the host: a file, a network, a pty, ..."""

    TAG = "source"
    file = text("./@file")
    dev = text("./@dev")
    dir = text("./@dir")
    pool = text("./@pool")
    volume = text("./@volume")
    network = text("./@network")
    bridge = text("./@bridge")
    path = text("./@path")
    mode = text("./@mode")
    protocol = text("./@protocol")
    name = text("./@name")


class Model(XmlElement):
    """A device's model: ``<model type='virtio'/>`` (NIC, video), ``<model name=...>`` (serial)."""

    TAG = "model"
    type = text("./@type")
    name = text("./@name")
    heads = integer("./@heads")
    primary = yes_no("./@primary")


class Target(XmlElement):
    """How the guest sees a device: its name (vda), bus, port, channel name, ..."""

    TAG = "target"
    CHILD_ORDER = ("model",)
    dev = text("./@dev")
    bus = text("./@bus")
    type = text("./@type")
    port = integer("./@port")
    name = text("./@name")
    dir = text("./@dir")
    model_element = Child(Model)
    model_name = model_element.field(Model.name)

    def validate(self) -> None:
        if self.port is not None and self.port < 0:
            raise InvalidElement(self.TAG, f"has port={self.port}; use 0 or more")


class Boot(XmlElement):
    """A boot entry: ``<boot order='1'/>`` in a device, ``<boot dev='hd'/>`` in ``<os>``."""

    TAG = "boot"
    order = integer("./@order")
    dev = text("./@dev")
    loadparm = text("./@loadparm")

    @classmethod
    def device(cls, dev: str) -> Boot:
        boot = cls()
        boot.dev = dev
        return boot

    def validate(self) -> None:
        if self.order is not None and self.order < 1:
            raise InvalidElement(self.TAG, f"has order={self.order}; boot orders start at 1")


class Mac(XmlElement):
    TAG = "mac"
    address = text("./@address")

    def validate(self) -> None:
        if self.address is None or not _MAC.match(self.address):
            raise InvalidElement(
                self.TAG,
                f"address {quote(self.address)} is not a MAC address; "
                "write six hex pairs like 52:54:00:12:34:56",
            )


class Log(XmlElement):
    """Where a serial port or console also writes what the guest prints."""

    TAG = "log"
    file = text("./@file")
    append = text("./@append")

    def validate(self) -> None:
        if self.file is None:
            raise InvalidElement(self.TAG, "has no file; set the path of the log file")
        if self.append not in (None, "on", "off"):
            raise InvalidElement(self.TAG, f"has append={quote(self.append)}; use on or off")


class Listen(XmlElement):
    """Where a VNC or SPICE server listens."""

    TAG = "listen"
    type = text("./@type")
    address = text("./@address")
    network = text("./@network")


# -- storage: the <target> of a pool or volume, and a volume's <backingStore> --


class Permissions(XmlElement):
    TAG = "permissions"
    CHILD_ORDER = ("mode", "owner", "group", "label")
    mode = text("./mode")
    owner = integer("./owner")
    group = integer("./group")
    label = text("./label")


class StorageTarget(XmlElement):
    """Where a pool or volume lives on the host, and (for a volume) its format."""

    TAG = "target"
    CHILD_ORDER = ("path", "format", "permissions", "timestamps", "encryption", "compat")
    path = text("./path")
    format = text("./format/@type")
    permissions_element = Child(Permissions)


class BackingStore(XmlElement):
    """The image a volume is an overlay of."""

    TAG = "backingStore"
    CHILD_ORDER = ("path", "format", "permissions")
    path = text("./path")
    format = text("./format/@type")
