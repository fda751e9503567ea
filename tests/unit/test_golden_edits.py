"""Golden edits: a definition, one change through the engine, the definition libvirt keeps.

Each case is a directory under ``golden/edits/``: ``input.xml`` (written by
hand, in the style of what virt-install and virt-manager define) and
``expected.xml`` (the golden file, see ``tests/golden_files.py``). The input
goes to libvirt's test driver, the engine makes one change with config
scope, and the persistent definition libvirt keeps afterwards must match
``expected.xml``. Two more checks keep a golden file honest: the edit must
change the elements it names and nothing outside them (so a reviewer never
has to spot a stray change by eye), and ``expected.xml`` itself must be a
definition libvirt defines, starts, stops and undefines.

The test driver's state is shared by every test of the process, so each VM
gets a unique name, written in the files as ``@NAME@`` (``@NEW_NAME@`` for
the name a rename or clone gives; ``@IMAGES@`` for the test's temporary
directory), and is undefined at the end, also when the test fails.

The test driver gives each NIC of a definition a ``<target dev='testnetN'/>``
(QEMU's driver keeps none in a persistent one); the golden files show it,
as the definition the test driver keeps has it.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest
from lxml import etree
from tests.golden_files import normalise_xml

from virtdeck.engine import Engine
from virtdeck.engine.schemas import DiskAdd, NicAdd
from virtdeck.engine.services.clone import clone_definition

EDITS_DIR = Path(__file__).resolve().parent / "golden" / "edits"
MiB = 2**20
ADDED_MAC = "52:54:00:12:34:56"
CLONE_UUID = "0d7c4a52-93e1-4f0b-8a6d-2c5e9b1f7a34"
CLONE_LOG_DIR = Path("/var/log/libvirt/qemu")
# So a VM with snapshot metadata or a saved state goes too (the test driver refuses the NVRAM flag).
UNDEFINE_ALL = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
)


@dataclass(frozen=True)
class EditedVm:
    """The run-specific values one case's files stand for."""

    name: str
    new_name: str
    work_dir: Path

    def placeholders(self) -> dict[str, str]:
        return {self.name: "@NAME@", self.new_name: "@NEW_NAME@", str(self.work_dir): "@IMAGES@"}

    def fill(self, text: str) -> str:
        """A file's text with its placeholders replaced by this run's values."""
        for actual, placeholder in self.placeholders().items():
            text = text.replace(placeholder, actual)
        return text

    def generalise(self, xml: str) -> str:
        """This run's values back to placeholders, longest first so none eats another."""
        for actual, placeholder in sorted(self.placeholders().items(), key=lambda p: -len(p[0])):
            xml = xml.replace(actual, placeholder)
        return normalise_xml(xml)


@dataclass(frozen=True)
class Edit:
    """One change through the engine's public interface, and where it may show."""

    apply: Callable[[Engine, EditedVm], str]  # returns the VM's name afterwards
    changes: str  # XPath of every node the edit may change; all else must stay


def qcow2_image(path: Path) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    return path


def set_memory(engine: Engine, vm: EditedVm) -> str:
    engine.set_memory(vm.name, 1536 * MiB, config=True)
    return vm.name


def set_max_memory(engine: Engine, vm: EditedVm) -> str:
    # Below the memory at boot, which must follow it down.
    engine.set_max_memory(vm.name, 768 * MiB)
    return vm.name


def set_cpus(engine: Engine, vm: EditedVm) -> str:
    engine.set_cpus(vm.name, 3, config=True)
    return vm.name


def set_max_cpus(engine: Engine, vm: EditedVm) -> str:
    engine.set_max_cpus(vm.name, 8)
    return vm.name


def add_disk(engine: Engine, vm: EditedVm) -> str:
    image = qcow2_image(vm.work_dir / "data.qcow2")
    engine.add_disk(DiskAdd(name=vm.name, path=str(image), config=True))
    return vm.name


