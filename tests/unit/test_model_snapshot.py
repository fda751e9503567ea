"""The <domainsnapshot> model (virtdeck.model.snapshot), against libvirt's test driver."""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest
from lxml import etree

from virtdeck.model import DomainSnapshot, InvalidElement
from virtdeck.model.xmlbase import iter_tags

HOSTILE = "a'b<c>&d"


def c14n(xml: str) -> bytes:
    """The canonical form: what a round trip must keep (libvirt writes ' and lxml \")."""
    return etree.tostring(etree.fromstring(xml.encode()), method="c14n")


EXTERNAL = """\
<domainsnapshot>
  <name>before-upgrade</name>
  <description>  kept  </description>
  <state>disk-snapshot</state>
  <parent>
    <name>first</name>
  </parent>
  <creationTime>1700000000</creationTime>
  <memory snapshot='no'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/var/lib/virtdeck/images/web.before-upgrade'/>
    </disk>
    <disk name='vdb' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/var/lib/virtdeck/images/data.before-upgrade'/>
    </disk>
    <disk name='sda' snapshot='no'/>
  </disks>
  <domain type='kvm'><name>web</name></domain>
</domainsnapshot>"""


def test_new_is_what_snapshot_create_takes() -> None:
    assert DomainSnapshot.new("s1", "note").to_xml() == (
        "<domainsnapshot><name>s1</name><description>note</description></domainsnapshot>"
    )
    assert DomainSnapshot.new("s1").to_xml() == "<domainsnapshot><name>s1</name></domainsnapshot>"


def test_parse_external_snapshot() -> None:
    snap = DomainSnapshot.from_xml(EXTERNAL)
    assert (snap.name, snap.description, snap.state) == ("before-upgrade", "kept", "disk-snapshot")
    assert (snap.parent, snap.creation_time, snap.memory_snapshot) == ("first", 1700000000, "no")
    assert not snap.has_memory and snap.external
    assert [(d.name, d.snapshot, d.format) for d in snap.disks] == [
        ("vda", "external", "qcow2"),
        ("vdb", "external", "qcow2"),
        ("sda", "no", None),
    ]
    assert snap.overlays == [
        "/var/lib/virtdeck/images/web.before-upgrade",
        "/var/lib/virtdeck/images/data.before-upgrade",
    ]
    # The <disk> elements of the embedded <domain> are not the snapshot's disks.
    assert len(snap.disks) == 3
    assert c14n(snap.to_xml()) == c14n(EXTERNAL)


def test_a_bare_snapshot_reads_empty_and_stays_bare() -> None:
    snap = DomainSnapshot.from_xml("<domainsnapshot><name>x</name></domainsnapshot>")
    assert (snap.description, snap.parent, snap.creation_time) == (None, None, None)
    assert (snap.disks, snap.overlays, snap.has_memory, snap.external) == ([], [], False, False)
    assert snap.to_xml() == "<domainsnapshot><name>x</name></domainsnapshot>"


def test_created_parts_follow_libvirt_order() -> None:
    snap = DomainSnapshot()
    snap.add_disk("vda", "external", "/img/web.s1")
    snap.memory_snapshot = "no"
    snap.description = "d"
    snap.name = "s1"
    assert list(iter_tags(snap.node)) == ["name", "description", "memory", "disks"]
    assert snap.to_xml().endswith(
        '<disks><disk name="vda" snapshot="external"><source file="/img/web.s1"/></disk></disks>'
        "</domainsnapshot>"
    )


def test_hostile_values_are_escaped() -> None:
    snap = DomainSnapshot.new(HOSTILE, HOSTILE)
    assert "<c>" not in snap.to_xml()
    again = DomainSnapshot.from_xml(snap.to_xml())
    assert (again.name, again.description) == (HOSTILE, HOSTILE)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<domainsnapshot/>", "has no name"),
        ("<domainsnapshot><name>s</name><memory snapshot='yes'/></domainsnapshot>", "use no"),
        (
            "<domainsnapshot><name>s</name><memory snapshot='external'/></domainsnapshot>",
            "names no file",
        ),
        (
            "<domainsnapshot><name>s</name><disks><disk snapshot='no'/></disks></domainsnapshot>",
            "<disk> of a snapshot has no name",
        ),
        (
            "<domainsnapshot><name>s</name><disks><disk name='vda' snapshot='copy'/></disks>"
            "</domainsnapshot>",
            "vda has snapshot='copy'",
        ),
    ],
)
def test_validate(xml: str, message: str) -> None:
    with pytest.raises(InvalidElement, match=message.replace("(", r"\(")):
        DomainSnapshot.from_xml(xml).validate()
    DomainSnapshot.from_xml(EXTERNAL).validate()


@pytest.fixture
def running_domain() -> Iterator[libvirt.virDomain]:
    conn = libvirt.open("test:///default")
    dom = conn.lookupByName("test")
    try:
        yield dom
    finally:
        for snap in dom.listAllSnapshots(0):
            snap.delete(0)
        conn.close()


def test_libvirt_takes_new_and_its_answer_parses(running_domain: libvirt.virDomain) -> None:
    first = DomainSnapshot.new("vd-s1", HOSTILE)
    first.validate()
    running_domain.snapshotCreateXML(first.to_xml(), 0)
    second = running_domain.snapshotCreateXML(DomainSnapshot.new("vd-s2").to_xml(), 0)
    kept = DomainSnapshot.from_xml(second.getXMLDesc(0))
    kept.validate()
    assert (kept.name, kept.description, kept.parent, kept.state) == (
        "vd-s2",
        None,
        "vd-s1",
        "running",
    )
    assert kept.has_memory and not kept.external and (kept.creation_time or 0) > 0
    assert [d.name for d in kept.disks] == ["vda"]
    one = DomainSnapshot.from_xml(running_domain.snapshotLookupByName("vd-s1").getXMLDesc(0))
    assert one.description == HOSTILE
