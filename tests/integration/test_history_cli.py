"""History, restore, edit and busy VMs through the CLI, on the real libvirtd."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.integration.conftest import IsolatedNet, appliance_request, made_file, virtdeck
from virtdeck.engine import Engine
from virtdeck.settings import Settings


def _editor(tmp_path: Path, old: str, new: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\nsed -i "s|{old}|{new}|" "$1"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_edit_history_delete_restore(
    engine: Engine,
    settings: Settings,
    test_net: IsolatedNet,
    vm_name: str,
    pool_dir: Path,
    tmp_path: Path,
) -> None:
    engine_uuid = engine.create_vm(appliance_request(vm_name, test_net, start=False)).uuid
    editor = _editor(
        tmp_path, "<memory unit='KiB'>393216</memory>", "<memory unit='KiB'>458752</memory>"
    )
    edited = virtdeck(settings, "vm", "edit", vm_name, env_extra={"EDITOR": editor})
    assert edited.returncode == 0, edited.stderr
    assert "+  <memory unit='KiB'>458752</memory>" in edited.stdout
    assert engine.get_vm(vm_name).max_memory_kib == 458752

    bad = virtdeck(
        settings,
        "vm",
        "edit",
        vm_name,
        env_extra={
            "EDITOR": _editor(
                tmp_path, "<on_crash>destroy</on_crash>", "<on_crahs>destroy</on_crahs>"
            )
        },
    )
    assert bad.returncode == 4 and "schema" in bad.stderr and "Traceback" not in bad.stderr

    deleted = virtdeck(settings, "vm", "delete", vm_name, "--keep-disks")
    assert deleted.returncode == 0, deleted.stderr
    history = virtdeck(settings, "vm", "history", vm_name, "--no-diff")
    heading, *lines = history.stdout.splitlines()
    assert heading.startswith(f"uuid {engine_uuid}  deleted ")
    assert [line.split()[4] for line in lines] == ["create", "edit", "delete"]
    assert "(VM deleted)" in lines[-1]

    restored = virtdeck(settings, "vm", "restore", vm_name)
    assert restored.returncode == 0, restored.stderr
    assert f"VM {vm_name}: restored deleted VM from version 3" in restored.stdout
    assert f"disk present: {made_file(pool_dir, vm_name, 'vda')}" in restored.stdout
    assert engine.get_vm(vm_name).max_memory_kib == 458752


def test_busy_vm_gets_conflict(
    engine: Engine, settings: Settings, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    with engine.ctx.lock_vm(engine.defs.lookup(vm_name), "snapshot"):
        busy = virtdeck(settings, "vm", "start", vm_name)
    assert busy.returncode == 3
    assert f"VM {vm_name} is busy (snapshot by pid" in busy.stderr
    assert engine.get_vm(vm_name).state == "shut off"
