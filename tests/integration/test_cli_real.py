"""The virtdeck command against the real libvirtd, as a user types it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import APPLIANCE, IsolatedNet, virtdeck
from virtdeck.settings import Settings


def test_create_log_list_stop_delete(
    settings: Settings, test_net: IsolatedNet, vm_name: str, pool_dir: Path
) -> None:
    created = virtdeck(
        settings,
        "vm",
        "create",
        vm_name,
        "--image",
        str(APPLIANCE),
        "--memory",
        "256M",
        "--max-cpus",
        "2",
        "--network",
        test_net.name,
        "--graphics",
        "none",
        "--start",
    )
    assert created.returncode == 0, created.stderr
    assert f"Created VM {vm_name} (running)" in created.stdout

    ready = virtdeck(
        settings,
        "vm",
        "log",
        vm_name,
        "--follow",
        "--until",
        "virtdeck-appliance ready",
        "--timeout",
        "120",
    )
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout.strip().splitlines()[-1].find("virtdeck-appliance ready") >= 0

    listed = virtdeck(settings, "vm", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = next(v for v in json.loads(listed.stdout) if v["name"] == vm_name)
    assert mine["state"] == "running"
    assert (mine["vcpus"], mine["max_vcpus"]) == (1, 2)
    assert mine["memory_kib"] == 256 * 1024

    shown = virtdeck(settings, "vm", "show", vm_name)
    assert "[qcow2] (created by virtdeck)" in shown.stdout

    stopped = virtdeck(settings, "vm", "shutdown", vm_name, "--timeout", "60")
    assert stopped.returncode == 0, stopped.stderr
    assert f"VM {vm_name} shut down" in stopped.stdout

    deleted = virtdeck(settings, "vm", "undefine", vm_name)
    assert deleted.returncode == 0, deleted.stderr
    assert f"removed disk {pool_dir / (vm_name + '-vda.qcow2')}" in deleted.stdout
    assert not (pool_dir / f"{vm_name}-vda.qcow2").exists()


def test_unknown_vm_and_bad_size_are_one_sentence(settings: Settings, vm_name: str) -> None:
    missing = virtdeck(settings, "vm", "start", vm_name)
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: no VM named '{vm_name}'")
    assert "Traceback" not in missing.stderr

    bad = virtdeck(settings, "vm", "create", vm_name, "--image", str(APPLIANCE), "--memory", "0")
    assert bad.returncode == 4
    assert "greater than zero" in bad.stderr and "Traceback" not in bad.stderr


def test_host_check_tells_the_truth_about_kvm(settings: Settings) -> None:
    result = virtdeck(settings, "host", "check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    findings = {f["name"]: f for f in report["findings"]}
    assert findings["libvirtd"]["status"] == "ok"
    functional = findings["kvm-functional"]["status"] == "ok"
    accel = report["acceleration"]
    # virtdeck picks kvm exactly when a Linux kernel really booted under KVM.
    assert accel["domain_type"] == ("kvm" if functional else "qemu")
    if not Path("/dev/kvm").exists():
        assert not functional
    cpuinfo = Path("/proc/cpuinfo").read_text()
    if " vmx" not in cpuinfo and " svm" not in cpuinfo:
        assert findings["cpu-flags"]["status"] == "warn"
