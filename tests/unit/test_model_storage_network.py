"""Pool, volume and network models (virtdeck.model.pool, .volume, .network)."""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest
from lxml import etree

from virtdeck.model import InvalidElement, Network, StoragePool, StorageVolume
from virtdeck.model.xmlbase import iter_tags

HOSTILE = "a'b<c>&d"


def c14n(xml: str) -> bytes:
    """The canonical form: what a round trip must keep (libvirt writes ' and lxml \")."""
    return etree.tostring(etree.fromstring(xml.encode()), method="c14n")


@pytest.fixture
def conn() -> Iterator[libvirt.virConnect]:
    connection = libvirt.open("test:///default")
    try:
        yield connection
    finally:
        connection.close()


# -- pools ---------------------------------------------------------------------


def test_new_pool() -> None:
    pool = StoragePool.new("default", "/var/lib/virtdeck/images")
    assert pool.to_xml() == (
        '<pool type="dir"><name>default</name>'
        "<target><path>/var/lib/virtdeck/images</path></target></pool>"
    )
    pool.validate()


def test_pool_values_are_escaped() -> None:
    pool = StoragePool.new(HOSTILE, f"/srv/{HOSTILE}")
    xml = pool.to_xml()
    assert "<c>" not in xml
    again = StoragePool.from_xml(xml)
    assert (again.name, again.target_path) == (HOSTILE, f"/srv/{HOSTILE}")


def test_pool_parses_what_libvirt_writes_and_stays_exact(conn: libvirt.virConnect) -> None:
    xml = conn.storagePoolLookupByName("default-pool").XMLDesc(0)
    pool = StoragePool.from_xml(xml)
    assert (pool.type, pool.name, pool.target_path) == ("dir", "default-pool", "/default-pool")
    assert pool.capacity_bytes == 107374182400 and pool.allocation_bytes == 0
    assert pool.uuid is not None and pool.source_element is not None
    assert c14n(pool.to_xml()) == c14n(xml)


def test_libvirt_defines_a_new_pool(conn: libvirt.virConnect) -> None:
    defined = conn.storagePoolDefineXML(StoragePool.new("vd-pool", "/srv/vd-pool").to_xml(), 0)
    try:
        kept = StoragePool.from_xml(defined.XMLDesc(0))
        assert (kept.name, kept.type, kept.target_path) == ("vd-pool", "dir", "/srv/vd-pool")
    finally:
        defined.undefine()


def test_pool_creation_order() -> None:
    pool = StoragePool()
    pool.target_path = "/p"
    pool.uuid = "u"
    pool.name = "n"
    pool.type = "dir"
    assert list(iter_tags(pool.node)) == ["name", "uuid", "target"]


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (StoragePool.from_xml("<pool><name>p</name></pool>"), "has no type"),
        (StoragePool.from_xml("<pool type='dir'/>"), "has no name"),
        (StoragePool.new("p", "relative/dir"), "give an absolute path"),
        (StoragePool.from_xml("<pool type='dir'><name>p</name></pool>"), "target path None"),
    ],
)
def test_pool_validate(pool: StoragePool, message: str) -> None:
    with pytest.raises(InvalidElement, match=message):
        pool.validate()


# -- volumes -------------------------------------------------------------------


def test_new_volume_with_backing_store() -> None:
    volume = StorageVolume.new("web.qcow2", 10 * 2**30, "qcow2", "/img/base.qcow2", "qcow2")
    volume.validate()
    assert volume.to_xml() == (
        '<volume><name>web.qcow2</name><capacity unit="bytes">10737418240</capacity>'
        '<target><format type="qcow2"/></target>'
        '<backingStore><path>/img/base.qcow2</path><format type="qcow2"/></backingStore></volume>'
    )
    plain = StorageVolume.new("data.raw", 2**20, "raw")
    assert plain.backing_element is None and plain.backing_path is None


@pytest.mark.parametrize(
    ("unit", "number", "expected"),
    [("bytes", "1024", 1024), ("KiB", "2", 2048), ("G", "1", 2**30), (None, "7", 7)],
)
def test_volume_capacity_units(unit: str | None, number: str, expected: int) -> None:
    attr = f" unit='{unit}'" if unit else ""
    volume = StorageVolume.from_xml(f"<volume><capacity{attr}>{number}</capacity></volume>")
    assert volume.capacity_bytes == expected


def test_volume_values_are_escaped() -> None:
    volume = StorageVolume.new(HOSTILE, 1, "qcow2", f"/img/{HOSTILE}", "raw")
    again = StorageVolume.from_xml(volume.to_xml())
    assert (again.name, again.backing_path) == (HOSTILE, f"/img/{HOSTILE}")
    assert "<c>" not in volume.to_xml()


def test_libvirt_creates_a_volume_and_its_answer_parses(conn: libvirt.virConnect) -> None:
    pool = conn.storagePoolLookupByName("default-pool")
    made = pool.createXML(StorageVolume.new("vd-vol.img", 5 * 2**20, "raw").to_xml(), 0)
    try:
        kept = StorageVolume.from_xml(made.XMLDesc(0))
        assert (kept.name, kept.capacity_bytes) == ("vd-vol.img", 5 * 2**20)
        assert kept.path == "/default-pool/vd-vol.img"
        assert c14n(kept.to_xml()) == c14n(made.XMLDesc(0))
    finally:
        made.delete(0)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<volume><capacity>1</capacity></volume>", "has no name"),
        ("<volume><name>a/b</name><capacity>1</capacity></volume>", "has a '/'"),
        ("<volume><name>v</name></volume>", "has no capacity"),
        (
            "<volume><name>v</name><capacity>1</capacity>"
            "<backingStore><path>/b</path></backingStore></volume>",
            "no backing format",
        ),
    ],
)
def test_volume_validate(xml: str, message: str) -> None:
    with pytest.raises(InvalidElement, match=message):
        StorageVolume.from_xml(xml).validate()


