"""The <domain> model and its devices (virtdeck.model.domain, .devices)."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from virtdeck.model import METADATA_NS, Domain, XmlError

DOMAIN_XML = """\
<domain type="kvm" id="3">
  <name>web-01</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <title>Front web server</title>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
    <other:thing xmlns:other="urn:example:other" keep="yes">untouched</other:thing>
  </metadata>
  <memory unit="KiB">2097152</memory>
  <currentMemory unit="KiB">1048576</currentMemory>
  <vcpu placement="static" current="2">4</vcpu>
  <os firmware="efi">
    <type arch="x86_64" machine="pc-q35-7.2">hvm</type>
    <boot dev="hd"/>
    <boot dev="cdrom"/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode="host-model" check="partial"/>
  <clock offset="utc"/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <!-- devices follow -->
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2" discard="unmap"/>
      <source file="/var/lib/libvirt/images/web-01.qcow2"/>
      <target dev="vda" bus="virtio"/>
      <boot order="1"/>
    </disk>
    <disk type="block" device="disk">
      <driver name="qemu" type="raw" cache="none"/>
      <source dev="/dev/vg0/web-01-data"/>
      <target dev="vdb" bus="virtio"/>
    </disk>
    <disk type="file" device="cdrom">
      <driver name="qemu" type="raw"/>
      <source file="/srv/iso/debian-12.iso"/>
      <target dev="sda" bus="sata"/>
      <readonly/>
    </disk>
    <controller type="usb" index="0" model="qemu-xhci"/>
    <controller type="pci" index="0" model="pcie-root"/>
    <interface type="network">
      <mac address="52:54:00:6b:3c:58"/>
      <source network="default"/>
      <model type="virtio"/>
    </interface>
    <interface type="bridge">
      <mac address="52:54:00:00:00:02"/>
      <source bridge="br0"/>
      <target dev="vnet7"/>
      <model type="e1000e"/>
    </interface>
    <serial type="pty">
      <source path="/dev/pts/4"/>
      <log file="/var/log/libvirt/qemu/web-01-serial0.log" append="off"/>
      <target type="isa-serial" port="0">
        <model name="isa-serial"/>
      </target>
    </serial>
    <console type="pty" tty="/dev/pts/4">
      <target type="serial" port="0"/>
    </console>
    <channel type="unix">
      <target type="virtio" name="org.qemu.guest_agent.0"/>
    </channel>
    <input type="tablet" bus="usb"/>
    <graphics type="vnc" port="5901" autoport="no" passwd="s3cret">
      <listen type="address" address="0.0.0.0"/>
    </graphics>
    <graphics type="spice" autoport="yes" listen="127.0.0.1"/>
    <video>
      <model type="virtio" heads="1" primary="yes"/>
    </video>
    <filesystem type="mount" accessmode="passthrough">
      <driver type="virtiofs"/>
      <source dir="/srv/share"/>
      <target dir="share"/>
    </filesystem>
    <memballoon model="virtio">
      <stats period="10"/>
    </memballoon>
    <rng model="virtio">
      <backend model="random">/dev/urandom</backend>
    </rng>
  </devices>
  <seclabel type="dynamic" model="apparmor" relabel="yes"/>
