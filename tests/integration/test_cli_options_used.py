"""CLI options that only a real host can carry out, run through the command line.

- ``vm snapshot create --disk-only`` (libvirt's test driver refuses the flag):
  an external overlay is made beside the disk and the VM runs on it.
- ``vm clone --json`` (the test driver cannot clone: virtdeck copies disks
  only on the local host): the JSON describes the new VM as libvirt has it.
- ``--live`` of ``vm disk add|remove`` and ``vm nic add|remove`` (the test
  driver cannot hot-plug): the booted guest sees each device come and go,
  and the definition never has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.integration.conftest import (
    IsolatedNet,
    appliance_request,
    fresh_vm_name,
    made_file,
    virtdeck,
)
from tests.integration.guest import wait_ready
from tests.integration.test_live import GUEST, has_vdb, only_vda, wait_steps
from virtdeck.engine import Engine
from virtdeck.settings import Settings


def test_snapshot_create_disk_only_makes_an_overlay_the_vm_runs_on(
    settings: Settings, engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, timeout=180)
    disk = made_file(pool_dir, vm_name, "vda")

    made = virtdeck(settings, "vm", "snapshot", "create", vm_name, "d1", "--disk-only", "--json")
    assert made.returncode == 0, made.stderr
    snap = json.loads(made.stdout)
    overlay = disk.with_suffix(".d1")
    assert snap["kind"] == "disk-only" and snap["overlays"] == [str(overlay)]
    assert overlay.is_file()
    assert engine.get_vm(vm_name).disks[0].path == str(overlay)


@pytest.fixture
def clone_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    yield from fresh_vm_name(engine, pool_dir)


def _json_of(settings: Settings, *args: str) -> Any:
    result = virtdeck(settings, *args)
    assert result.returncode == 0, (args, result.stderr)
    return json.loads(result.stdout)


def test_clone_json_describes_the_copy_libvirt_now_has(
    settings: Settings,
    engine: Engine,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    clone_name: str,
    pool_dir: Path,
) -> None:
    source = engine.create_vm(appliance_request(vm_name, test_net, start=False))
    clone = _json_of(settings, "vm", "clone", vm_name, clone_name, "--json")
    disk = made_file(pool_dir, clone_name, "vda")
    assert (clone["name"], clone["state"]) == (clone_name, "shut off")
    assert clone["uuid"] == conn.lookupByName(clone_name).UUIDString() != source.uuid
    assert [(d["target"], d["path"], d["created_by_virtdeck"]) for d in clone["disks"]] == [
        ("vda", str(disk), True)
    ]
    [nic] = clone["nics"]
    assert nic["source"] == test_net.name and nic["mac"] != source.nics[0].mac
    assert engine.get_vm(vm_name).state == "shut off"  # the source is left as it was


def _in(devices: list[dict[str, Any]], key: str, value: str) -> tuple[bool, bool] | None:
    """(live, config) of the device whose ``key`` is ``value``; None when it has none."""
    for device in devices:
        if device[key] == value:
            return device["live"], device["config"]
    return None


def test_live_only_disk_and_nic_reach_the_guest_and_never_the_definition(
    settings: Settings, engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    assert set(wait_ready(engine, vm_name, GUEST).nics) == {"eth0"}

    added = _json_of(settings, "vm", "disk", "add", vm_name, "--size", "16M", "--live", "--json")
    vdb = made_file(pool_dir, vm_name, "vdb")
    assert (added["device"], added["action"], added["created_file"]) == (
        "disk vdb",
        "added",
        str(vdb),
    )
    assert (added["live"], added["config"]) == (True, False)
    wait_steps(engine, vm_name, has_vdb)
    disks = _json_of(settings, "vm", "disk", "list", vm_name, "--json")
    assert _in(disks, "target", "vdb") == (True, False)

    removed = _json_of(settings, "vm", "disk", "remove", vm_name, "vdb", "--live", "--json")
    assert (removed["device"], removed["action"]) == ("disk vdb", "removed")
    assert (removed["live"], removed["config"]) == (True, False)
    # virtdeck made the file, and no definition names it: it goes with the disk.
    assert removed["deleted_file"] == str(vdb) and not vdb.exists()
    wait_steps(engine, vm_name, has_vdb, only_vda)
    assert _in(_json_of(settings, "vm", "disk", "list", vm_name, "--json"), "target", "vdb") is None

    mac = "52:54:00:5e:00:43"
    nic_args = ("--network", test_net.name, "--mac", mac, "--live", "--json")
    plugged = _json_of(settings, "vm", "nic", "add", vm_name, *nic_args)
    assert (plugged["device"], plugged["live"], plugged["config"]) == (f"nic {mac}", True, False)
    wait_steps(engine, vm_name, lambda s: "eth1" in s.nics)
    assert _in(_json_of(settings, "vm", "nic", "list", vm_name, "--json"), "mac", mac) == (
        True,
        False,
    )

    unplugged = _json_of(settings, "vm", "nic", "remove", vm_name, mac, "--live", "--json")
    assert (unplugged["device"], unplugged["action"]) == (f"nic {mac}", "removed")
    assert (unplugged["live"], unplugged["config"]) == (True, False)
    wait_steps(engine, vm_name, lambda s: "eth1" in s.nics, lambda s: "eth1" not in s.nics)
    assert _in(_json_of(settings, "vm", "nic", "list", vm_name, "--json"), "mac", mac) is None
