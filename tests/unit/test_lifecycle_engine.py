"""Reboot, pause, resume, autostart, rename, clone and events on libvirt's test driver."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.errors_cli import cli_text
from tests.unit.test_snapshots_engine import domain_xml

from virtdeck.engine import Engine
from virtdeck.engine.services.clone import clonable_disks, clone_definition
from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound, Unsupported
from virtdeck.model import Domain


@pytest.fixture
def names(engine: Engine) -> Iterator[list[str]]:
    """Names this test may define; every VM still carrying one is removed afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        try:
            dom = engine.host.conn.lookupByName(name)
        except Exception:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(0x2)


@pytest.fixture
def vm(engine: Engine, names: list[str]) -> str:
    name = f"lcunit-{uuid.uuid4().hex[:6]}"
    names.append(name)
    engine.defs.redefine(domain_xml(name), "create").start()
    return name


def test_pause_and_resume(engine: Engine, vm: str) -> None:
    assert engine.pause_vm(vm).state == "paused"
    with pytest.raises(Conflict, match="already paused"):
        engine.pause_vm(vm)
    with pytest.raises(Conflict) as paused:
        engine.reboot_vm(vm)
    assert re.search(f"paused; resume it .*\\('virtdeck vm resume {vm}'\\)", cli_text(paused.value))
    assert paused.value.hint == Hint("vm.resume", vm=vm)
    assert engine.resume_vm(vm).state == "running"
    with pytest.raises(Conflict, match="not paused"):
        engine.resume_vm(vm)


def test_reboot_needs_a_running_vm(engine: Engine, vm: str) -> None:
    assert engine.reboot_vm(vm).state == "running"
    assert engine.reboot_vm(vm, force=True).state == "running"
    engine.stop_vm(vm, force=True)
    with pytest.raises(Conflict, match="not running"):
        engine.reboot_vm(vm)
    with pytest.raises(Conflict, match="only a running VM pauses"):
        engine.pause_vm(vm)


def test_autostart_on_and_off(engine: Engine, vm: str) -> None:
    assert engine.set_autostart(vm, True).autostart
    assert {v.name: v for v in engine.list_vms()}[vm].autostart
    assert not engine.set_autostart(vm, False).autostart


def test_rename_only_when_shut_off_and_history_follows(
    engine: Engine, vm: str, names: list[str]
) -> None:
    new = f"{vm}-renamed"
    names.append(new)
    with pytest.raises(Conflict, match="renames only VMs that are shut off"):
        engine.rename_vm(vm, new)
    engine.stop_vm(vm, force=True)
    with pytest.raises(InvalidInput, match="VM name 'bad name' is not allowed"):
        engine.rename_vm(vm, "bad name")
    renamed = engine.rename_vm(vm, new)
    assert renamed.name == new
    # The serial log follows the name, so a new VM with the old name gets its own.
    assert renamed.serial_log == f"/var/log/libvirt/qemu/{new}-serial0.log"
    xml = engine.vm_xml(new, inactive=True)
    assert f"{vm}-serial0.log" not in xml
    history = engine.vm_history(new)
    assert history[0].action == "create" and history[-1].action == "rename"
    with pytest.raises(NotFound):
        engine.get_vm(vm)


def test_rename_onto_existing_name_is_a_conflict(engine: Engine, vm: str, names: list[str]) -> None:
    other = f"{vm}-other"
    names.append(other)
    engine.defs.redefine(domain_xml(other), "create")
    engine.stop_vm(vm, force=True)
    with pytest.raises(Conflict, match="already exists"):
        engine.rename_vm(vm, other)


def test_clone_refuses_running_source_and_existing_target(engine: Engine, vm: str) -> None:
    with pytest.raises(Conflict, match="stop it or pause it"):
        engine.clone_vm(vm, f"{vm}-c")
    engine.pause_vm(vm)
    with pytest.raises(Conflict, match=r"linked clone.*stop .* first"):
        engine.clone_vm(vm, f"{vm}-c", linked=True)
    with pytest.raises(Conflict, match="already exists"):
        engine.clone_vm(vm, vm)
    with pytest.raises(InvalidInput, match="not allowed"):
        engine.clone_vm(vm, "x/y")


def test_clone_on_a_remote_or_test_host_says_so(engine: Engine, vm: str) -> None:
    engine.stop_vm(vm, force=True)
    with pytest.raises(Unsupported, match="only on the local host"):
        engine.clone_vm(vm, f"{vm}-c")
    assert f"{vm}-c" not in {v.name for v in engine.list_vms()}


def test_clone_definition_is_a_new_vm(engine: Engine, names: list[str]) -> None:
    source = domain_xml("src-vm")
    source = source.replace(
        "<name>src-vm</name>",
        "<name>src-vm</name><uuid>"
        + str(uuid.uuid4())
        + "</uuid><genid>"
        + str(uuid.uuid4())
        + "</genid>",
    )
    new = f"lcclone-{uuid.uuid4().hex[:6]}"
    log_dir = Path("/var/log/libvirt/qemu")
    model = clone_definition(source, new, {"vda": f"/pool/{new}-vda.qcow2"}, log_dir)
    original = Domain.from_xml(source)
    assert model.name == new and model.uuid != original.uuid
    assert model.node.find("genid") is None
    assert [d.path for d in model.disks] == [
        f"/pool/{new}-vda.qcow2",
        "/var/lib/libvirt/images/seed.iso",  # the read-only CD-ROM is shared
    ]
    assert model.interfaces[0].mac is None
    logs = model.xpath("./devices/*/log/@file")
    assert logs == [f"{log_dir}/{new}-serial0.log"] * 2
    # libvirt accepts it and gives the NIC a MAC of its own.
    names.append(new)
    dom = engine.defs.redefine(model.to_xml(), "clone")
    defined = Domain.from_xml(dom.xml())
    mac = defined.interfaces[0].mac
    assert mac is not None and mac != "52:54:00:aa:bb:cc"


def test_clonable_disks_skip_shared_and_refuse_block_devices() -> None:
    model = Domain.from_xml(domain_xml("x"))
    assert clonable_disks(model) == [("vda", "/var/lib/libvirt/images/x-vda.qcow2")]
    block = (
        domain_xml("x")
        .replace("<disk type='file' device='disk'>", "<disk type='block' device='disk'>")
        .replace("<source file='/var/lib/libvirt/images/x-vda.qcow2'/>", "<source dev='/dev/sdz'/>")
    )
    with pytest.raises(Unsupported, match="disk vda of x is not a file"):
        clonable_disks(Domain.from_xml(block))


def test_events_of_one_vm(engine: Engine, vm: str) -> None:
    with engine.events(vm, timeout=5) as feed:
        engine.pause_vm(vm)
        engine.resume_vm(vm)
        engine.stop_vm(vm, force=True)
        seen = []
        for event in feed:
            assert event.vm == vm
            seen.append((event.event, event.detail))
            if event.event == "stopped":
                break
    assert seen == [("paused", "paused"), ("resumed", "unpaused"), ("stopped", "destroyed")]


def test_events_timeout_ends_the_stream(engine: Engine, vm: str) -> None:
    with engine.events(vm, timeout=0.3) as feed:
        assert list(feed) == []
    with pytest.raises(InvalidInput) as too_short:
        engine.events(vm, timeout=0)
    assert "--timeout" in cli_text(too_short.value)
    assert too_short.value.field == "timeout"
    with pytest.raises(NotFound, match="no VM named"):
        engine.events("no-such-vm-at-all")