def remove_disk(engine: Engine, vm: EditedVm) -> str:
    engine.remove_disk(vm.name, "vdb", config=True, keep_file=True)
    return vm.name


def add_nic(engine: Engine, vm: EditedVm) -> str:
    engine.add_nic(NicAdd(name=vm.name, network="default", mac=ADDED_MAC, config=True))
    return vm.name


def remove_nic(engine: Engine, vm: EditedVm) -> str:
    engine.remove_nic(vm.name, "52:54:00:3c:91:0f", config=True)
    return vm.name


def rename(engine: Engine, vm: EditedVm) -> str:
    engine.rename_vm(vm.name, vm.new_name)
    return vm.new_name


SERIAL_LOGS = "./devices/serial/log/@file | ./devices/console/log/@file"
EDITS = {
    "set-memory": Edit(set_memory, "./currentMemory"),
    "set-max-memory": Edit(set_max_memory, "./memory | ./currentMemory"),
    "set-cpus": Edit(set_cpus, "./vcpu"),
    "set-max-cpus": Edit(set_max_cpus, "./vcpu"),
    "add-disk": Edit(add_disk, "./devices/disk[target/@dev='vdb']"),
    "remove-disk": Edit(remove_disk, "./devices/disk[target/@dev='vdb']"),
    "add-nic": Edit(add_nic, f"./devices/interface[mac/@address='{ADDED_MAC}']"),
    "remove-nic": Edit(remove_nic, "./devices/interface[mac/@address='52:54:00:3c:91:0f']"),
    "rename": Edit(rename, f"./name | {SERIAL_LOGS}"),
}
# What clone_definition may change: identity, per-VM state libvirt makes anew,
# the disks it is given, the logs and sockets named after the VM.
CLONE_CHANGES = (
    "./name | ./uuid | ./genid | ./os/nvram | ./devices/interface/mac"
    " | ./devices/interface/target | ./devices/disk[@device='disk']/source/@file"
    f" | {SERIAL_LOGS} | ./devices/channel[@type='unix']/source"
)


@pytest.fixture
def uuids(engine: Engine) -> Iterator[list[str]]:
    """UUIDs of the VMs a test defines; each still defined is removed afterwards.

    By UUID, not by name, so a VM a rename or a failed step left under
    another name goes too.
    """
    made: list[str] = []
    yield made
    for defined in made:
        try:
            dom = engine.host.conn.lookupByUUIDString(defined)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(UNDEFINE_ALL)


@pytest.fixture
def edited_vm(tmp_path: Path) -> EditedVm:
    return EditedVm(
        name=f"golden-{uuid.uuid4().hex[:8]}",
        new_name=f"golden-{uuid.uuid4().hex[:8]}",
        work_dir=tmp_path,
    )


def define_input(engine: Engine, case: str, vm: EditedVm, uuids: list[str]) -> str:
    """Define the case's input as ``vm.name``; libvirt's form of it, generalised."""
    xml = vm.fill((EDITS_DIR / case / "input.xml").read_text(encoding="utf-8"))
    uuids.append(uuid_of(xml))
    handle = engine.defs.redefine(xml, "create")
    return vm.generalise(engine.defs.inactive_xml(handle))


def uuid_of(xml: str) -> str:
    found = etree.fromstring(xml.encode()).findtext("uuid")
    assert found, "every input has a fixed <uuid>, so libvirt's answer is reproducible"
    return found


def selected(root: etree._Element, path: str) -> list[Any]:
    found = root.xpath(path)
    assert isinstance(found, list), f"{path} selects a value, not nodes"
    return list(found)


def nodes_text(xml: str, path: str) -> list[str]:
    """What ``path`` selects in ``xml``: elements serialised, attributes by value."""
    found = selected(etree.fromstring(xml.encode()), path)
    return [
        etree.tostring(node, encoding="unicode") if isinstance(node, etree._Element) else str(node)
        for node in found
    ]


