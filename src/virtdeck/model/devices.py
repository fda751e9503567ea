"""Device elements of a domain (``<devices>`` children).

Each device binds its shared sub-elements (``<driver>``, ``<source>``,
``<target>``, ``<boot>``, ``<address>``, ...) as classes of their own and
reads its values through them. The constructors (``Disk.file``,
``Interface.network``, ``Graphics.local``, ...) hold the defaults virtdeck
writes for a new device, once for every caller.
"""

from __future__ import annotations

from .subelements import Address, Boot, Driver, Listen, Log, Mac, Model, Source, Target
from .text import quote
from .xmlbase import Child, Flag, InvalidElement, XmlElement, integer, text, yes_no

DISK_DEVICES = ("disk", "cdrom", "floppy", "lun")
GRAPHICS_TYPES = ("vnc", "spice", "sdl", "rdp", "desktop", "egl-headless", "dbus")
PORT_MAX = 65535

# Where libvirt puts what every device may carry after its own children.
_DEVICE_INFO = ("boot", "alias", "master", "rom", "acpi", "address")


def _validate_parts(*parts: XmlElement | None) -> None:
    """Validate the sub-elements a device has (a missing one has nothing to check)."""
    for part in parts:
        if part is not None:
            part.validate()


class Disk(XmlElement):
    TAG = "disk"
    CHILD_ORDER = (
        "driver",
        "auth",
        "source",
        "backingStore",
        "backenddomain",
        "geometry",
        "blockio",
        "mirror",
        "target",
        "iotune",
        "readonly",
        "shareable",
        "transient",
        "serial",
        "wwn",
        "vendor",
        "product",
        "encryption",
        *_DEVICE_INFO,
    )
    # What a new disk gets unless told otherwise: QEMU's driver, a virtio bus.
    DEFAULT_DRIVER = "qemu"
    DEFAULT_BUS = "virtio"
    DEFAULT_FORMAT = "qcow2"

    type = text("./@type")
    device = text("./@device")
    driver_element = Child(Driver)
    source_element = Child(Source)
    target_element = Child(Target)
    boot_element = Child(Boot)
    address_element = Child(Address)

    driver_name = driver_element.field(Driver.name)
    format = driver_element.field(Driver.type)
    source_file = source_element.field(Source.file)
    source_dev = source_element.field(Source.dev)
    source_pool = source_element.field(Source.pool)
    source_volume = source_element.field(Source.volume)
    target = target_element.field(Target.dev)
    bus = target_element.field(Target.bus)
    boot_order = boot_element.field(Boot.order)
    readonly = Flag("readonly")
    shareable = Flag("shareable")

    @classmethod
    def file(
        cls,
        path: str,
        disk_format: str = DEFAULT_FORMAT,
        target: str = "vda",
        bus: str = DEFAULT_BUS,
        device: str = "disk",
    ) -> Disk:
        """A disk backed by an image file, as virtdeck writes every new one."""
        disk = cls()
        disk.type = "file"
        disk.device = device
        disk.driver_name = cls.DEFAULT_DRIVER
        disk.format = disk_format
        disk.source_file = path
        disk.target = target
        disk.bus = bus
        if device == "cdrom":
            disk.readonly = True  # QEMU cannot write to a CD-ROM
        return disk

    @property
    def path(self) -> str | None:
        """The host path behind this disk, when it is a file or a block device."""
        return self.source_file or self.source_dev

    def validate(self) -> None:
        if self.device not in (None, *DISK_DEVICES):
            raise InvalidElement(
                self.TAG, f"device {quote(self.device)} is unknown; use {', '.join(DISK_DEVICES)}"
            )
        if self.target is None:
            raise InvalidElement(self.TAG, "has no target device; set target (vda, sda, ...)")
        if self.type == "file" and self.source_file is None and self.device != "cdrom":
            raise InvalidElement(self.TAG, f"{self.target} has no source file; set source_file")
        if self.type == "block" and self.source_dev is None and self.device != "cdrom":
            raise InvalidElement(self.TAG, f"{self.target} has no source device; set source_dev")
        _validate_parts(
            self.driver_element, self.target_element, self.boot_element, self.address_element
        )


