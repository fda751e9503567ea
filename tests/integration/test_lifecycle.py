"""Reboot, pause/resume, clone, rename and events with the real appliance; the guest confirms."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import virtdeck_command
from tests.integration.conftest import (
    SERIAL_LOG_DIR,
    IsolatedNet,
    appliance_request,
    env_for_cli,
    fresh_vm_name,
    made_file,
)
from tests.integration.guest import parse, wait_ready
from virtdeck.engine import Engine
from virtdeck.errors import Conflict, Timeout
from virtdeck.host.console import SerialConsole
from virtdeck.settings import Settings

BOOT = 180.0


@pytest.fixture
def other_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    """A second VM name (clone, rename target), removed afterwards like vm_name."""
    yield from fresh_vm_name(engine, pool_dir)


def ready_lines(engine: Engine, name: str, count: int) -> int:
    """Follow the serial log until ``count`` ready lines (one per boot) were printed."""
    seen = 0
    for line in engine.follow_log(name, timeout=BOOT):
        status = parse(line)
        if status is not None and status.word == "ready":
            seen += 1
            if seen == count:
                return seen
    return seen


def guest_says(engine: Engine, name: str, command: str, answer: str) -> str:
    with SerialConsole(engine.host, name) as console:
        console.send("\n")
        console.expect(r"appliance# ", timeout=60)
        console.send(command + "\n")
        return console.expect(answer, timeout=60).group(1)


BOOT_ID = "cat /proc/sys/kernel/random/boot_id | sed 's/^/boot=/'"


def test_reboot_boots_the_guest_again(engine: Engine, test_net: IsolatedNet, vm_name: str) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=BOOT)
    first = guest_says(engine, vm_name, BOOT_ID, r"boot=([0-9a-f-]{36})")
    # A clean ACPI shutdown (the guest handles its power button), then a start.
    # With libvirt's lock manager on, libvirt's own ACPI reboot left it shut off.
    events = engine.events(vm_name, timeout=BOOT)
    assert engine.reboot_vm(vm_name, timeout=BOOT).state == "running"
    seen: list[str] = []
    with events:
        for event in events:  # queued while the reboot ran
            seen.append(event.event)
            if event.event == "started":
                break
    assert "stopped" in seen and seen[-1] == "started", seen
    # The new QEMU's log starts empty: this ready line is the new boot's.
    assert ready_lines(engine, vm_name, 1) == 1
    second = guest_says(engine, vm_name, BOOT_ID, r"boot=([0-9a-f-]{36})")
    assert second != first
    # --force: a reset in the same QEMU (its log goes on), no power button involved.
    engine.reboot_vm(vm_name, force=True)
    assert ready_lines(engine, vm_name, 2) == 2
    assert "virtdeck-appliance power-button" not in engine.read_log(vm_name)


def test_pause_freezes_the_guest_and_resume_continues(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=BOOT)
    assert engine.pause_vm(vm_name).state == "paused"
    assert engine.get_vm(vm_name).state == "paused"
    with SerialConsole(engine.host, vm_name) as console:
        console.send("echo sum=$((20+22))\n")
        # A paused guest runs no code, so nothing answers what was typed.
        with pytest.raises(Timeout):
            console.expect(r"sum=42", timeout=3)
        assert engine.resume_vm(vm_name).state == "running"
        assert console.expect(r"sum=(\d+)", timeout=60).group(1) == "42"


def test_full_clone_of_paused_vm_boots_with_its_own_disk_and_mac(
    engine: Engine, test_net: IsolatedNet, vm_name: str, other_name: str, pool_dir: Path
) -> None:
    source = engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=BOOT)
    with pytest.raises(Conflict, match="stop it or pause it"):
        engine.clone_vm(vm_name, other_name)
    engine.pause_vm(vm_name)
    clone = engine.clone_vm(vm_name, other_name)
    engine.resume_vm(vm_name)

    disk = made_file(pool_dir, other_name, "vda")
    assert clone.state == "shut off" and clone.uuid != source.uuid
    assert [(d.path, d.created_by_virtdeck) for d in clone.disks] == [(str(disk), True)]
    assert "backing-filename" not in qemu_img_info(disk)
    assert clone.serial_log == str(SERIAL_LOG_DIR / f"{other_name}-serial0.log")
    mac = clone.nics[0].mac
    assert mac is not None and mac != source.nics[0].mac

    engine.start_vm(other_name)
    wait_ready(engine, other_name, timeout=BOOT)
    assert (
        guest_says(
            engine,
            other_name,
            "echo mac=$(cat /sys/class/net/eth0/address)",
            r"mac=([0-9a-f:]{17})",
        )
        == mac
    )
    # The source runs on, untouched, in its own log.
    assert guest_says(engine, vm_name, "echo up=$((1+1))", r"up=(\d)") == "2"
    # Deleting the clone removes its disk only.
    assert engine.delete_vm(other_name, force=True).removed_disks == [str(disk)]
    assert Path(str(source.disks[0].path)).is_file()


def qemu_img_info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info: dict[str, object] = json.loads(out)
    return info


def test_linked_clone_is_an_overlay_on_the_source_disk(
    engine: Engine, test_net: IsolatedNet, vm_name: str, other_name: str, pool_dir: Path
) -> None:
    source = engine.create_vm(appliance_request(vm_name, test_net, start=False))
    clone = engine.clone_vm(vm_name, other_name, linked=True)
    disk = made_file(pool_dir, other_name, "vda")
    assert clone.disks[0].path == str(disk)
    assert qemu_img_info(disk)["backing-filename"] == source.disks[0].path
    engine.start_vm(other_name)
    ready = wait_ready(engine, other_name, timeout=BOOT)
    assert ready.disks == ["vda"]


def test_rename_keeps_history_and_the_vm_boots(
    engine: Engine, test_net: IsolatedNet, vm_name: str, other_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    renamed = engine.rename_vm(vm_name, other_name)
    assert renamed.name == other_name
    assert renamed.serial_log == str(SERIAL_LOG_DIR / f"{other_name}-serial0.log")
    actions = [h.action for h in engine.vm_history(other_name)]
    assert actions[0] == "create" and actions[-1] == "rename"
    engine.start_vm(other_name)
    wait_ready(engine, other_name, timeout=BOOT)
    with pytest.raises(Conflict, match="renames only VMs that are shut off"):
        engine.rename_vm(other_name, vm_name)


def test_events_shows_start_and_stop(
    settings: Settings, engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    watcher = subprocess.Popen(
        virtdeck_command("vm", "events", vm_name, "--timeout", "300"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for_cli(settings),
    )
    try:
        assert watcher.stderr is not None and watcher.stdout is not None
        assert "watching lifecycle events" in watcher.stderr.readline()
        engine.start_vm(vm_name)
        wait_ready(engine, vm_name, timeout=BOOT)
        engine.stop_vm(vm_name, force=True)
        seen = []
        for line in watcher.stdout:
            seen.append(line.split()[3:])
            if seen[-1][0] == "stopped":
                break
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    assert ["started", "booted"] in seen
    assert seen[-1] == ["stopped", "destroyed"]
