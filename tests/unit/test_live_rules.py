"""vCPU and memory changes on libvirt's test driver: the rules and their refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from tests.errors_cli import cli_text
from tests.lock_holder import held_elsewhere

from virtdeck.engine import Engine
from virtdeck.engine.schemas import VmCreate
from virtdeck.errors import Conflict, Hint, InvalidInput, Unsupported
from virtdeck.model import Domain

MiB = 2**20


@pytest.fixture
def vm(engine: Engine, disk: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A stopped VM with 1 of 4 vCPUs and 256 of 512 MiB; removed afterwards."""
    name = f"live-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    engine.create_vm(
        VmCreate(
            name=name,
            import_disk=str(disk),
            cpus=1,
            max_cpus=4,
            memory_bytes=256 * MiB,
            max_memory_bytes=512 * MiB,
            networks=[],
            graphics="none",
        )
    )
    yield name
    engine.delete_vm(name, force=True)


def definition(engine: Engine, name: str) -> Domain:
    return engine.defs.model(name)[1]


def running_vcpus(engine: Engine, name: str) -> int:
    return int(engine.host.conn.lookupByName(name).vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE))


def test_stopped_vm_changes_its_definition_only(engine: Engine, vm: str) -> None:
    change = engine.set_cpus(vm, 3)
    assert (change.live, change.config) == (False, True)
    assert definition(engine, vm).vcpus == 3
    assert definition(engine, vm).max_vcpus == 4
    assert [h.action for h in engine.vm_history(vm)][-1] == "set-cpus"


def test_running_vm_gets_live_and_config_by_default(engine: Engine, vm: str) -> None:
    engine.start_vm(vm)
    change = engine.set_cpus(vm, 3)
    assert (change.live, change.config) == (True, True)
    assert running_vcpus(engine, vm) == 3
    assert definition(engine, vm).vcpus == 3


def test_live_only_leaves_the_definition(engine: Engine, vm: str) -> None:
    engine.start_vm(vm)
    engine.set_cpus(vm, 2, live=True)
    assert running_vcpus(engine, vm) == 2
    assert definition(engine, vm).vcpus == 1


def test_live_decrease_is_refused_with_the_way_to_do_it(engine: Engine, vm: str) -> None:
    engine.start_vm(vm)
    engine.set_cpus(vm, 3)
    with pytest.raises(Unsupported) as refused:
        engine.set_cpus(vm, 1)
    assert re.search(
        r"hot-unplug.*and restart it \('.*set-cpus .* 1 --config'\)", cli_text(refused.value)
    )
    assert refused.value.hint == Hint("vm.set-cpus.config", vm=vm, args={"count": "1"})
    assert refused.value.field == "count"
    assert running_vcpus(engine, vm) == 3
    change = engine.set_cpus(vm, 1, config=True)
    assert (change.live, change.config) == (False, True)
    assert definition(engine, vm).vcpus == 1
    assert running_vcpus(engine, vm) == 3


def test_more_than_the_maximum_names_it_and_how_to_raise_it(engine: Engine, vm: str) -> None:
    with pytest.raises(InvalidInput) as above:
        engine.set_cpus(vm, 6)
    assert re.search(r"at most 4 vCPUs.*set-max-cpus .* 6'", cli_text(above.value))
    assert above.value.hint == Hint("vm.set-max-cpus", vm=vm, args={"count": "6"})
    with pytest.raises(InvalidInput, match="at least 1"):
        engine.set_cpus(vm, 0)


def test_live_on_a_stopped_vm_is_refused(engine: Engine, vm: str) -> None:
    with pytest.raises(Conflict) as not_running:
        engine.set_cpus(vm, 2, live=True)
    assert re.search(r"not running.*leave out --live", cli_text(not_running.value))
    assert not_running.value.field == "live"
    with pytest.raises(Conflict, match="not running"):
        engine.set_memory(vm, 300 * MiB, live=True)