class Interface(XmlElement):
    TAG = "interface"
    CHILD_ORDER = (
        "mac",
        "source",
        "vlan",
        "virtualport",
        "ip",
        "route",
        "script",
        "downscript",
        "backenddomain",
        "target",
        "guest",
        "model",
        "driver",
        "backend",
        "filterref",
        "tune",
        "teaming",
        "link",
        "mtu",
        "bandwidth",
        "coalesce",
        *_DEVICE_INFO,
    )
    DEFAULT_MODEL = "virtio"

    type = text("./@type")
    mac_element = Child(Mac)
    source_element = Child(Source)
    target_element = Child(Target)
    model_element = Child(Model)
    driver_element = Child(Driver)
    boot_element = Child(Boot)
    address_element = Child(Address)

    mac = mac_element.field(Mac.address)
    source_network = source_element.field(Source.network)
    source_bridge = source_element.field(Source.bridge)
    source_dev = source_element.field(Source.dev)
    model = model_element.field(Model.type)
    target_dev = target_element.field(Target.dev)
    boot_order = boot_element.field(Boot.order)

    @classmethod
    def network(cls, network: str, model: str = DEFAULT_MODEL, mac: str | None = None) -> Interface:
        """A NIC on a libvirt network; libvirt picks a MAC when ``mac`` is None."""
        nic = cls()
        nic.type = "network"
        nic.mac = mac
        nic.source_network = network
        nic.model = model
        return nic

    @property
    def source(self) -> str | None:
        return self.source_network or self.source_bridge or self.source_dev

    def validate(self) -> None:
        if self.type is None:
            raise InvalidElement(self.TAG, "has no type; set type (network, bridge, ...)")
        if self.type == "network" and self.source_network is None:
            raise InvalidElement(self.TAG, "of type network names no network; set source_network")
        if self.type == "bridge" and self.source_bridge is None:
            raise InvalidElement(self.TAG, "of type bridge names no bridge; set source_bridge")
        _validate_parts(self.mac_element, self.boot_element, self.address_element)


class Graphics(XmlElement):
    TAG = "graphics"
    CHILD_ORDER = (
        "listen",
        "channel",
        "image",
        "jpeg",
        "zlib",
        "playback",
        "streaming",
        "clipboard",
        "mouse",
        "filetransfer",
        "gl",
        "audio",
    )
    # A new console listens on loopback only: virtdeck bridges it, nobody dials in.
    DEFAULT_LISTEN = "127.0.0.1"

    type = text("./@type")
    port = integer("./@port")
    autoport = yes_no("./@autoport")
    listen = text("./@listen")
    password = text("./@passwd")
    listen_element = Child(Listen)
    listen_type = listen_element.field(Listen.type)
    listen_address = listen_element.field(Listen.address)

    @classmethod
    def local(
        cls, kind: str, listen: str = DEFAULT_LISTEN, password: str | None = None
    ) -> Graphics:
        """A VNC or SPICE server on a port libvirt picks, listening on ``listen``."""
        graphics = cls()
        graphics.type = kind
        graphics.autoport = True
        graphics.listen = listen
        graphics.listen_type = "address"
        graphics.listen_address = listen
        graphics.password = password
        return graphics

    @property
    def address(self) -> str | None:
        return self.listen_address or self.listen

    def validate(self) -> None:
        if self.type not in GRAPHICS_TYPES:
            raise InvalidElement(
                self.TAG, f"type {quote(self.type)} is unknown; use {', '.join(GRAPHICS_TYPES)}"
            )
        # -1 is what libvirt writes for "not chosen yet" (autoport).
        if self.port is not None and not (self.port == -1 or 0 < self.port <= PORT_MAX):
            raise InvalidElement(self.TAG, f"has port={self.port}; use 1-{PORT_MAX} or autoport")


class Serial(XmlElement):
    TAG = "serial"
    CHILD_ORDER = ("source", "protocol", "log", "target", "alias", "address")
    type = text("./@type")
    source_element = Child(Source)
    log_element = Child(Log)
    target_element = Child(Target)
    target_type = target_element.field(Target.type)
    target_port = target_element.field(Target.port)
    target_model = target_element.field(Target.model_name)
    log_file = log_element.field(Log.file)
    log_append = log_element.field(Log.append)
    pty_path = source_element.field(Source.path)

    @classmethod
    def pty(cls, log_file: str | None = None) -> Serial:
        """The first ISA serial port on a pty, its output also logged to ``log_file``."""
        serial = cls()
        serial.type = "pty"
        if log_file:
            serial.log_file = log_file
            # 'off': the log holds what the guest printed since it last started.
            serial.log_append = "off"
        serial.target_type = "isa-serial"
        serial.target_port = 0
        return serial

    def validate(self) -> None:
        _validate_parts(self.log_element, self.target_element)


