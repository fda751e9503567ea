"""apply -f and vm spec on libvirt's test driver: plans, convergence, bad specs."""

# The fixtures come from test_live_rules; pytest passes them in by name.
# ruff: noqa: F811

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.unit.test_live_rules import MiB, definition, vm  # noqa: F401

from virtdeck.engine import Engine
from virtdeck.engine.spec_plan import dump_spec, load_spec
from virtdeck.errors import Conflict, InvalidInput


def spec_of(engine: Engine, name: str, **changes: object) -> str:
    data = yaml.safe_load(dump_spec(engine.vm_spec(name)))
    data.update(changes)
    return yaml.safe_dump(data, sort_keys=False)


def steps(result: object) -> dict[str, tuple[str, str, str]]:
    return {s.key: (s.current, s.wanted, s.how) for s in result.steps}  # type: ignore[attr-defined]


def test_spec_prints_the_vm_and_applies_with_no_changes(
    engine: Engine, vm: str, disk: Path
) -> None:
    text = dump_spec(engine.vm_spec(vm))
    assert yaml.safe_load(text) == {
        "name": vm,
        "cpus": 1,
        "max_cpus": 4,
        "memory": "256M",
        "max_memory": "512M",
        "networks": [],
        "graphics": "none",
        "import_disk": str(disk),
        "autostart": False,
        "running": False,
    }
    result = engine.apply_spec(load_spec(text, "vm.yaml"))
    assert result.steps == [] and not result.created


def test_stopped_vm_converges_in_one_version(engine: Engine, vm: str) -> None:
    spec = load_spec(
        spec_of(
            engine,
            vm,
            cpus=2,
            max_cpus=6,
            memory="300M",
            max_memory="1G",
            networks=["default"],
            graphics="vnc",
            autostart=True,
        ),
        "vm.yaml",
    )
    versions = len(engine.vm_history(vm))
    dry = engine.apply_spec(spec, dry_run=True)
    assert steps(dry) == {
        "max_cpus": ("4", "6", "config"),
        "cpus": ("1", "2", "config"),
        "max_memory": ("512 MiB", "1 GiB", "config"),
        "memory": ("256 MiB", "300 MiB", "config"),
        "networks": ("none", "default", "config"),
        "graphics": ("none", "vnc", "config"),
        "autostart": ("false", "true", "now"),
    }
    assert dry.dry_run and dry.state is None
    assert len(engine.vm_history(vm)) == versions, "a dry run changes nothing"

    done = engine.apply_spec(spec)
    assert steps(done) == steps(dry) and done.state == "shut off"
    model = definition(engine, vm)
    assert (model.vcpus, model.max_vcpus) == (2, 6)
    assert (model.current_memory_kib, model.memory_kib) == (300 * 1024, 1024 * 1024)
    assert [n.source_network for n in model.interfaces] == ["default"]
    assert [g.type for g in model.graphics] == ["vnc"]
    assert engine.defs.lookup(vm).autostart() is True
    assert len(engine.vm_history(vm)) == versions + 1
    assert engine.vm_history(vm)[-1].action == "apply"

    again = engine.apply_spec(spec)
    assert again.steps == []


def test_running_vm_plan_says_live_or_restart(engine: Engine, vm: str) -> None:
    engine.start_vm(vm)
    spec = load_spec(spec_of(engine, vm, cpus=3, memory="384M", max_memory="768M"), "vm.yaml")
    result = engine.apply_spec(spec)
    assert steps(result) == {
        "cpus": ("1", "3", "live"),
        "memory": ("256 MiB", "384 MiB", "live"),
        "max_memory": ("512 MiB", "768 MiB", "restart"),
    }
    info = engine.defs.lookup(vm).info()
    assert info.vcpus == 3 and info.memory_kib == 384 * 1024
    assert definition(engine, vm).memory_kib == 768 * 1024
    assert engine.apply_spec(spec).steps == []

    fewer = engine.apply_spec(load_spec(spec_of(engine, vm, cpus=2), "vm.yaml"))
    assert steps(fewer) == {"cpus": ("3", "2", "restart")}
    assert fewer.notes == [f"VM {vm} runs 3 vCPUs until its next restart, then 2"]

    stopped = engine.apply_spec(load_spec(spec_of(engine, vm, running=False), "vm.yaml"))
    assert steps(stopped) == {"running": ("true", "false", "stop")}
    assert stopped.state == "shut off"


