"""Long operations on the real libvirtd: progress of a copy, and a create killed mid-copy.

The kill is real: ``virtdeck vm create --full-copy`` runs as its own
process and gets SIGKILL while qemu-img copies, so nothing of virtdeck's
own clean-up runs. The next command must find the orphaned operation, mark
it interrupted and remove the half-copied disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import libvirt
import pytest

from tests.integration.conftest import (
    APPLIANCE,
    IsolatedNet,
    appliance_request,
    made_file,
    running_copy,
    start_full_copy,
    virtdeck,
)
from tests.progress_hook import on_step
from virtdeck.engine import Engine
from virtdeck.engine.schemas import OperationInfo
from virtdeck.settings import Settings


def test_full_copy_reports_its_progress_and_is_recorded(
    engine: Engine,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[OperationInfo] = []
    on_step(engine, monkeypatch, seen.append)
    engine.create_vm(appliance_request(vm_name, test_net, full_copy=True, start=False))
    copying = [s.progress for s in seen if s.step == f"copying {APPLIANCE}"]
    assert copying[0] == 10 and copying[-1] == 80, copying
    assert copying == sorted(copying)
    assert [s.step for s in seen][-1] == "defining the VM"
    op = engine.list_operations(1)[0]
    assert (op.kind, op.target, op.state, op.pending) == ("create", vm_name, "succeeded", [])


def test_a_killed_create_is_interrupted_and_its_disk_removed(
    engine: Engine,
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    big_base: Path,
) -> None:
    create = start_full_copy(settings, vm_name, big_base, test_net)
    try:
        op = running_copy(engine, vm_name, timeout=60)
        disk = made_file(pool_dir, vm_name, "vda")
        assert op.pending == [f"file {disk}"] and disk.exists()
        create.kill()
    finally:
        create.kill()
        create.wait()

    listed = virtdeck(settings, "operation", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = next(o for o in json.loads(listed.stdout) if o["id"] == op.id)
    assert mine["state"] == "interrupted" and mine["pending"] == []
    assert f"removed {disk}" in mine["error"]
    assert not disk.exists()
    assert vm_name not in [d.name() for d in conn.listAllDomains(0)]

    shown = virtdeck(settings, "operation", "show", str(op.id))
    assert "interrupted" in shown.stdout and "its process ended" in shown.stdout
