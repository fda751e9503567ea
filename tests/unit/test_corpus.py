"""Round trips and targeted edits over 200 real libvirt domain XML files.

The corpus lives outside the project, at ``../shared/corpus/domain-xml`` from
the project root; a clone without it skips these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from virtdeck.model import Domain
from virtdeck.model.xmlbase import Field

CORPUS = Path(__file__).resolve().parents[2].parent / "shared/corpus/domain-xml"
FILES = sorted(p.name for p in CORPUS.glob("*.xml")) if CORPUS.is_dir() else []
pytestmark = pytest.mark.skipif(
    not FILES, reason=f"domain XML corpus not found at {CORPUS} (it lives outside the project)"
)

# Each device list property of Domain, and the <devices> child it lists.
DEVICE_LISTS = {
    "disks": "disk",
    "interfaces": "interface",
    "graphics": "graphics",
    "serials": "serial",
    "consoles": "console",
    "channels": "channel",
    "controllers": "controller",
    "rngs": "rng",
    "videos": "video",
    "inputs": "input",
    "filesystems": "filesystem",
}


def c14n(node: etree._Element) -> bytes:
    return etree.tostring(node, method="c14n")


def parse(text: str) -> etree._Element:
    return etree.fromstring(text.encode())


@pytest.fixture(params=FILES or ["<none>"])
def source(request: pytest.FixtureRequest) -> str:
    return (CORPUS / str(request.param)).read_text(encoding="utf-8")


def test_corpus_is_complete() -> None:
    assert len(FILES) == 200


def test_round_trip_loses_nothing(source: str) -> None:
    out = Domain.from_xml(source).to_xml()
    assert c14n(parse(out)) == c14n(parse(source))


def _read_all_fields(element: object) -> None:
    """Read every Field and property a model class declares (and its bases)."""
    for cls in type(element).__mro__:
        for name, attr in vars(cls).items():
            if isinstance(attr, Field | property):
                getattr(element, name)


def test_every_device_and_size_reads(source: str) -> None:
    dom = Domain.from_xml(source)
    for prop, tag in DEVICE_LISTS.items():
        devices = getattr(dom, prop)
        assert len(devices) == len(dom.node.findall(f"devices/{tag}"))
        for device in devices:
            assert device.node.tag == tag
            _read_all_fields(device)
    balloon = dom.memballoon
    assert (balloon is None) == (dom.node.find("devices/memballoon") is None)
    if balloon is not None:
        _read_all_fields(balloon)
    assert (dom.memory_kib is None) == (dom.node.find("memory") is None)
    assert dom.memory_kib is None or dom.memory_kib > 0
    assert dom.memory_current_kib is None or dom.memory_current_kib > 0
    assert dom.vcpus is None or dom.vcpus >= 1
    # Reading changed nothing.
    assert c14n(dom.node) == c14n(parse(source))


# What each edit may change: the element text and these attributes.
EDITED = {"memory": ("unit",), "vcpu": ("current",)}


def _blank(root: etree._Element, tag: str) -> None:
    """Empty the text and the edited attributes of ``root/tag``, leaving it in place."""
    node = root.find(tag)
    if node is not None:
        node.text = None
        for attr in EDITED[tag]:
            if attr in node.attrib:
                del node.attrib[attr]


def test_memory_and_vcpu_edits_change_only_their_elements(source: str) -> None:
    dom = Domain.from_xml(source)
    before = parse(source)
    old_memory, old_max = dom.memory_kib, dom.max_vcpus
    new_memory = (old_memory or 0) + 123 * 1024
    new_max = (old_max or 1) + 3
    new_current = new_max - 1

    dom.memory_kib = new_memory
    dom.max_vcpus = new_max
    dom.vcpus = new_current

    # The edit is what was asked for, and reads back.
    after = parse(dom.to_xml())
    reread = Domain.from_xml(dom.to_xml())
    assert (reread.memory_kib, reread.max_vcpus, reread.vcpus) == (new_memory, new_max, new_current)
    memory, vcpu = after.find("memory"), after.find("vcpu")
    assert memory is not None and vcpu is not None
    assert (memory.text, memory.get("unit")) == (str(new_memory), "KiB")
    assert (vcpu.text, vcpu.get("current")) == (str(new_max), str(new_current))
    assert len(after.findall("memory")) == len(after.findall("vcpu")) == 1

    # An element that was missing is new, and alone in being new.
    for tag, attrs in EDITED.items():
        if before.find(tag) is None:
            created = after.find(tag)
            assert created is not None and len(created) == 0
            assert set(created.attrib) <= set(attrs)
            assert _in_libvirt_order(after, created)
            after.remove(created)

    # Everything else is identical: blank the edited values on both sides.
    for tree in (before, after):
        for tag in EDITED:
            _blank(tree, tag)
    assert c14n(after) == c14n(before)


def _in_libvirt_order(root: etree._Element, node: etree._Element) -> bool:
    order = Domain.CHILD_ORDER
    rank = order.index(str(node.tag))
    siblings = [str(c.tag) for c in root if isinstance(c.tag, str) and c.tag in order]
    position = siblings.index(str(node.tag))
    return all(order.index(t) <= rank for t in siblings[:position]) and all(
        order.index(t) >= rank for t in siblings[position + 1 :]
    )