def test_missing_vm_is_created_from_the_spec(engine: Engine, disk: Path) -> None:
    name = "live-from-spec"
    text = f"name: {name}\nimport_disk: {disk}\ncpus: 2\nmax_cpus: 3\nmemory: 128\nnetworks: []\n"
    spec = load_spec(text, "vm.yaml")
    try:
        dry = engine.apply_spec(spec, dry_run=True)
        assert dry.created and steps(dry)["cpus"] == ("-", "2", "create")
        assert name not in {v.name for v in engine.list_vms()}
        result = engine.apply_spec(spec)
        assert result.created and result.state == "shut off"
        model = definition(engine, name)
        assert (model.vcpus, model.max_vcpus, model.memory_kib) == (2, 3, 128 * 1024)
        assert engine.apply_spec(spec).steps == []
    finally:
        engine.delete_vm(name, force=True)


def test_refusals(engine: Engine, vm: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cpus 5 is above max_cpus 4; raise max_cpus") as cpus:
        engine.apply_spec(load_spec(f"name: {vm}\ncpus: 5\n", "vm.yaml"))
    assert cpus.value.field == "cpus"
    with pytest.raises(InvalidInput, match=r"memory 1G is above max_memory 512M") as memory:
        engine.apply_spec(load_spec(f"name: {vm}\nmemory: 1G\n", "vm.yaml"))
    assert memory.value.field == "memory"
    with pytest.raises(InvalidInput, match="more than this host has"):
        engine.apply_spec(load_spec(f"name: {vm}\nmax_memory: 64T\n", "vm.yaml"))
    with pytest.raises(Conflict, match="apply never replaces a disk"):
        engine.apply_spec(load_spec(f"name: {vm}\nimport_disk: {tmp_path}/x\n", "vm.yaml"))
    with pytest.raises(InvalidInput, match=r"needs exactly one of 'image: BASE'"):
        engine.apply_spec(load_spec("name: live-nothing\ncpus: 1\n", "vm.yaml"))
    with pytest.raises(InvalidInput, match="VM name 'a b' is not allowed"):
        engine.apply_spec(load_spec("name: a b\n", "vm.yaml"))
    with pytest.raises(Exception, match="no network named 'nosuch'"):
        engine.apply_spec(load_spec(f"name: {vm}\nnetworks: [nosuch]\n", "vm.yaml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ncpu: 2\n", "vm.yaml: unknown key 'cpu'; the keys are name, cpus, max_cpus"),
        ("name: x\ncpus: two\n", "vm.yaml: cpus has a bad value 'two'"),
        ("name: x\ncpus: 0\n", "use a whole number of at least 1"),
        ("name: x\nmemory: 0\n", "memory has a bad value 0 (size must be greater than zero"),
        ("name: x\nmemory: 1.5Q\n", "unknown size unit 'Q'"),
        ("name: x\ngraphics: sdl\n", "use vnc, spice or none"),
        ("name: x\nrunning: maybe\n", "use true or false"),
        ("cpus: 1\n", "the key 'name' is missing"),
        ("- name: x\n", "must hold keys such as 'name:'"),
        ("name: [x\n", "is not valid YAML at line 2"),
    ],
)
def test_bad_specs_are_one_sentence(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_spec(text, "vm.yaml")
    assert message in caught.value.message
    assert "\n" not in caught.value.message
