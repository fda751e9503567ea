"""The appliance boots under virtdeck, and the guest itself confirms each change."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from pathlib import Path

import libvirt
import pytest

from tests.errors_cli import cli_text
from tests.integration.conftest import APPLIANCE, IsolatedNet, appliance_request, made_file
from tests.integration.guest import latest, wait_for, wait_ready
from virtdeck.engine import Engine
from virtdeck.errors import Conflict, InvalidInput, VirtdeckError
from virtdeck.host.console import SerialConsole


def test_boots_to_ready_line_with_dhcp_address(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    vm = engine.create_vm(appliance_request(vm_name, test_net))
    assert vm.state == "running"
    assert vm.domain_type == engine.acceleration().domain_type
    disk = vm.disks[0]
    assert disk.created_by_virtdeck and disk.path == str(made_file(pool_dir, vm_name, "vda"))

    ready = wait_ready(engine, vm_name)
    assert ready.fields["hostname"] == "appliance"
    assert ready.cpus == 1
    assert ready.disks == ["vda"]
    address = ready.nics["eth0"]
    assert ipaddress.IPv4Address(address) in test_net.subnet

    # libvirt's DHCP lease shows the same address in the listing.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = {v.name: v for v in engine.list_vms()}[vm_name]
        if listed.addresses:
            break
        time.sleep(0.5)
    assert listed.addresses == [address]
    assert listed.state == "running" and listed.vcpus == 1 and listed.max_vcpus == 3


def test_acpi_shutdown_and_log_kept(engine: Engine, test_net: IsolatedNet, vm_name: str) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name)
    result = engine.stop_vm(vm_name, timeout=60)
    assert result.how == "shutdown"
    assert engine.get_vm(vm_name).state == "shut off"
    # The guest saw the power button and shut down cleanly; the log survives the stop.
    log = engine.read_log(vm_name)
    assert "virtdeck-appliance power-button" in log
    assert "virtdeck-appliance shutdown" in log
    with pytest.raises(Conflict, match="not running"):
        engine.stop_vm(vm_name)


def test_hotplug_cpus_memory_disk_nic_seen_by_guest(
    engine: Engine, conn: libvirt.virConnect, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    first = wait_ready(engine, vm_name)
    dom = conn.lookupByName(vm_name)
    live = libvirt.VIR_DOMAIN_AFFECT_LIVE

    dom.setVcpusFlags(3, live)
    assert wait_for(engine, vm_name, lambda s: s.word == "changed" and s.cpus == 3).cpus == 3

    dom.setMemoryFlags(192 * 1024, live)
    shrunk = wait_for(engine, vm_name, lambda s: s.mem_kib < first.mem_kib - 48 * 1024)
    assert shrunk.mem_kib < first.mem_kib

    extra = pool_dir / f"{vm_name}-vdb.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(extra), "64M"], check=True)
    dom.attachDeviceFlags(
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{extra}'/><target dev='vdb' bus='virtio'/></disk>",
        live,
    )
    assert "vdb" in wait_for(engine, vm_name, lambda s: "vdb" in s.disks).disks

    dom.attachDeviceFlags(
        f"<interface type='network'><source network='{test_net.name}'/>"
        "<model type='virtio'/></interface>",
        live,
    )
    with_nic = wait_for(engine, vm_name, lambda s: s.nics.get("eth1", "-") != "-", timeout=60)
    assert ipaddress.IPv4Address(with_nic.nics["eth1"]) in test_net.subnet
    assert latest(engine, vm_name).cpus == 3


def test_serial_console_gives_a_root_shell(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name)
    with SerialConsole(engine.host, vm_name) as console:
        console.send("\n")
        console.expect(r"appliance# ", timeout=20)
        console.send("echo sum=$((6*7)) uid=$(id -u)\n")
        match = console.expect(r"sum=(\d+) uid=(\d+)", timeout=20)
    assert match.groups() == ("42", "0")


def test_failed_create_leaves_nothing_behind(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    request = appliance_request(vm_name, test_net, networks=["vdtest-no-such-network"])
    with pytest.raises(VirtdeckError):
        engine.create_vm(request)
    assert vm_name not in {v.name for v in engine.list_vms()}
    assert list(pool_dir.glob(f"{vm_name}*")) == []


def test_create_refuses_duplicates_and_delete_removes_disk(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net, start=False))
    with pytest.raises(Conflict, match="already exists"):
        engine.create_vm(appliance_request(vm_name, test_net, start=False))
    disk = made_file(pool_dir, vm_name, "vda")
    assert disk.is_file()
    result = engine.delete_vm(vm_name)
    assert result.removed_disks == [str(disk)]
    assert not disk.exists()
    assert APPLIANCE.is_file(), "the base image must never be touched"


def test_full_copy_is_independent(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    vm = engine.create_vm(appliance_request(vm_name, test_net, start=False, full_copy=True))
    path = vm.disks[0].path
    assert path is not None
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output", "json", path],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert "backing-filename" not in info


def test_non_local_graphics_needs_password(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    request = appliance_request(vm_name, test_net, graphics="vnc", graphics_listen="0.0.0.0")
    with pytest.raises(InvalidInput) as refused:
        engine.create_vm(request)
    assert "--graphics-password" in cli_text(refused.value)
    assert refused.value.field == "graphics_listen"
    assert vm_name not in {v.name for v in engine.list_vms()}
