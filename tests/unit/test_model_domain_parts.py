"""The domain model built from shared sub-element classes: pure getters, order, validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtdeck.model import (
    Channel,
    Console,
    Disk,
    Domain,
    Graphics,
    Interface,
    InvalidElement,
    MemBalloon,
    NewDisk,
    NewDomain,
    Rng,
    Serial,
    build_domain,
)
from virtdeck.model.xmlbase import Child, Children, Field, Flag, LazyChild, XmlElement, iter_tags

CORPUS = Path(__file__).resolve().parents[2].parent / "shared/corpus/domain-xml"
FILES = sorted(p.name for p in CORPUS.glob("*.xml")) if CORPUS.is_dir() else []


def read_everything(element: XmlElement) -> int:
    """Read every field, flag, child and property of ``element`` and what they lead to.

    Every path leads down the tree (no class refers to its parent), so this ends.
    """
    count = 0
    for cls in type(element).__mro__:
        for name, attr in vars(cls).items():
            if not isinstance(attr, Field | Flag | Child | LazyChild | Children | property):
                continue
            value = getattr(element, name)
            count += 1
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, XmlElement):
                    count += read_everything(item)
    if isinstance(element, Domain):
        element.metadata_xml()
        element.metadata_for_set()
        element.get_meta_list("tags")
        element.has_feature("acpi")
    return count


@pytest.mark.skipif(not FILES, reason=f"domain XML corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", FILES or ["<none>"])
def test_reading_every_property_of_a_corpus_domain_changes_nothing(name: str) -> None:
    source = (CORPUS / name).read_text(encoding="utf-8")
    dom = Domain.from_xml(source)
    before = dom.to_xml()
    assert read_everything(dom) > 50
    assert dom.to_xml() == before


@pytest.mark.parametrize(
    "source",
    [
        "<domain/>",
        "<domain type='kvm'><name>bare</name></domain>",
        "<domain><devices><disk/><interface/><serial/><graphics/></devices></domain>",
    ],
)
def test_reading_a_sparse_domain_inserts_nothing(source: str) -> None:
    dom = Domain.from_xml(source)
    before = dom.to_xml()
    read_everything(dom)
    assert dom.os.machine is None and dom.os.boot_devices == []
    assert (dom.emulator, dom.memballoon) == (None, None)
    assert len(dom.disks) == source.count("<disk/>")
    assert not dom.has_feature("acpi")
    assert dom.to_xml() == before


def test_writing_through_a_view_creates_os_in_libvirt_order() -> None:
    dom = Domain.from_xml("<domain><name>a</name><memory>1</memory><devices/></domain>")
    dom.os.machine = "q35"
    dom.clock.offset = "utc"
    dom.enable_feature("apic")
    dom.enable_feature("acpi")  # acpi goes before apic, as libvirt writes them
    assert list(iter_tags(dom.node)) == ["name", "memory", "os", "features", "clock", "devices"]
    assert list(iter_tags(dom.features.node)) == ["acpi", "apic"]
    dom.os.boot_devices = ["cdrom", "hd"]
    dom.os.type = "hvm"  # <type> goes before the <boot>s that came first
    assert list(iter_tags(dom.os.node)) == ["type", "boot", "boot"]
    assert dom.os.boot_devices == ["cdrom", "hd"]


def test_a_disk_built_in_any_order_comes_out_in_libvirt_order() -> None:
    disk = Disk()
    disk.boot_order = 1
    disk.readonly = True
    disk.bus = "sata"
    disk.target = "sda"
    disk.source_file = "/srv/a.iso"
    disk.format = "raw"
    assert list(iter_tags(disk.node)) == ["driver", "source", "target", "readonly", "boot"]
    assert disk.target_element is not None and disk.target_element.dev == "sda"


def test_an_interface_built_in_any_order_comes_out_in_libvirt_order() -> None:
    nic = Interface()
    nic.boot_order = 2
    nic.model = "virtio"
    nic.target_dev = "vnet3"
    nic.source_network = "default"
    nic.mac = "52:54:00:00:00:01"
    assert list(iter_tags(nic.node)) == ["mac", "source", "target", "model", "boot"]


def test_serial_target_model_is_nested_in_order() -> None:
    serial = Serial()
    serial.target_model = "isa-serial"
    serial.log_file = "/var/log/x.log"
    serial.pty_path = "/dev/pts/1"
    assert serial.to_xml() == (
        '<serial><source path="/dev/pts/1"/><log file="/var/log/x.log"/>'
        '<target><model name="isa-serial"/></target></serial>'
    )


def test_disk_in_place_edit_keeps_unknown_content() -> None:
    source = (
        '<disk type="file" device="disk"><driver name="qemu" type="raw" cache="none"/>'
        '<source file="/a"><seclabel model="dac"/></source><target dev="vda" bus="virtio"/>'
        "<serial>XYZ</serial></disk>"
    )
    disk = Disk.from_xml(source)
    disk.format = "qcow2"
    disk.source_file = "/b"
    disk.boot_order = 1
    assert disk.to_xml() == (
        source.replace('type="raw"', 'type="qcow2"').replace('file="/a"', 'file="/b"')
    ).replace("</disk>", '<boot order="1"/></disk>')


def test_constructors_hold_the_defaults() -> None:
    disk = Disk.file("/img/a.qcow2")
    assert (disk.type, disk.device, disk.driver_name, disk.format) == (
        "file",
        "disk",
        "qemu",
        "qcow2",
    )
    assert (disk.target, disk.bus, disk.readonly) == ("vda", "virtio", False)
    assert Disk.file("/a.iso", "raw", "sda", "sata", "cdrom").readonly is True
    nic = Interface.network("default")
    assert (nic.type, nic.source, nic.model, nic.mac) == ("network", "default", "virtio", None)
    graphics = Graphics.local("vnc")
    assert (graphics.autoport, graphics.listen, graphics.address) == (
        True,
        "127.0.0.1",
        "127.0.0.1",
    )
    assert Serial.pty().log_file is None and Serial.pty("/l").log_append == "off"
    assert Console.serial_pty().target_type == "serial"
    assert Channel.guest_agent().target_name == "org.qemu.guest_agent.0"
    assert MemBalloon.virtio().stats_period == 5
    assert Rng.urandom().backend == "/dev/urandom"
    assert NewDisk(path="/x").bus == Disk.DEFAULT_BUS and NewDisk(path="/x").format == "qcow2"


def new_domain(**changes: object) -> Domain:
    spec = NewDomain(
        name="ok",
        domain_type="qemu",
        vcpus=1,
        max_vcpus=2,
        memory_kib=1024,
        max_memory_kib=2048,
        disks=[NewDisk(path="/img/ok.qcow2")],
        networks=["default"],
    )
    for key, value in changes.items():
        setattr(spec, key, value)
    return build_domain(spec)


def test_what_the_builder_makes_validates() -> None:
    new_domain().validate()
    new_domain(graphics="none", machine="pc").validate()


def _no_name(dom: Domain) -> None:
    dom.name = None


def _too_many_vcpus(dom: Domain) -> None:
    dom.vcpus = 4


def _current_above_memory(dom: Domain) -> None:
    dom.current_memory_kib = 4096


def _no_os_type(dom: Domain) -> None:
    dom.os.type = None


def _no_disk_target(dom: Domain) -> None:
    dom.disks[0].target = None


def _second_disk_on_vda(dom: Domain) -> None:
    dom.add_device(Disk.file("/img/two.qcow2", target="vda"))


def _bad_mac(dom: Domain) -> None:
    dom.interfaces[0].mac = "52:54:00:zz:00:01"


def _bad_graphics_port(dom: Domain) -> None:
    dom.graphics[0].port = 70000


def _boot_order_zero(dom: Domain) -> None:
    dom.disks[0].boot_order = 0


def _network_nic_without_network(dom: Domain) -> None:
    dom.interfaces[0].source_network = None


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_no_name, "<domain> has no name"),
        (_too_many_vcpus, "boots with 4 vCPUs but may have at most 2"),
        (_current_above_memory, "currentMemory (4096 KiB) above memory (2048 KiB)"),
        (_no_os_type, "<os> type None is unknown"),
        (_no_disk_target, "<disk> has no target device"),
        (_second_disk_on_vda, "two disks on target vda"),
        (_bad_mac, "is not a MAC address"),
        (_bad_graphics_port, "has port=70000"),
        (_boot_order_zero, "boot orders start at 1"),
        (_network_nic_without_network, "names no network"),
    ],
)
def test_validate_names_what_is_wrong(breaks: object, message: str) -> None:
    dom = new_domain()
    assert callable(breaks)
    breaks(dom)
    with pytest.raises(InvalidElement) as caught:
        dom.validate()
    assert message in str(caught.value)
