"""History, restore and edit, on libvirt's test driver (one in-process engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.errors_cli import cli_text
from tests.lock_holder import held_elsewhere

from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.errors import Conflict, Hint, InvalidInput, NotFound


def _create(engine: Engine, disk: Path, name: str = "h1") -> None:
    engine.create_vm(VmCreate(name=name, import_disk=str(disk), networks=[], graphics="none"))


def _set_memory_outside(engine: Engine, name: str, old: str, new: str) -> None:
    """A change made behind virtdeck's back, as 'virsh edit' would."""
    dom = engine.defs.lookup(name)
    xml = engine.defs.inactive_xml(dom)
    assert old in xml
    engine.host.conn.defineXML(xml.replace(old, new))


def test_every_change_is_kept_and_shown_as_a_diff(engine: Engine, disk: Path) -> None:
    _create(engine, disk)
    _set_memory_outside(engine, "h1", "<memory unit='KiB'>524288", "<memory unit='KiB'>786432")
    engine.get_vm("h1")  # virtdeck sees the VM again and records the outside change
    session = engine.edit_begin("h1")
    edited = session.xml.replace(
        "<currentMemory unit='KiB'>524288", "<currentMemory unit='KiB'>262144"
    )
    result = engine.edit_apply(session, edited)
    assert result.changed and "+  <currentMemory unit='KiB'>262144</currentMemory>" in result.diff

    history = engine.vm_history("h1")
    assert [h.action for h in history] == ["create", "external", "edit"]
    assert history[0].diff == ""
    assert "-  <memory unit='KiB'>524288</memory>" in history[1].diff
    assert "+  <memory unit='KiB'>786432</memory>" in history[1].diff
    assert "786432" in engine.vm_history_xml("h1", 2)


def test_restore_undoes_the_last_change(engine: Engine, disk: Path) -> None:
    _create(engine, disk)
    session = engine.edit_begin("h1")
    engine.edit_apply(
        session, session.xml.replace("<vcpu placement='static'>1", "<vcpu placement='static'>2")
    )
    assert engine.get_vm("h1").max_vcpus == 2
    result = engine.vm_restore("h1")
    assert result.version == 1 and not result.was_deleted
    assert engine.get_vm("h1").max_vcpus == 1
    assert [h.action for h in engine.vm_history("h1")][-1] == "restore-v1"


def test_deleted_vm_comes_back_with_its_disks_reported(engine: Engine, disk: Path) -> None:
    _create(engine, disk)
    uuid = engine.get_vm("h1").uuid
    engine.delete_vm("h1")
    with pytest.raises(NotFound):
        engine.get_vm("h1")
    assert engine.vm_history("h1")[-1].deleted
    result = engine.vm_restore("h1")
    assert result.was_deleted and result.disks_present == [str(disk)]
    assert engine.get_vm("h1").uuid == uuid

    engine.delete_vm("h1")
    disk.unlink()
    result = engine.vm_restore("h1")
    assert result.disks_missing == [str(disk)] and result.disks_present == []


def test_restore_refuses_unknown_versions_and_names(engine: Engine, disk: Path) -> None:
    with pytest.raises(NotFound, match="no history"):
        engine.vm_restore("never-seen")
    _create(engine, disk)
    with pytest.raises(InvalidInput, match="only one version"):
        engine.vm_restore("h1")
    with pytest.raises(InvalidInput, match="no version 9; versions are 1"):
        engine.vm_restore("h1", version=9)


def test_history_of_a_name_follows_its_newest_vm(engine: Engine, disk: Path) -> None:
    _create(engine, disk)
    engine.delete_vm("h1")
    _create(engine, disk)  # a new VM, a new UUID, the same name
    engine.delete_vm("h1")
    _create(engine, disk)
    # Three VMs have had the name; the history shown is the live one's own.
    assert [h.action for h in engine.vm_history("h1")] == ["create"]


def test_edit_refusals(engine: Engine, disk: Path) -> None:
    _create(engine, disk)
    session = engine.edit_begin("h1")
    with pytest.raises(InvalidInput, match="not valid"):
        engine.edit_apply(session, "<domain><name>h1</name")
    with pytest.raises(InvalidInput) as renamed:
        engine.edit_apply(session, session.xml.replace("<name>h1</name>", "<name>h2</name>"))
    assert "vm rename" in cli_text(renamed.value)
    assert renamed.value.hint == Hint("vm.rename", vm="h1", args={"new_name": "NEW"})
    with pytest.raises(InvalidInput, match="UUID"):
        uuid = engine.get_vm("h1").uuid
        engine.edit_apply(session, session.xml.replace(uuid, "0" * 8 + uuid[8:]))
    with pytest.raises(InvalidInput, match="schema"):
        engine.edit_apply(
            session,
            session.xml.replace("<on_crash>", "<on_crahs>").replace("</on_crash>", "</on_crahs>"),
        )
    assert not engine.edit_apply(session, session.xml).changed
    # Someone changes the VM while the editor is open: the edit is refused.
    _set_memory_outside(engine, "h1", "<memory unit='KiB'>524288", "<memory unit='KiB'>786432")
    with pytest.raises(Conflict, match="changed by someone else"):
        engine.edit_apply(session, session.xml.replace("destroy</on_crash>", "restart</on_crash>"))


def test_second_operation_on_a_busy_vm_is_a_conflict(engine: Engine, disk: Path) -> None:
    _create(engine, disk)
    with (
        held_elsewhere(engine, "h1", "snapshot"),
        pytest.raises(Conflict, match="busy \\(snapshot by pid"),
    ):
        engine.delete_vm("h1")
    engine.delete_vm("h1")