</domain>"""


def c14n(node: etree._Element) -> bytes:
    return etree.tostring(node, method="c14n")


@pytest.fixture
def dom() -> Domain:
    return Domain.from_xml(DOMAIN_XML)


def test_round_trip_is_exact(dom: Domain) -> None:
    assert dom.to_xml() == DOMAIN_XML


def test_identity_lifecycle_memory_and_vcpus(dom: Domain) -> None:
    assert (dom.type, dom.name, dom.title) == ("kvm", "web-01", "Front web server")
    assert dom.uuid == "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
    assert dom.description is None
    assert (dom.on_poweroff, dom.on_reboot, dom.on_crash) == ("destroy", "restart", "destroy")
    assert dom.emulator == "/usr/bin/qemu-system-x86_64"
    assert dom.memory_kib == 2097152
    assert dom.current_memory_kib == dom.memory_current_kib == 1048576
    assert (dom.vcpus, dom.max_vcpus, dom.vcpu_placement) == (2, 4, "static")


@pytest.mark.parametrize(
    ("element", "kib"),
    [
        ("<memory>524288</memory>", 524288),
        ('<memory unit="KiB">524288</memory>', 524288),
        ('<memory unit="">524288</memory>', 524288),
        ('<memory unit="MiB">512</memory>', 524288),
        ('<memory unit="GiB">2</memory>', 2097152),
        ('<memory unit="bytes">536870912</memory>', 524288),
        ('<memory unit="b">1000</memory>', 1),  # libvirt rounds up to whole KiB
        ('<memory unit="KB">1000</memory>', 977),
        ('<memory unit="MB">1000</memory>', 976563),
        ("<memory>\n  1024\n</memory>", 1024),
    ],
)
def test_memory_units_convert_to_kib(element: str, kib: int) -> None:
    assert Domain.from_xml(f"<domain>{element}</domain>").memory_kib == kib


@pytest.mark.parametrize(
    "element",
    ['<memory unit="parsecs">1</memory>', "<memory>lots</memory>", "<memory>1.5</memory>"],
)
def test_bad_memory_raises_xml_error(element: str) -> None:
    with pytest.raises(XmlError, match="bad size"):
        _ = Domain.from_xml(f"<domain>{element}</domain>").memory_kib


def test_absent_values_read_as_none() -> None:
    dom = Domain.from_xml("<domain><memory/></domain>")
    assert (dom.memory_kib, dom.current_memory_kib, dom.memory_current_kib) == (None,) * 3
    assert (dom.vcpus, dom.max_vcpus, dom.cpu, dom.memballoon) == (None, None, None, None)
    assert (dom.disks, dom.interfaces, dom.graphics, dom.serials) == ([], [], [], [])


@pytest.mark.parametrize(
    ("vcpu", "current", "maximum"),
    [("<vcpu>4</vcpu>", 4, 4), ('<vcpu current="1">4</vcpu>', 1, 4), ("<vcpu> 8 </vcpu>", 8, 8)],
)
def test_vcpus_with_and_without_current(vcpu: str, current: int, maximum: int) -> None:
    dom = Domain.from_xml(f"<domain>{vcpu}</domain>")
    assert (dom.vcpus, dom.max_vcpus) == (current, maximum)


def test_disks(dom: Domain) -> None:
    rows = [(d.device, d.type, d.path, d.target, d.bus, d.format) for d in dom.disks]
    assert rows == [
        ("disk", "file", "/var/lib/libvirt/images/web-01.qcow2", "vda", "virtio", "qcow2"),
        ("disk", "block", "/dev/vg0/web-01-data", "vdb", "virtio", "raw"),
        ("cdrom", "file", "/srv/iso/debian-12.iso", "sda", "sata", "raw"),
    ]
    assert [d.readonly for d in dom.disks] == [False, False, True]
    assert [d.boot_order for d in dom.disks] == [1, None, None]
    assert dom.disks[0].driver_name == "qemu"


def test_interfaces(dom: Domain) -> None:
    nics = dom.interfaces
    assert [(n.type, n.source, n.model, n.mac) for n in nics] == [
        ("network", "default", "virtio", "52:54:00:6b:3c:58"),
        ("bridge", "br0", "e1000e", "52:54:00:00:00:02"),
    ]
    assert (nics[0].target_dev, nics[1].target_dev) == (None, "vnet7")


def test_graphics(dom: Domain) -> None:
    vnc, spice = dom.graphics
    assert (vnc.type, vnc.port, vnc.autoport, vnc.password) == ("vnc", 5901, False, "s3cret")
    assert (vnc.listen_type, vnc.address) == ("address", "0.0.0.0")
    assert (spice.type, spice.port, spice.autoport) == ("spice", None, True)
    assert spice.address == "127.0.0.1"


def test_serial_console_and_other_devices(dom: Domain) -> None:
    (serial,) = dom.serials
    assert serial.log_file == "/var/log/libvirt/qemu/web-01-serial0.log"
    assert (serial.log_append, serial.pty_path) == ("off", "/dev/pts/4")
    assert (serial.target_type, serial.target_model) == ("isa-serial", "isa-serial")
    assert serial.target_port == 0
    (console,) = dom.consoles
    assert (console.type, console.target_type, console.target_port) == ("pty", "serial", 0)
    assert [c.target_name for c in dom.channels] == ["org.qemu.guest_agent.0"]
    assert [(c.type, c.index, c.model) for c in dom.controllers] == [
        ("usb", 0, "qemu-xhci"),
        ("pci", 0, "pcie-root"),
    ]
    assert dom.memballoon is not None and dom.memballoon.stats_period == 10
    (rng,) = dom.rngs
    assert (rng.model, rng.backend_model, rng.backend) == ("virtio", "random", "/dev/urandom")
    assert [v.model for v in dom.videos] == ["virtio"]
    assert [(i.type, i.bus) for i in dom.inputs] == [("tablet", "usb")]
    (fs,) = dom.filesystems
    assert (fs.driver, fs.accessmode) == ("virtiofs", "passthrough")
    assert (fs.source_dir, fs.target_dir) == ("/srv/share", "share")


def test_os_cpu_and_features(dom: Domain) -> None:
    os = dom.os
    assert (os.type, os.arch, os.machine, os.firmware) == ("hvm", "x86_64", "pc-q35-7.2", "efi")
    assert dom.os.boot_devices == ["hd", "cdrom"]
    assert dom.cpu is not None and (dom.cpu.mode, dom.cpu.match) == ("host-model", None)
    assert dom.has_feature("acpi") and dom.has_feature("apic") and not dom.has_feature("pae")


def test_metadata_get_set_list(dom: Domain) -> None:
    assert dom.get_meta("owner") is None and dom.metadata_xml() is None
    dom.set_meta("owner", "alice")
    dom.set_meta_list("tags", ["web", "prod"])
    assert dom.get_meta("owner") == "alice"
    assert dom.get_meta_list("tags") == ["web", "prod"]
    assert dom.get_meta_list("missing") == []
    ours = dom.node.find(f"metadata/{{{METADATA_NS}}}vm")
    assert ours is not None and ours.prefix == "virtdeck"
    assert dom.metadata_xml() == (
        f'<virtdeck:vm xmlns:virtdeck="{METADATA_NS}"><virtdeck:owner>alice</virtdeck:owner>'
        "<virtdeck:tags>web\nprod</virtdeck:tags></virtdeck:vm>"
    )
    dom.set_meta("owner", "bob")
    dom.set_meta_list("tags", [])
    assert (dom.get_meta("owner"), dom.get_meta("tags")) == ("bob", None)
    dom.set_meta("absent", None)  # removing what is not there is a no-op
    # It survives a round trip through text.
    assert Domain.from_xml(dom.to_xml()).get_meta("owner") == "bob"


def test_metadata_leaves_other_namespaces_alone(dom: Domain) -> None:
    meta = dom.node.find("metadata")
    assert meta is not None
    before = [c14n(child) for child in meta]
    dom.set_meta("owner", "alice")
    dom.set_meta("owner", None)
    dom.set_meta_list("tags", ["a", "b"])
    after = list(meta)
    assert [c14n(child) for child in after[:2]] == before
    assert after[2].tag == f"{{{METADATA_NS}}}vm" and len(after) == 3


def test_metadata_is_created_in_order() -> None:
    dom = Domain.from_xml("<domain><name>x</name><uuid>u</uuid><memory>1</memory></domain>")
    dom.set_meta("owner", "alice")
    assert [c.tag for c in dom.node][:4] == ["name", "uuid", "metadata", "memory"]
    assert Domain.from_xml("<domain/>").get_meta_list("tags") == []


def _blanked(root: etree._Element, tag: str) -> bytes:
    """The tree with the text and attributes of one child emptied (kept in place)."""
    clone = copy.deepcopy(root)
    for node in clone.findall(tag):
        node.text = None
        node.attrib.clear()
    return c14n(clone)


def test_setting_memory_changes_only_memory(dom: Domain) -> None:
    original = copy.deepcopy(dom.node)
    dom.memory_kib = 4 * 1024 * 1024
    assert dom.to_xml().count('<memory unit="KiB">4194304</memory>') == 1
    assert _blanked(dom.node, "memory") == _blanked(original, "memory")
    dom.current_memory_kib = None
    assert dom.node.find("currentMemory") is None
    assert dom.memory_current_kib == 4 * 1024 * 1024


def test_setting_memory_in_other_units_rewrites_in_kib() -> None:
    dom = Domain.from_xml('<domain><memory unit="GiB" dumpCore="off">2</memory></domain>')
    dom.memory_kib = 3 * 1024 * 1024
    assert dom.to_xml() == '<domain><memory unit="KiB" dumpCore="off">3145728</memory></domain>'
    dom.memory_kib = None
    assert dom.to_xml() == '<domain><memory dumpCore="off"/></domain>'
    dom = Domain.from_xml('<domain><name>x</name><memory unit="MiB">2</memory></domain>')
    dom.memory_kib = None
    assert dom.to_xml() == "<domain><name>x</name></domain>"


def test_setting_vcpus_changes_only_vcpu(dom: Domain) -> None:
    original = copy.deepcopy(dom.node)
    dom.max_vcpus = 8
    dom.vcpus = 3
    assert dom.to_xml().count('<vcpu placement="static" current="3">8</vcpu>') == 1
    assert _blanked(dom.node, "vcpu") == _blanked(original, "vcpu")
    dom.vcpus = 8  # equal to the maximum: current= is dropped
    assert dom.get("./vcpu/@current") is None and dom.vcpus == 8
    dom.vcpus = None
    assert dom.vcpus == 8


def test_created_elements_follow_libvirt_order() -> None:
    dom = Domain.from_xml("<domain><name>x</name><os><type>hvm</type></os><devices/></domain>")
    dom.vcpus = None
    dom.max_vcpus = 2
    dom.memory_kib = 1024
    dom.current_memory_kib = 512
    assert [c.tag for c in dom.node] == ["name", "memory", "currentMemory", "vcpu", "os", "devices"]
