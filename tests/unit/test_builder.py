"""New VM definitions (virtdeck.model.builder), checked by golden files and by libvirt."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import libvirt
import pytest

from virtdeck.model import METADATA_NS, Domain, NewDisk, NewDomain, build_domain
from virtdeck.model.builder import SPARE_ROOT_PORTS
from virtdeck.model.devices import DEVICE_ORDER

UUID = "5f6c9a3e-0b1d-4c2e-9f8a-7b6c5d4e3f21"
IMAGE = "/var/lib/virtdeck/images/{}.qcow2"


def spec(case: str, **changes: object) -> NewDomain:
    base = NewDomain(
        name=f"vd-{case}",
        domain_type="qemu",
        vcpus=2,
        max_vcpus=2,
        memory_kib=524288,
        max_memory_kib=524288,
        disks=[NewDisk(path=IMAGE.format(case))],
        uuid=UUID,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


CASES: dict[str, NewDomain] = {
    "vnc-password-network": spec(
        "vnc-password-network",
        networks=["default"],
        graphics_password="s3cret",
        graphics_listen="0.0.0.0",
        serial_log="/var/log/virtdeck/vd-vnc-password-network.log",
    ),
    "headless-no-network": spec("headless-no-network", graphics="none", machine="pc"),
    "cdrom-on-scsi": spec(
        "cdrom-on-scsi",
        disks=[
            NewDisk(path=IMAGE.format("cdrom-on-scsi"), bus="scsi", target="sda"),
            NewDisk(
                path="/srv/iso/debian-12.iso",
                format="raw",
                device="cdrom",
                bus="scsi",
                target="sdb",
            ),
        ],
        networks=["default"],
        boot=["cdrom", "hd"],
    ),
    "disk-boot-order": spec(
        "disk-boot-order",
        disks=[
            NewDisk(path=IMAGE.format("disk-boot-order"), boot_order=2),
            NewDisk(
                path="/srv/iso/netinst.iso",
                format="raw",
                device="cdrom",
                bus="sata",
                target="sda",
                boot_order=1,
            ),
        ],
    ),
    "kvm-host-passthrough": spec(
        "kvm-host-passthrough",
        domain_type="kvm",
        cpu_mode="host-passthrough",
        vcpus=2,
        max_vcpus=8,
        memory_kib=1048576,
        max_memory_kib=4194304,
        graphics="spice",
        networks=["default", "default"],
        metadata={"owner": "alice", "template": "debian-12"},
    ),
}


@pytest.fixture(scope="module")
def conn() -> Iterator[libvirt.virConnect]:
    connection = libvirt.open("test:///default")
    try:
        yield connection
    finally:
        connection.close()


def run_on_test_driver(conn: libvirt.virConnect, xml: str) -> Domain:
    """Define, start, stop and undefine; return the definition libvirt kept."""
    dom = conn.defineXML(xml)
    try:
        kept = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
        dom.create()
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        dom.destroy()
        assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    finally:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName(kept.name or "")
    return kept


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_and_libvirt_accepts(
    case: str, golden: Callable[[str, str], None], conn: libvirt.virConnect
) -> None:
    new = CASES[case]
    built = build_domain(new)
    golden(case, built.to_xml())
    kept = run_on_test_driver(conn, built.to_xml())
    assert (kept.name, kept.uuid, kept.type) == (new.name, UUID, new.domain_type)
    assert (kept.memory_kib, kept.current_memory_kib) == (new.max_memory_kib, new.memory_kib)
    assert (kept.vcpus, kept.max_vcpus) == (new.vcpus, new.max_vcpus)
    assert [(d.path, d.target, d.bus, d.device) for d in kept.disks] == [
        (d.path, d.target, d.bus, d.device) for d in new.disks
    ]
    assert [i.source for i in kept.interfaces] == new.networks
    assert [g.type for g in kept.graphics] == ([] if new.graphics == "none" else [new.graphics])
    assert [g.password for g in kept.graphics] == [new.graphics_password for _ in kept.graphics]
    assert [s.log_file for s in kept.serials] == [new.serial_log]
    per_device = any(d.boot_order is not None for d in new.disks)
    assert kept.os.boot_devices == ([] if per_device else new.boot)
    assert [d.boot_order for d in kept.disks] == [d.boot_order for d in new.disks]
    for key, value in new.metadata.items():
        assert kept.get_meta(key) == value


def test_metadata_reaches_libvirt_metadata_api(conn: libvirt.virConnect) -> None:
    new = CASES["kvm-host-passthrough"]
    dom = conn.defineXML(build_domain(new).to_xml())
    try:
        meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS)
    finally:
        dom.undefine()
    assert "<owner>alice</owner>" in meta and "<template>debian-12</template>" in meta


def controllers(dom: Domain) -> list[tuple[str | None, str | None]]:
    return [(c.type, c.model) for c in dom.controllers]


def test_q35_gets_a_pcie_root_and_spare_ports() -> None:
    for machine in ("q35", "pc-q35-8.2"):
        found = controllers(build_domain(spec("q35", machine=machine, networks=["default"])))
        assert found[0] == ("pci", "pcie-root") and found.count(("pci", "pcie-root")) == 1
        # At least the spare ports, beyond one per PCIe device of the definition.
        assert found.count(("pci", "pcie-root-port")) >= SPARE_ROOT_PORTS + 2
    assert controllers(build_domain(spec("pc", machine="pc-i440fx-8.2"))) == []


def test_scsi_disks_add_one_virtio_scsi_controller() -> None:
    dom = build_domain(CASES["cdrom-on-scsi"])
    assert controllers(dom).count(("scsi", "virtio-scsi")) == 1
    cdrom = dom.disks[1]
    assert (cdrom.device, cdrom.readonly, cdrom.format) == ("cdrom", True, "raw")
    assert not dom.disks[0].readonly
    assert ("scsi", "virtio-scsi") not in controllers(build_domain(CASES["headless-no-network"]))


def test_vnc_with_password() -> None:
    (graphics,) = build_domain(CASES["vnc-password-network"]).graphics
    assert (graphics.type, graphics.password, graphics.autoport) == ("vnc", "s3cret", True)
    assert graphics.address == graphics.listen == "0.0.0.0"
    assert build_domain(spec("nopw")).graphics[0].password is None


def test_headless_has_no_graphics_tablet_or_network() -> None:
    dom = build_domain(CASES["headless-no-network"])
    assert (dom.graphics, dom.inputs, dom.interfaces) == ([], [], [])
    assert [v.model for v in dom.videos] == ["none"]
    with_vnc = build_domain(spec("vnc"))
    assert [v.model for v in with_vnc.videos] == ["vga"]
    assert [(i.type, i.bus) for i in with_vnc.inputs] == [("tablet", "usb")]


def test_cpu_mode_and_vcpus() -> None:
    dom = build_domain(CASES["kvm-host-passthrough"])
    assert dom.cpu is not None and dom.cpu.mode == "host-passthrough"
    assert dom.cpu.get("./@check") == "none"
    assert dom.get("./vcpu/@current") == "2" and dom.vcpu_placement == "static"
    model = build_domain(spec("hm", cpu_mode="host-model")).cpu
    assert model is not None and model.get("./@check") is None
    plain = build_domain(spec("plain"))
    assert plain.cpu is None and plain.get("./vcpu/@current") is None


def test_serial_console_and_guest_agent() -> None:
    dom = build_domain(CASES["vnc-password-network"])
    (serial,) = dom.serials
    assert (serial.type, serial.log_append, serial.target_port) == ("pty", "off", 0)
    (console,) = dom.consoles
    assert (console.target_type, console.target_port) == ("serial", 0)
    assert [c.target_name for c in dom.channels] == ["org.qemu.guest_agent.0"]
    assert build_domain(spec("nolog")).serials[0].get("./log") is None


def test_devices_follow_libvirt_order() -> None:
    for new in CASES.values():
        devices = build_domain(new).devices_node
        ranks = [DEVICE_ORDER.index(str(node.tag)) for node in devices]
        assert ranks == sorted(ranks)


def test_uuid_is_generated_when_not_given() -> None:
    first, second = build_domain(spec("a", uuid=None)), build_domain(spec("a", uuid=None))
    assert first.uuid and second.uuid and first.uuid != second.uuid
    assert str(uuid.UUID(first.uuid)) == first.uuid


def test_built_xml_round_trips_through_text() -> None:
    for new in CASES.values():
        xml = build_domain(new).to_xml()
        assert Domain.from_xml(xml).to_xml() == xml
