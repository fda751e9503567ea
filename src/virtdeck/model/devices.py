"""Device elements of a domain (``<devices>`` children)."""

from __future__ import annotations

from .xmlbase import XmlElement, integer, text, yes_no


class Disk(XmlElement):
    TAG = "disk"
    CHILD_ORDER = ("driver", "source", "backingStore", "target", "readonly", "boot", "address")

    type = text("./@type")
    device = text("./@device")
    driver_name = text("./driver/@name")
    format = text("./driver/@type")
    source_file = text("./source/@file")
    source_dev = text("./source/@dev")
    source_pool = text("./source/@pool")
    source_volume = text("./source/@volume")
    target = text("./target/@dev")
    bus = text("./target/@bus")
    boot_order = integer("./boot/@order")

    @property
    def readonly(self) -> bool:
        return self.node.find("readonly") is not None

    @readonly.setter
    def readonly(self, value: bool) -> None:
        self.set("./readonly", "" if value else None)
        node = self.node.find("readonly")
        if node is not None:
            if value:
                node.text = None  # <readonly/>, as libvirt writes it, not <readonly></readonly>
            else:
                self.node.remove(node)

    @property
    def path(self) -> str | None:
        """The host path behind this disk, when it is a file or a block device."""
        return self.source_file or self.source_dev


class Interface(XmlElement):
    TAG = "interface"
    CHILD_ORDER = ("mac", "source", "target", "model", "boot", "address")

    type = text("./@type")
    mac = text("./mac/@address")
    source_network = text("./source/@network")
    source_bridge = text("./source/@bridge")
    model = text("./model/@type")
    target_dev = text("./target/@dev")

    @property
    def source(self) -> str | None:
        return self.source_network or self.source_bridge or self.get("./source/@dev")


class Graphics(XmlElement):
    TAG = "graphics"
    type = text("./@type")
    port = integer("./@port")
    autoport = yes_no("./@autoport")
    listen = text("./@listen")
    password = text("./@passwd")
    listen_type = text("./listen/@type")
    listen_address = text("./listen/@address")

    @property
    def address(self) -> str | None:
        return self.listen_address or self.listen


class Serial(XmlElement):
    TAG = "serial"
    CHILD_ORDER = ("source", "log", "target", "alias", "address")
    type = text("./@type")
    target_type = text("./target/@type")
    target_port = integer("./target/@port")
    target_model = text("./target/model/@name")
    log_file = text("./log/@file")
    log_append = text("./log/@append")
    pty_path = text("./source/@path")


class Console(XmlElement):
    TAG = "console"
    type = text("./@type")
    target_type = text("./target/@type")
    target_port = integer("./target/@port")


class Channel(XmlElement):
    TAG = "channel"
    type = text("./@type")
    target_type = text("./target/@type")
    target_name = text("./target/@name")


class Controller(XmlElement):
    TAG = "controller"
    type = text("./@type")
    index = integer("./@index")
    model = text("./@model")


class MemBalloon(XmlElement):
    TAG = "memballoon"
    model = text("./@model")
    stats_period = integer("./stats/@period")


class Rng(XmlElement):
    TAG = "rng"
    model = text("./@model")
    backend_model = text("./backend/@model")
    backend = text("./backend")


class Video(XmlElement):
    TAG = "video"
    model = text("./model/@type")


class Input(XmlElement):
    TAG = "input"
    type = text("./@type")
    bus = text("./@bus")


class Filesystem(XmlElement):
    TAG = "filesystem"
    type = text("./@type")
    accessmode = text("./@accessmode")
    driver = text("./driver/@type")
    source_dir = text("./source/@dir")
    target_dir = text("./target/@dir")


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
