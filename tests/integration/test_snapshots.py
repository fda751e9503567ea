"""Snapshots of the running appliance; the guest itself shows what a revert brought back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import IsolatedNet, appliance_request, made_file
from tests.integration.guest import wait_ready
from virtdeck.engine import Engine
from virtdeck.errors import Conflict, Unsupported
from virtdeck.host.console import SerialConsole

# The shell echoes what is typed; "$(" keeps the echo from matching the answer.
ASK_MARK = "echo mark=$(cat /tmp/mark 2>/dev/null)=end\n"
MARK = r"mark=(\w*)=end"


def shell(engine: Engine, name: str, command: str, answer: str) -> str:
    with SerialConsole(engine.host, name) as console:
        console.send("\n")
        console.expect(r"appliance# ", timeout=60)
        console.send(command)
        return console.expect(answer, timeout=60).group(1)


def test_revert_brings_back_the_guest_memory(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=180)
    # The appliance's root filesystem is in RAM: only a memory snapshot keeps /tmp/mark.
    assert shell(engine, vm_name, "echo before > /tmp/mark; " + ASK_MARK, MARK) == "before"

    snap = engine.create_snapshot(vm_name, "marked", description="mark written")
    assert snap.kind == "memory" and snap.vm_state == "running" and snap.revertible
    with pytest.raises(Conflict, match="already has a snapshot named 'marked'"):
        engine.create_snapshot(vm_name, "marked")

    assert shell(engine, vm_name, "rm /tmp/mark; " + ASK_MARK, MARK) == ""

    result = engine.revert_snapshot(vm_name, "marked")
    assert result.state == "running"
    assert shell(engine, vm_name, ASK_MARK, MARK) == "before"
    assert [s.name for s in engine.list_snapshots(vm_name)] == ["marked"]

    # Internal snapshots live inside the qcow2 file: deleting the VM still works.
    disk = made_file(pool_dir, vm_name, "vda")
    assert engine.delete_vm(vm_name, force=True).removed_disks == [str(disk)]
    assert not disk.exists()


def test_disk_only_snapshot_is_an_overlay_that_cannot_be_reverted_here(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=180)
    disk = made_file(pool_dir, vm_name, "vda")

    snap = engine.create_snapshot(vm_name, "d1", disk_only=True)
    assert snap.kind == "disk-only" and snap.overlays == [str(disk.with_suffix(".d1"))]
    overlay = Path(snap.overlays[0])
    vm = engine.get_vm(vm_name)
    assert vm.disks[0].path == str(overlay) and vm.disks[0].created_by_virtdeck
    # The guest runs on, writing into the overlay.
    assert shell(engine, vm_name, "echo ok > /tmp/mark; " + ASK_MARK, MARK) == "ok"

    if not snap.revertible:
        with pytest.raises(Unsupported, match=r"disk-only .* cannot revert to those"):
            engine.revert_snapshot(vm_name, "d1")

    # Deleting it merges the overlay back into the disk and removes the file.
    assert engine.delete_snapshot(vm_name, "d1").removed_files == [str(overlay)]
    assert not overlay.exists()
    assert engine.get_vm(vm_name).disks[0].path == str(disk)
    assert shell(engine, vm_name, ASK_MARK, MARK) == "ok"

    # An overlay left in place goes with the VM.
    second = Path(engine.create_snapshot(vm_name, "d2", disk_only=True).overlays[0])
    removed = engine.delete_vm(vm_name, force=True).removed_disks
    assert sorted(removed) == sorted([str(disk), str(second)])
    assert not second.exists() and not disk.exists()
