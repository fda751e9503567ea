"""Live vCPUs, memory, disks and NICs through the engine, each proven from inside the guest."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.errors_cli import cli_text
from tests.integration.conftest import IsolatedNet, appliance_request, made_file
from tests.integration.guest import Status, latest, wait_for, wait_ready
from virtdeck.engine import Engine
from virtdeck.engine.schemas import DiskAdd, NicAdd
from virtdeck.errors import Conflict, InvalidInput, Unsupported

MiB = 2**20
# Under TCG, next to other test sessions, a guest can be slow to react.
GUEST = 180.0


def wait_steps(engine: Engine, name: str, *steps: Callable[[Status], bool]) -> Status:
    """The status line that satisfies the last of ``steps``, each met in turn since boot.

    The log is read from the VM's start, so 'vdb is gone' must come after
    'vdb is there', or the ready line would already satisfy it.
    """
    done = 0

    def want(status: Status) -> bool:
        nonlocal done
        if steps[done](status):
            done += 1
        return done == len(steps)

    return wait_for(engine, name, want, GUEST)


def has_vdb(status: Status) -> bool:
    return status.disks == ["vda", "vdb"]


def only_vda(status: Status) -> bool:
    return status.disks == ["vda"]


def test_vcpus_hot_added_and_the_refusals(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))  # 1 of 3 vCPUs
    assert wait_ready(engine, vm_name, GUEST).cpus == 1

    change = engine.set_cpus(vm_name, 2)
    assert (change.live, change.config) == (True, True)
    assert wait_for(engine, vm_name, lambda s: s.cpus == 2, GUEST).word == "changed"
    engine.set_cpus(vm_name, 3, live=True)
    wait_for(engine, vm_name, lambda s: s.cpus == 3, GUEST)

    with pytest.raises(Unsupported, match="hot-unplug"):
        engine.set_cpus(vm_name, 1)
    with pytest.raises(InvalidInput) as above:
        engine.set_cpus(vm_name, 4)
    assert re.search(r"at most 3 vCPUs.*set-max-cpus", cli_text(above.value))
    with pytest.raises(Conflict, match="only change while it is stopped"):
        engine.set_max_cpus(vm_name, 4)
    # The default (live and config) kept 2 in the definition; --live alone did not.
    assert engine.defs.model(vm_name)[1].vcpus == 2
    assert latest(engine, vm_name).cpus == 3


def test_memory_balloon_seen_by_guest(engine: Engine, test_net: IsolatedNet, vm_name: str) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))  # 256 of 384 MiB
    first = wait_ready(engine, vm_name, GUEST)

    engine.set_memory(vm_name, 160 * MiB)
    low = wait_for(engine, vm_name, lambda s: s.mem_kib < first.mem_kib - 64 * 1024, GUEST)
    assert engine.defs.model(vm_name)[1].current_memory_kib == 160 * 1024

    engine.set_memory(vm_name, 384 * MiB, live=True)
    high = wait_for(engine, vm_name, lambda s: s.mem_kib > first.mem_kib + 64 * 1024, GUEST)
    assert high.mem_kib > low.mem_kib

    with pytest.raises(InvalidInput) as above:
        engine.set_memory(vm_name, 512 * MiB)
    assert re.search(r"maximum of 384 MiB.*set-max-memory", cli_text(above.value))
    with pytest.raises(Conflict, match="maximum memory can only change while it is stopped"):
        engine.set_max_memory(vm_name, 512 * MiB)
    with pytest.raises(InvalidInput, match="more than this host has"):
        engine.set_memory(vm_name, 2**50)


def test_disk_hot_plug_and_unplug(
    engine: Engine, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    wait_ready(engine, vm_name, GUEST)

    added = engine.add_disk(DiskAdd(name=vm_name, size_bytes=64 * MiB))
    vdb = made_file(pool_dir, vm_name, "vdb")
    assert (added.device, added.created_file, added.live, added.config) == (
        "disk vdb",
        str(vdb),
        True,
        True,
    )
    wait_steps(engine, vm_name, has_vdb)
    listed = {d.target: d for d in engine.list_disks(vm_name)}
    assert listed["vdb"].live and listed["vdb"].config and listed["vdb"].created_by_virtdeck

    removed = engine.remove_disk(vm_name, "vdb")
    assert removed.deleted_file == str(vdb)
    wait_steps(engine, vm_name, has_vdb, only_vda)
    assert not vdb.exists()
    assert [d.target for d in engine.list_disks(vm_name)] == ["vda"]

    # The guest names disks in the order it finds them: libvirt's vdc is its vdb.
    kept = engine.add_disk(DiskAdd(name=vm_name, size_bytes=32 * MiB, target="vdc"))
    wait_steps(engine, vm_name, has_vdb, only_vda, has_vdb)
    result = engine.remove_disk(vm_name, "vdc", keep_file=True)
    assert result.kept_file == kept.created_file and Path(str(kept.created_file)).is_file()
    wait_steps(engine, vm_name, has_vdb, only_vda, has_vdb, only_vda)

    with pytest.raises(Conflict, match="boots from vda"):
        engine.remove_disk(vm_name, "vda")

    # A disk virtdeck made and left attached goes with the VM.
    engine.add_disk(DiskAdd(name=vm_name, size_bytes=16 * MiB))
    wait_steps(engine, vm_name, has_vdb, only_vda, has_vdb, only_vda, has_vdb)
    deleted = engine.delete_vm(vm_name, force=True)
    assert str(vdb) in deleted.removed_disks and not vdb.exists()


def test_nic_hot_plug_gets_an_address_and_goes_away(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    assert set(wait_ready(engine, vm_name, GUEST).nics) == {"eth0"}

    added = engine.add_nic(NicAdd(name=vm_name, network=test_net.name, mac="52:54:00:5e:00:42"))
    assert added.live and added.config
    with_nic = wait_for(engine, vm_name, lambda s: s.nics.get("eth1", "-") != "-", GUEST)
    assert ipaddress.IPv4Address(with_nic.nics["eth1"]) in test_net.subnet
    nics = {n.mac: n for n in engine.list_nics(vm_name)}
    assert nics["52:54:00:5e:00:42"].live and nics["52:54:00:5e:00:42"].source == test_net.name

    removed = engine.remove_nic(vm_name, "52:54:00:5e:00:42")
    assert removed.live and removed.config
    gone = wait_steps(engine, vm_name, lambda s: "eth1" in s.nics, lambda s: "eth1" not in s.nics)
    assert set(gone.nics) == {"eth0"}
    assert len(engine.list_nics(vm_name)) == 1


def test_changes_made_live_survive_a_restart(
    engine: Engine, test_net: IsolatedNet, vm_name: str
) -> None:
    engine.create_vm(appliance_request(vm_name, test_net))
    first = wait_ready(engine, vm_name, GUEST)
    engine.set_cpus(vm_name, 2)
    engine.set_memory(vm_name, 192 * MiB)
    engine.add_disk(DiskAdd(name=vm_name, size_bytes=16 * MiB))
    engine.add_nic(NicAdd(name=vm_name, network=test_net.name))
    wait_for(engine, vm_name, lambda s: "vdb" in s.disks and "eth1" in s.nics, GUEST)

    engine.stop_vm(vm_name, timeout=GUEST)
    engine.start_vm(vm_name)
    again = wait_ready(engine, vm_name, GUEST)
    assert again.cpus == 2
    assert again.disks == ["vda", "vdb"]
    assert set(again.nics) == {"eth0", "eth1"}
    assert again.mem_kib < first.mem_kib - 32 * 1024
