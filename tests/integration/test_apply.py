"""``virtdeck apply -f`` and ``vm spec`` as a user types them, proven from inside the guest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.integration.conftest import APPLIANCE, IsolatedNet
from tests.integration.conftest import virtdeck as run_virtdeck
from tests.integration.guest import wait_for, wait_ready
from tests.integration.test_live import GUEST, wait_steps
from virtdeck.engine import Engine
from virtdeck.settings import Settings


def virtdeck(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_virtdeck(settings, *args, timeout=300)


def apply(settings: Settings, spec: Path, *extra: str) -> str:
    result = virtdeck(settings, "apply", "-f", str(spec), *extra)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def plan_lines(output: str) -> dict[str, str]:
    """'  cpus  1 -> 2  live: ...' lines, by key, with runs of spaces squeezed."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.startswith("  ")]
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines}


def test_apply_creates_converges_live_and_reports_no_changes(
    settings: Settings, engine: Engine, test_net: IsolatedNet, vm_name: str, tmp_path: Path
) -> None:
    spec = tmp_path / "vm.yaml"
    spec.write_text(
        f"name: {vm_name}\nimage: {APPLIANCE}\ncpus: 1\nmax_cpus: 3\nmemory: 256M\n"
        f"max_memory: 384M\nnetworks: [{test_net.name}]\ngraphics: none\nrunning: true\n"
    )
    created = apply(settings, spec)
    assert created.startswith(f"VM {vm_name} does not exist: create it with")
    assert created.rstrip().endswith(f"Created; VM {vm_name} is running")
    first = wait_ready(engine, vm_name, GUEST)
    assert first.cpus == 1

    printed = virtdeck(settings, "vm", "spec", vm_name)
    assert printed.returncode == 0, printed.stderr
    data = yaml.safe_load(printed.stdout)
    assert data == {
        "name": vm_name,
        "cpus": 1,
        "max_cpus": 3,
        "memory": "256M",
        "max_memory": "384M",
        "networks": [test_net.name],
        "graphics": "none",
        "image": str(APPLIANCE),
        "autostart": False,
        "running": True,
    }
    spec.write_text(printed.stdout)
    assert apply(settings, spec) == f"VM {vm_name}: no changes\n"

    data.update(cpus=2, memory="160M", max_memory="512M", networks=[test_net.name] * 2)
    spec.write_text(yaml.safe_dump(data))
    dry = apply(settings, spec, "--dry-run")
    assert plan_lines(dry) == {
        "cpus": "1 -> 2 live: now and in the definition",
        "max_memory": "384 MiB -> 512 MiB in the definition: takes effect at the next restart",
        "memory": "256 MiB -> 160 MiB live: now and in the definition",
        "networks": f"{test_net.name} -> {test_net.name}, {test_net.name} live: now and in the "
        "definition",
    }
    assert dry.rstrip().endswith("dry run: nothing was changed")
    assert engine.defs.model(vm_name)[1].vcpus == 1

    applied = apply(settings, spec)
    assert plan_lines(applied) == plan_lines(dry)
    assert f"Applied; VM {vm_name} is running" in applied
    seen = wait_for(
        engine,
        vm_name,
        lambda s: (
            s.cpus == 2 and s.nics.get("eth1", "-") != "-" and s.mem_kib < first.mem_kib - 64 * 1024
        ),
        GUEST,
    )
    assert seen.disks == ["vda"]
    assert apply(settings, spec) == f"VM {vm_name}: no changes\n"
    assert engine.defs.model(vm_name)[1].memory_kib == 512 * 1024
    assert [h.action for h in engine.vm_history(vm_name)][-1] == "apply"

    data.update(networks=[test_net.name])
    spec.write_text(yaml.safe_dump(data))
    fewer = apply(settings, spec)
    assert plan_lines(fewer) == {
        "networks": f"{test_net.name}, {test_net.name} -> {test_net.name} live: now and in the "
        "definition"
    }
    wait_steps(engine, vm_name, lambda s: "eth1" in s.nics, lambda s: "eth1" not in s.nics)

    data.update(running=False)
    spec.write_text(yaml.safe_dump(data))
    stopped = apply(settings, spec)
    assert plan_lines(stopped) == {"running": "true -> false shut the VM down"}
    assert f"Applied; VM {vm_name} is shut off" in stopped
    assert apply(settings, spec) == f"VM {vm_name}: no changes\n"


def test_bad_specs_are_one_sentence(settings: Settings, vm_name: str, tmp_path: Path) -> None:
    spec = tmp_path / "vm.yaml"
    cases = {
        f"name: {vm_name}\nimage: {APPLIANCE}\ncpu: 2\n": "unknown key 'cpu'",
        f"name: {vm_name}\nimage: {APPLIANCE}\nmemory: lots\n": "memory has a bad value 'lots'",
        f"name: {vm_name}\nimage: {APPLIANCE}\ncpus: 4\nmax_cpus: 2\n": "cpus 4 is above",
        f"name: {vm_name}\nimage: {APPLIANCE}\nmax_memory: 64T\n": "more than this host has",
        f"name: {vm_name}\n": "needs exactly one of 'image: BASE' or 'import_disk: FILE'",
    }
    for text, message in cases.items():
        spec.write_text(text)
        result = virtdeck(settings, "apply", "-f", str(spec))
        assert result.returncode == 4, (text, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
        assert message in result.stderr, result.stderr
    missing = virtdeck(settings, "apply", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 4 and "does not exist" in missing.stderr
    assert virtdeck(settings, "vm", "show", vm_name).returncode == 2, "nothing was created"