class Console(XmlElement):
    TAG = "console"
    CHILD_ORDER = ("source", "protocol", "log", "target", "alias", "address")
    type = text("./@type")
    target_element = Child(Target)
    target_type = target_element.field(Target.type)
    target_port = target_element.field(Target.port)

    @classmethod
    def serial_pty(cls) -> Console:
        """The console that shows the first serial port (what ``virsh console`` opens)."""
        console = cls()
        console.type = "pty"
        console.target_type = "serial"
        console.target_port = 0
        return console


class Channel(XmlElement):
    TAG = "channel"
    CHILD_ORDER = ("source", "protocol", "log", "target", "alias", "address")
    GUEST_AGENT = "org.qemu.guest_agent.0"
    type = text("./@type")
    source_element = Child(Source)
    target_element = Child(Target)
    target_type = target_element.field(Target.type)
    target_name = target_element.field(Target.name)

    @classmethod
    def guest_agent(cls) -> Channel:
        """The virtio-serial channel the QEMU guest agent talks on."""
        channel = cls()
        channel.type = "unix"
        channel.target_type = "virtio"
        channel.target_name = cls.GUEST_AGENT
        return channel


class Controller(XmlElement):
    TAG = "controller"
    CHILD_ORDER = ("model", "driver", "target", "alias", "address", "pcihole64")
    type = text("./@type")
    index = integer("./@index")
    model = text("./@model")
    address_element = Child(Address)

    @classmethod
    def new(cls, kind: str, model: str, index: int | None = None) -> Controller:
        controller = cls()
        controller.type = kind
        controller.index = index
        controller.model = model
        return controller

    def validate(self) -> None:
        if self.type is None:
            raise InvalidElement(self.TAG, "has no type; set type (pci, scsi, usb, ...)")
        if self.index is not None and self.index < 0:
            raise InvalidElement(self.TAG, f"has index={self.index}; use 0 or more")


class MemBalloon(XmlElement):
    TAG = "memballoon"
    CHILD_ORDER = ("stats", "driver", "alias", "address")
    # Seconds between the guest's memory statistics: often enough for a graph.
    DEFAULT_STATS_PERIOD = 5
    model = text("./@model")
    stats_period = integer("./stats/@period")

    @classmethod
    def virtio(cls, stats_period: int = DEFAULT_STATS_PERIOD) -> MemBalloon:
        balloon = cls()
        balloon.model = "virtio"
        balloon.stats_period = stats_period
        return balloon


class Rng(XmlElement):
    TAG = "rng"
    CHILD_ORDER = ("rate", "backend", "driver", "alias", "address")
    model = text("./@model")
    backend_model = text("./backend/@model")
    backend = text("./backend")

    @classmethod
    def urandom(cls) -> Rng:
        """A virtio RNG fed from the host's /dev/urandom (never blocks)."""
        rng = cls()
        rng.model = "virtio"
        rng.backend_model = "random"
        rng.backend = "/dev/urandom"
        return rng


class Video(XmlElement):
    TAG = "video"
    CHILD_ORDER = ("driver", "model", "alias", "address")
    model_element = Child(Model)
    model = model_element.field(Model.type)

    @classmethod
    def new(cls, model: str) -> Video:
        video = cls()
        video.model = model
        return video


class Input(XmlElement):
    TAG = "input"
    CHILD_ORDER = ("source", "driver", "alias", "address")
    type = text("./@type")
    bus = text("./@bus")

    @classmethod
    def new(cls, kind: str, bus: str) -> Input:
        device = cls()
        device.type = kind
        device.bus = bus
        return device


class Filesystem(XmlElement):
    TAG = "filesystem"
    CHILD_ORDER = (
        "driver",
        "binary",
        "idmap",
        "source",
        "target",
        "readonly",
        "space_hard_limit",
        "space_soft_limit",
        *_DEVICE_INFO,
    )
    type = text("./@type")
    accessmode = text("./@accessmode")
    driver_element = Child(Driver)
    source_element = Child(Source)
    target_element = Child(Target)
    driver = driver_element.field(Driver.type)
    source_dir = source_element.field(Source.dir)
    target_dir = target_element.field(Target.dir)
    readonly = Flag("readonly")


# The order libvirt itself writes <devices> children in; virtdeck inserts new
# devices after the last existing one of the same or an earlier kind.
DEVICE_ORDER: tuple[str, ...] = (
    "emulator",
    "disk",
    "controller",
    "lease",
    "filesystem",
    "interface",
    "smartcard",
    "serial",
    "parallel",
    "console",
    "channel",
    "input",
    "tpm",
    "graphics",
    "sound",
    "audio",
    "video",
    "hostdev",
    "redirdev",
    "redirfilter",
    "hub",
    "watchdog",
    "memballoon",
    "rng",
    "panic",
    "shmem",
    "memory",
    "iommu",
    "vsock",
)