def without(xml: str, path: str) -> str:
    """``xml`` with every element and attribute ``path`` selects taken out."""
    root = etree.fromstring(xml.encode())
    for node in selected(root, path):
        if isinstance(node, etree._Element):
            parent = node.getparent()
            assert parent is not None, f"{path} selects the root element"
            parent.remove(node)
        else:
            assert node.is_attribute, f"{path} selects text; select its element instead"
            del node.getparent().attrib[node.attrname]
    return normalise_xml(etree.tostring(root, encoding="unicode"))


def assert_changes_only(before: str, after: str, changes: str) -> None:
    """The edit changed what ``changes`` selects, and nothing outside it."""
    assert nodes_text(before, changes) != nodes_text(after, changes), (
        f"the edit left {changes} as it was"
    )
    assert without(before, changes) == without(after, changes), (
        f"the edit changed more than {changes}"
    )


def assert_libvirt_takes(engine: Engine, case: str, vm: EditedVm, uuids: list[str]) -> None:
    """``expected.xml``, as a VM of its own, defines, starts, stops and undefines."""
    fresh = EditedVm(
        name=f"golden-{uuid.uuid4().hex[:8]}",
        new_name=f"golden-{uuid.uuid4().hex[:8]}",
        work_dir=vm.work_dir,
    )
    root = etree.fromstring(fresh.fill((EDITS_DIR / case / "expected.xml").read_text()).encode())
    uuid_node = root.find("uuid")
    assert uuid_node is not None
    uuid_node.text = str(uuid.uuid4())
    uuids.append(uuid_node.text)
    conn = engine.host.conn
    dom = conn.defineXML(etree.tostring(root, encoding="unicode"))
    dom.create()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    dom.destroy()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    dom.undefineFlags(UNDEFINE_ALL)
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByUUIDString(uuid_node.text)


@pytest.mark.parametrize("case", sorted(EDITS))
def test_edit_matches_its_golden_file_and_libvirt_takes_it(
    case: str,
    engine: Engine,
    edited_vm: EditedVm,
    uuids: list[str],
    golden: Callable[[str, str], None],
) -> None:
    edit = EDITS[case]
    before = define_input(engine, case, edited_vm, uuids)
    after_name = edit.apply(engine, edited_vm)
    after = edited_vm.generalise(engine.defs.inactive_xml(engine.defs.lookup(after_name)))
    assert_changes_only(before, after, edit.changes)
    golden(f"edits/{case}/expected", after)
    assert_libvirt_takes(engine, case, edited_vm, uuids)


def test_clone_definition_matches_its_golden_file_and_libvirt_takes_it(
    engine: Engine, edited_vm: EditedVm, uuids: list[str], golden: Callable[[str, str], None]
) -> None:
    """The clone's definition, as clone_vm builds it (the copy of the disks needs a local host)."""
    source = define_input(engine, "clone", edited_vm, uuids)
    source_xml = engine.defs.inactive_xml(engine.defs.lookup(edited_vm.name))
    pool = Path("/var/lib/libvirt/images")
    new = edited_vm.new_name
    new_disks = {"vda": str(pool / f"{new}-vda.qcow2"), "vdb": str(pool / f"{new}-vdb.qcow2")}
    clone = clone_definition(source_xml, new, new_disks, CLONE_LOG_DIR, CLONE_UUID)
    after = edited_vm.generalise(clone.to_xml())
    assert_changes_only(source, after, CLONE_CHANGES)
    golden("edits/clone/expected", after)

    uuids.append(CLONE_UUID)
    defined = engine.defs.redefine(clone.to_xml(), "clone")
    kept = engine.defs.inactive_xml(defined)
    source_macs = set(nodes_text(source_xml, "./devices/interface/mac/@address"))
    clone_macs = nodes_text(kept, "./devices/interface/mac/@address")
    assert len(clone_macs) == len(source_macs), "libvirt gives each NIC of the clone a MAC"
    assert not source_macs & set(clone_macs), "and never the source's"
    assert_libvirt_takes(engine, "clone", edited_vm, uuids)
