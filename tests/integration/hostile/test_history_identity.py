"""A name is not an identity, and Ctrl-C says what it cleaned up: on the real libvirtd.

Through the CLI, as a user would: a VM deleted and another created under its
name, a rename, an edit that drops ``<uuid>``, and ``vm create --full-copy``
stopped with SIGINT in the middle of its copy (test_operations.py kills one
the same way with SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import (
    IsolatedNet,
    appliance_request,
    fresh_vm_name,
    running_copy,
    start_full_copy,
    virtdeck,
)
from virtdeck.engine import Engine
from virtdeck.settings import Settings


@pytest.fixture
def other_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    yield from fresh_vm_name(engine, pool_dir)


def _uuid(conn: libvirt.virConnect, name: str) -> str:
    return str(conn.lookupByName(name).UUIDString())


def test_a_reused_name_keeps_every_vms_history_and_restore_picks_by_uuid(
    engine: Engine,
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    first = _uuid(conn, vm_name)
    assert virtdeck(settings, "vm", "set-cpus", vm_name, "2", "--config").returncode == 0
    assert virtdeck(settings, "vm", "delete", vm_name).returncode == 0
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    second = _uuid(conn, vm_name)

    shown = virtdeck(settings, "vm", "history", vm_name, "--no-diff")
    assert shown.returncode == 0, shown.stderr
    headings = [line for line in shown.stdout.splitlines() if line.startswith("uuid ")]
    assert len(headings) == 2
    assert headings[0].startswith(f"uuid {second}  exists now  named {vm_name} since ")
    assert headings[1].startswith(f"uuid {first}  deleted 20")
    versions = [line.split()[4] for line in shown.stdout.splitlines() if line.startswith("version")]
    assert versions == ["create", "create", "set-cpus", "delete"]

    listed = json.loads(virtdeck(settings, "vm", "history", vm_name, "--json").stdout)
    assert [(vm["uuid"], vm["current"], vm["exists"]) for vm in listed] == [
        (second, True, True),
        (first, False, False),
    ]
    assert [v["action"] for v in listed[1]["versions"]] == ["create", "set-cpus", "delete"]
    assert listed[1]["deleted_at"] == listed[1]["versions"][-1]["created_at"]

    ambiguous = virtdeck(settings, "vm", "history", vm_name, "--show", "1")
    assert ambiguous.returncode == 4 and "ambiguous" in ambiguous.stderr
    assert first in ambiguous.stderr and second in ambiguous.stderr
    old_xml = virtdeck(settings, "vm", "history", vm_name, "--show", "1", "--uuid", first[:8])
    assert old_xml.returncode == 0 and f"<uuid>{first}</uuid>" in old_xml.stdout

    # The name's current VM exists: the deleted one cannot take its name.
    taken = virtdeck(settings, "vm", "restore", vm_name, "--uuid", first)
    assert taken.returncode == 3
    assert f"VM {vm_name} (UUID {second}) has the name now" in taken.stderr
    assert _uuid(conn, vm_name) == second

    assert virtdeck(settings, "vm", "delete", vm_name).returncode == 0
    refused = virtdeck(settings, "vm", "restore", vm_name)
    assert refused.returncode == 4, refused.stderr
    assert f"{first} (deleted 20" in refused.stderr and f"{second} (deleted 20" in refused.stderr
    assert f"'virtdeck vm restore {vm_name} --uuid {second}'" in refused.stderr
    assert vm_name not in [d.name() for d in conn.listAllDomains(0)]

    restored = virtdeck(settings, "vm", "restore", vm_name, "--uuid", first[:8])
    assert restored.returncode == 0, restored.stderr
    assert f"VM {vm_name}: restored deleted VM from version 3" in restored.stdout
    assert f"uuid {first}" in restored.stdout
    assert _uuid(conn, vm_name) == first
    assert engine.get_vm(vm_name).max_vcpus == 3  # the appliance request's, kept


def test_a_renamed_vm_keeps_its_history_under_both_names(
    engine: Engine,
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    other_name: str,
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    uuid = _uuid(conn, vm_name)
    assert virtdeck(settings, "vm", "rename", vm_name, other_name).returncode == 0

    after = virtdeck(settings, "vm", "history", other_name, "--no-diff")
    assert after.returncode == 0, after.stderr
    lines = after.stdout.splitlines()
    assert lines[0].startswith(f"uuid {uuid}  exists now  named {other_name} since ")
    assert lines[1].endswith(f"create  (named {vm_name})")
    before = virtdeck(settings, "vm", "history", vm_name, "--no-diff")
    assert before.returncode == 0, before.stderr
    assert before.stdout.startswith(f"uuid {uuid}  exists now as {other_name}  named {vm_name} ")

    # Undo the rename's definition change: it keeps its name (and its UUID).
    undone = virtdeck(settings, "vm", "restore", other_name, "--version", "1")
    assert undone.returncode == 0, undone.stderr
    assert f"note: version 1 named it {vm_name}; it keeps its name {other_name}" in undone.stdout
    assert _uuid(conn, other_name) == uuid
    assert vm_name not in [d.name() for d in conn.listAllDomains(0)]


def _editor(tmp_path: Path, sed: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\nsed -i "{sed}" "$1"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_an_edit_that_drops_or_swaps_the_uuid_is_refused(
    engine: Engine,
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    other_name: str,
    tmp_path: Path,
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    engine.create_vm(appliance_request(other_name, test_net, start=False))
    dom = conn.lookupByName(vm_name)
    uuid, definition = dom.UUIDString(), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    dropped = virtdeck(
        settings, "vm", "edit", vm_name, env_extra={"EDITOR": _editor(tmp_path, "/<uuid>/d")}
    )
    assert dropped.returncode == 4, dropped.stderr
    assert "the edit removes <uuid>" in dropped.stderr and uuid in dropped.stderr
    assert len(dropped.stderr.strip().splitlines()) == 1 and "libvirt" not in dropped.stderr

    # A definition that names this VM but carries the other VM's UUID.
    swapped = tmp_path / "swapped.xml"
    swapped.write_text(definition.replace(uuid, _uuid(conn, other_name)))
    refused = virtdeck(settings, "vm", "edit", vm_name, "--file", str(swapped))
    assert refused.returncode == 4 and "the edit changes the UUID to" in refused.stderr

    assert conn.lookupByName(vm_name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == definition
    assert conn.lookupByName(vm_name).UUIDString() == uuid


@pytest.mark.parametrize("to", ["process", "process group"])
def test_ctrl_c_during_a_full_copy_says_it_removed_the_disk(
    engine: Engine,
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    big_base: Path,
    to: str,
) -> None:
    """SIGINT to virtdeck alone, and to its process group (qemu-img too), as a terminal does."""
    create = start_full_copy(settings, vm_name, big_base, test_net, start_new_session=True)
    try:
        op = running_copy(engine, vm_name, timeout=60)
        [pending] = op.pending
        disk = Path(pending.removeprefix("file "))
        assert pending.startswith("file ") and disk.parent == pool_dir and disk.exists()
        assert disk.name.startswith(vm_name) and disk.name.endswith("-vda.qcow2")
        if to == "process":
            create.send_signal(signal.SIGINT)
        else:
            os.killpg(create.pid, signal.SIGINT)
        _out, stderr = create.communicate(timeout=60)
    finally:
        if create.poll() is None:
            create.kill()
        create.wait()

    assert create.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1:] == [f"error: stopped with Ctrl-C; removed {disk}"]
    assert not disk.exists()
    assert vm_name not in [d.name() for d in conn.listAllDomains(0)]
    mine = next(o for o in engine.list_operations(5) if o.id == op.id)
    assert (mine.state, mine.pending) == ("interrupted", [])
    assert mine.error == f"stopped with Ctrl-C; removed {disk}"