# -- networks ------------------------------------------------------------------

DEFAULT_NETWORK = """\
<network>
  <name>default</name>
  <uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='52:54:00:00:00:01' name='web' ip='192.168.122.10'/>
    </dhcp>
  </ip>
</network>"""


def test_network_parses_and_stays_exact() -> None:
    net = Network.from_xml(DEFAULT_NETWORK)
    assert (net.name, net.forward_mode, net.bridge_name) == ("default", "nat", "virbr0")
    (ip,) = net.ips
    assert (ip.address, ip.netmask, ip.prefix) == ("192.168.122.1", "255.255.255.0", None)
    assert str(ip.network()) == "192.168.122.0/24"
    assert [(r.start, r.end) for r in ip.dhcp.ranges] == [("192.168.122.2", "192.168.122.254")]
    assert [(h.mac, h.ip) for h in ip.dhcp.hosts] == [("52:54:00:00:00:01", "192.168.122.10")]
    net.validate()
    assert c14n(net.to_xml()) == c14n(DEFAULT_NETWORK)


def test_new_network_in_libvirt_order() -> None:
    net = Network.new("lab", bridge_name="virbr9")
    ip = net.add_ip("10.9.0.1", prefix=24)
    ip.add_dhcp_range("10.9.0.100", "10.9.0.200")
    net.uuid = "3e3fce45-4f53-4fa7-bb32-11f34168b82b"
    net.validate()
    assert net.to_xml() == (
        "<network><name>lab</name><uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>"
        '<forward mode="nat"/><bridge name="virbr9"/>'
        '<ip address="10.9.0.1" prefix="24"><dhcp><range start="10.9.0.100" end="10.9.0.200"/>'
        "</dhcp></ip></network>"
    )
    isolated = Network.new("iso", forward_mode=None)
    assert isolated.to_xml() == "<network><name>iso</name></network>"


def test_reading_a_network_without_dhcp_adds_none() -> None:
    net = Network.from_xml("<network><name>n</name><ip address='10.0.0.1' prefix='8'/></network>")
    assert net.ips[0].dhcp.ranges == []
    assert (
        net.to_xml()
        == "<network><name>n</name><ip address='10.0.0.1' prefix='8'/></network>".replace("'", '"')
    )


def test_network_values_are_escaped() -> None:
    net = Network.new(HOSTILE, bridge_name=HOSTILE)
    again = Network.from_xml(net.to_xml())
    assert (again.name, again.bridge_name) == (HOSTILE, HOSTILE)
    assert "<c>" not in net.to_xml()


def test_libvirt_defines_a_new_network(conn: libvirt.virConnect) -> None:
    net = Network.new("vd-lab", bridge_name="vdbr7")
    net.add_ip("10.77.0.1", netmask="255.255.255.0").add_dhcp_range("10.77.0.2", "10.77.0.9")
    defined = conn.networkDefineXML(net.to_xml())
    try:
        kept = Network.from_xml(defined.XMLDesc(0))
        kept.validate()
        assert (kept.name, kept.forward_mode, kept.bridge_name) == ("vd-lab", "nat", "vdbr7")
        assert [(r.start, r.end) for r in kept.ips[0].dhcp.ranges] == [("10.77.0.2", "10.77.0.9")]
        assert kept.uuid is not None
    finally:
        defined.undefine()


def _net(ip: str, dhcp: str = "") -> Network:
    return Network.from_xml(f"<network><name>n</name><ip {ip}>{dhcp}</ip></network>")


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (Network.from_xml("<network/>"), "has no name"),
        (Network.new("n", forward_mode="tunnel"), "forward mode 'tunnel'"),
        (_net("prefix='24'"), "has no address"),
        (_net("address='10.0.0.1' prefix='24' netmask='255.0.0.0'"), "both netmask and prefix"),
        (_net("address='10.0.0.300' prefix='24'"), "is not an IP address and netmask"),
        (_net("address='10.0.0.1' prefix='40'"), "is not an IP address and netmask"),
        (
            _net(
                "address='10.0.0.1' prefix='24'", "<dhcp><range start='x' end='10.0.0.9'/></dhcp>"
            ),
            "end 'x' is not an IP address",
        ),
        (
            _net(
                "address='10.0.0.1' prefix='24'",
                "<dhcp><range start='10.0.1.2' end='10.0.1.9'/></dhcp>",
            ),
            "is not inside 10.0.0.0/24",
        ),
        (
            _net(
                "address='10.0.0.1' prefix='24'",
                "<dhcp><range start='10.0.0.9' end='10.0.0.2'/></dhcp>",
            ),
            "ends before it starts",
        ),
    ],
)
def test_network_validate(net: Network, message: str) -> None:
    with pytest.raises(InvalidElement, match=message):
        net.validate()