def test_max_cpus_changes_only_while_stopped(engine: Engine, vm: str) -> None:
    engine.set_cpus(vm, 3)
    engine.start_vm(vm)
    with pytest.raises(Conflict) as running:
        engine.set_max_cpus(vm, 8)
    assert re.search(r"running.*only change while it is stopped.*vm stop", cli_text(running.value))
    assert running.value.hint == Hint("vm.stop", vm=vm)
    engine.stop_vm(vm, force=True)
    raised = engine.set_max_cpus(vm, 8)
    assert raised.config and not raised.live and raised.notes == []
    assert (definition(engine, vm).max_vcpus, definition(engine, vm).vcpus) == (8, 3)
    lowered = engine.set_max_cpus(vm, 2)
    assert lowered.notes == ["vCPUs at boot lowered from 3 to 2"]
    assert (definition(engine, vm).max_vcpus, definition(engine, vm).vcpus) == (2, 2)
    with pytest.raises(InvalidInput, match="more than a 'qemu' VM can have"):
        engine.set_max_cpus(vm, 100000)


def test_memory_is_the_balloon_up_to_the_maximum(engine: Engine, vm: str) -> None:
    engine.start_vm(vm)
    change = engine.set_memory(vm, 384 * MiB)
    assert (change.live, change.config, change.value) == (True, True, 384 * 1024)
    assert engine.defs.lookup(vm).info().memory_kib == 384 * 1024
    assert definition(engine, vm).current_memory_kib == 384 * 1024
    with pytest.raises(InvalidInput) as above:
        engine.set_memory(vm, 1024 * MiB)
    assert re.search(r"above VM .*maximum of 512 MiB.*set-max-memory .* 1G'", cli_text(above.value))
    assert above.value.hint == Hint("vm.set-max-memory", vm=vm, args={"size": "1G"})


def test_memory_refuses_too_little_and_more_than_the_host(engine: Engine, vm: str) -> None:
    with pytest.raises(InvalidInput, match="too small; give at least 16M"):
        engine.set_memory(vm, 1 * MiB)
    with pytest.raises(InvalidInput, match="more than this host has"):
        engine.set_memory(vm, 2**50)
    with pytest.raises(InvalidInput, match="more than this host has"):
        engine.set_max_memory(vm, 2**50)


def test_max_memory_only_while_stopped_and_keeps_boot_memory_below(engine: Engine, vm: str) -> None:
    engine.start_vm(vm)
    with pytest.raises(Conflict, match="maximum memory can only change while it is stopped"):
        engine.set_max_memory(vm, 1024 * MiB)
    engine.stop_vm(vm, force=True)
    engine.set_max_memory(vm, 1024 * MiB)
    model = definition(engine, vm)
    assert (model.memory_kib, model.current_memory_kib) == (1024 * 1024, 256 * 1024)
    lowered = engine.set_max_memory(vm, 128 * MiB)
    assert lowered.notes == ["memory at boot lowered from 256 MiB to 128 MiB"]
    model = definition(engine, vm)
    assert (model.memory_kib, model.current_memory_kib) == (128 * 1024, 128 * 1024)


def test_every_change_is_a_version_in_the_history(engine: Engine, vm: str) -> None:
    engine.set_cpus(vm, 2)
    engine.set_memory(vm, 300 * MiB)
    engine.set_max_memory(vm, 600 * MiB)
    engine.set_max_cpus(vm, 5)
    actions = [h.action for h in engine.vm_history(vm)]
    assert actions == ["create", "set-cpus", "set-memory", "set-max-memory", "set-max-cpus"]
    assert "+  <currentMemory unit='KiB'>307200</currentMemory>" in engine.vm_history(vm)[2].diff


def test_busy_vm_gets_conflict(engine: Engine, vm: str) -> None:
    with held_elsewhere(engine, vm, "test"), pytest.raises(Conflict, match="busy"):
        engine.set_cpus(vm, 2)
