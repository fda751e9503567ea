"""Snapshots through the engine, against libvirt's test driver."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from tests.errors_cli import cli_text

from virtdeck.engine import Engine
from virtdeck.engine.services.snapshots import default_snapshot_name
from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Unsupported
from virtdeck.host import snapshots as host_snapshots

TEST_URI = "test:///default"


def domain_xml(name: str, disk_format: str = "qcow2") -> str:
    log = f"/var/log/libvirt/qemu/{name}-serial0.log"
    return f"""<domain type='test'>
  <name>{name}</name>
  <memory unit='KiB'>131072</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{disk_format}'/>
      <source file='/var/lib/libvirt/images/{name}-vda.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/seed.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='default'/>
    </interface>
    <serial type='pty'><log file='{log}'/><target port='0'/></serial>
    <console type='pty'><log file='{log}'/><target type='serial' port='0'/></console>
  </devices>
</domain>"""


@pytest.fixture
def vm(engine: Engine) -> Iterator[str]:
    """A running VM of this test's own on the (process-wide) test driver."""
    name = f"snapunit-{uuid.uuid4().hex[:6]}"
    dom = engine.defs.redefine(domain_xml(name), "create")
    dom.start()
    yield name
    dom.undefine()  # powers it off first; drops managed save and snapshot metadata


def test_running_vm_snapshot_has_memory_and_default_name(engine: Engine, vm: str) -> None:
    snap = engine.create_snapshot(vm, description="before <upgrade> & co")
    assert snap.kind == "memory" and snap.vm_state == "running"
    assert snap.revertible and snap.current
    assert snap.description == "before <upgrade> & co"
    # The default name is the time it was taken, to the second.
    assert len(snap.name) == len(default_snapshot_name()) and snap.name[8] == "-"
    assert [s.name for s in engine.list_snapshots(vm)] == [snap.name]


def test_shut_off_vm_snapshot_is_disks_only(engine: Engine, vm: str) -> None:
    engine.stop_vm(vm, force=True)
    snap = engine.create_snapshot(vm, "cold")
    assert snap.kind == "disk" and snap.vm_state == "shutoff" and snap.revertible


def test_list_is_oldest_first_with_parents(engine: Engine, vm: str) -> None:
    engine.create_snapshot(vm, "one")
    engine.create_snapshot(vm, "two")
    snaps = engine.list_snapshots(vm)
    assert [(s.name, s.parent, s.current) for s in snaps] == [
        ("one", None, False),
        ("two", "one", True),
    ]


def test_duplicate_name_is_a_conflict(engine: Engine, vm: str) -> None:
    engine.create_snapshot(vm, "same")
    with pytest.raises(Conflict) as taken:
        engine.create_snapshot(vm, "same")
    assert re.search(
        f"already has a snapshot named 'same'.*delete {vm} same", cli_text(taken.value)
    )
    assert taken.value.hint == Hint("vm.snapshot.delete", vm=vm, args={"snapshot": "same"})


@pytest.mark.parametrize("bad", ["a b", "../x", "x<y", "-lead", "a" * 65])
def test_bad_snapshot_names_are_refused(engine: Engine, vm: str, bad: str) -> None:
    with pytest.raises(InvalidInput, match="snapshot name"):
        engine.create_snapshot(vm, bad)
    assert engine.list_snapshots(vm) == []


def test_unknown_snapshot_suggests_existing(engine: Engine, vm: str) -> None:
    with pytest.raises(NotFound) as none_yet:
        engine.revert_snapshot(vm, "nope")
    assert re.search(
        r"has no snapshots; .*\('virtdeck vm snapshot create", cli_text(none_yet.value)
    )
    assert none_yet.value.hint == Hint("vm.snapshot.create", vm=vm)
    assert none_yet.value.field == "snapshot"
    engine.create_snapshot(vm, "before-upgrade")
    engine.create_snapshot(vm, "other")
    with pytest.raises(NotFound, match="did you mean before-upgrade"):
        engine.revert_snapshot(vm, "before-upgrad")
    with pytest.raises(NotFound, match="it has before-upgrade, other"):
        engine.delete_snapshot(vm, "zzz")


def test_unknown_vm_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no VM named"):
        engine.list_snapshots("no-such-vm-here")


def test_revert_restores_state_and_definition_and_keeps_history(engine: Engine, vm: str) -> None:
    engine.create_snapshot(vm, "running-point")
    engine.stop_vm(vm, force=True)
    _dom, model = engine.defs.model(vm)
    model.memory_kib = 262144
    engine.defs.redefine(model.to_xml(), "edit")
    assert engine.get_vm(vm).max_memory_kib == 262144
    result = engine.revert_snapshot(vm, "running-point")
    assert result.state == "running"
    vm_now = engine.get_vm(vm)
    # The snapshot's own definition came back with it; the edit stays in the history.
    assert vm_now.state == "running" and vm_now.max_memory_kib == 131072
    actions = [h.action for h in engine.vm_history(vm)]
    assert actions[:2] == ["create", "edit"] and "snapshot-revert" in actions


def test_delete_removes_only_that_snapshot(engine: Engine, vm: str) -> None:
    engine.create_snapshot(vm, "keep")
    engine.create_snapshot(vm, "drop")
    result = engine.delete_snapshot(vm, "drop")
    assert result.removed_files == []
    assert [s.name for s in engine.list_snapshots(vm)] == ["keep"]
    assert engine.get_vm(vm).state == "running"


def test_non_qcow2_disk_needs_disk_only(engine: Engine) -> None:
    name = f"snapraw-{uuid.uuid4().hex[:6]}"
    dom = engine.defs.redefine(domain_xml(name, disk_format="raw"), "create")
    try:
        with pytest.raises(Unsupported) as raw:
            engine.create_snapshot(name, "x")
        assert re.search(r"not qcow2 \(vda\).*--disk-only", cli_text(raw.value))
        assert raw.value.field == "disk_only"
    finally:
        dom.undefine()


def test_parse_external_snapshot_xml() -> None:
    xml = """<domainsnapshot><name>d1</name><state>disk-snapshot</state>
      <parent><name>s1</name></parent><creationTime>1700000000</creationTime>
      <memory snapshot='no'/>
      <disks><disk name='vda' snapshot='external' type='file'>
        <driver type='qcow2'/><source file='/p/vm-vda.d1'/></disk>
        <disk name='sda' snapshot='no'/></disks></domainsnapshot>"""
    facts = host_snapshots.parse(xml, current=True)
    assert facts.external and not facts.memory
    assert facts.overlays == ["/p/vm-vda.d1"]
    assert facts.parent == "s1" and facts.created == 1700000000 and facts.current


def test_external_revert_capability_is_by_version(engine: Engine) -> None:
    # The test driver reports libvirt's own version: the answer must match it.
    version = engine.host.conn.getLibVersion()
    assert host_snapshots.supports_external_revert(engine.host) == (version >= 9_007_000)
