"""The live-change commands on libvirt's test driver: output, aliases, one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.unit.test_cli_testdriver import TEST_URI, one_sentence_error, virtdeck


def run(tmp: Path, *args: str) -> str:
    result = virtdeck("-c", TEST_URI, *args, tmp=tmp)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_set_cpus_and_memory_say_where_they_apply(tmp_path: Path) -> None:
    assert run(tmp_path, "vm", "set-cpus", "test", "2") == (
        "VM test: vCPUs 2 now and from its next start\n  it already runs 2 vCPUs\n"
    )
    assert run(tmp_path, "vm", "setvcpus", "test", "1", "--config") == (
        "VM test: vCPUs 1 from its next start\n"
    )
    assert run(tmp_path, "vm", "setmem", "test", "1G", "--live") == (
        "VM test: memory 1 GiB now, until it restarts\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("vm", "set-cpus", "test", "3"), 4, "at most 2 vCPUs; to allow 3"),
        (("vm", "set-cpus", "test", "1"), 5, "vCPU hot-unplug is not supported"),
        (("vm", "set-max-cpus", "test", "4"), 3, "only change while it is stopped"),
        (("vm", "set-memory", "test", "0"), 4, "memory: size must be greater than zero"),
        (("vm", "set-memory", "test", "lots"), 4, "memory: 'lots' is not a size"),
        (("vm", "set-memory", "test", "64T"), 4, "more than this host has"),
        (("vm", "setmaxmem", "test", "1G"), 3, "maximum memory can only change while"),
        (("vm", "set-cpus", "nosuch", "2"), 2, "no VM named 'nosuch'"),
        (("vm", "disk", "add", "test"), 4, "give exactly one of --size SIZE"),
        (("vm", "disk", "remove", "test", "vdz"), 2, "has no disk vdz"),
        (("vm", "nic", "add", "test", "--network", "nosuch"), 2, "no network named 'nosuch'"),
        (("vm", "nic", "remove", "test", "bad-mac"), 4, "is not a MAC address"),
        (("apply", "-f", "/nonexistent/vm.yaml"), 4, "does not exist"),
    ],
)
def test_refusals_are_one_sentence(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    line = one_sentence_error(virtdeck("-c", TEST_URI, *args, tmp=tmp_path), code)
    assert message in line


def test_lists_and_spec(tmp_path: Path) -> None:
    disks = run(tmp_path, "vm", "disk", "list", "test").splitlines()
    assert disks[0].split() == ["TARGET", "DEVICE", "FORMAT", "IN", "CREATED", "PATH"]
    assert disks[1].split() == ["vda", "disk", "-", "live+config", "no", "/guest/diskimage1"]
    nics = run(tmp_path, "vm", "nic", "list", "test").splitlines()
    assert nics[1].split() == ["aa:bb:cc:dd:ee:ff", "network", "default", "-", "live+config"]
    spec = yaml.safe_load(run(tmp_path, "vm", "spec", "test"))
    assert spec["name"] == "test" and spec["memory"] == "2G" and spec["max_memory"] == "8G"
    assert spec["running"] is True


def test_apply_from_stdin_reports_no_changes(tmp_path: Path) -> None:
    spec = run(tmp_path, "vm", "spec", "test")
    spec_file = tmp_path / "vm.yaml"
    spec_file.write_text(spec)
    assert run(tmp_path, "apply", "-f", str(spec_file)) == "VM test: no changes\n"
    spec_file.write_text(spec.replace("cpus: 2\n", "cpus: 1\n", 1))
    dry = run(tmp_path, "apply", "-f", str(spec_file), "--dry-run")
    assert dry.splitlines()[0] == "VM test: 1 change"
    assert " ".join(dry.splitlines()[1].split()) == (
        "cpus 2 -> 1 in the definition: takes effect at the next restart"
    )
    assert dry.splitlines()[-1] == "dry run: nothing was changed"
