"""The virtdeck command against the real libvirtd, as a user types it."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pycdlib
import pytest

from tests.integration.conftest import APPLIANCE, IsolatedNet, fresh_vm_name, made_file, virtdeck
from virtdeck.engine import Engine
from virtdeck.model import Domain
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

    disk = made_file(pool_dir, vm_name, "vda")
    deleted = virtdeck(settings, "vm", "undefine", vm_name)
    assert deleted.returncode == 0, deleted.stderr
    assert f"removed disk {disk}" in deleted.stdout
    assert not disk.exists()


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


def _seed_meta_data(seed: Path) -> str:
    iso = pycdlib.PyCdlib()
    iso.open(str(seed))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path="/meta-data")
        return out.getvalue().decode()
    finally:
        iso.close()


@pytest.fixture
def clone_name(engine: Engine, pool_dir: Path) -> Iterator[str]:
    yield from fresh_vm_name(engine, pool_dir)


def test_create_options_linked_clone_devices_and_snapshot_metadata(
    settings: Settings,
    conn: libvirt.virConnect,
    test_net: IsolatedNet,
    vm_name: str,
    clone_name: str,
    pool_dir: Path,
) -> None:
    """The options that make files or need a real host, each through the CLI, no boot."""

    def ok(*args: str) -> str:
        result = virtdeck(settings, *args)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    ok(
        *("vm", "create", vm_name, "--image", str(APPLIANCE), "--memory", "128M"),
        *("--network", test_net.name, "--hostname", "cli-host", "--graphics", "vnc"),
        *("--graphics-listen", "0.0.0.0", "--graphics-password", "s3cret", "--autostart"),
    )
    dom = conn.lookupByName(vm_name)
    assert dom.autostart() == 1
    graphics = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)).xpath(
        "./devices/graphics"
    )[0]
    assert (graphics.get("type"), graphics.get("listen"), graphics.get("passwd")) == (
        "vnc",
        "0.0.0.0",
        "s3cret",
    )
    assert "local-hostname: cli-host" in _seed_meta_data(made_file(pool_dir, vm_name, "seed"))

    # A linked clone's disk is an overlay on the source's.
    ok("vm", "clone", vm_name, clone_name, "--linked")
    disks = {d["target"]: d for d in json.loads(ok("vm", "disk", "list", clone_name, "--json"))}
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--output", "json", disks["vda"]["path"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["backing-filename"] == str(made_file(pool_dir, vm_name, "vda"))

    # Disks: a new one with its target, an existing file, a removal that keeps the file.
    ok("vm", "disk", "add", clone_name, "--size", "16M", "--target", "vdc")
    extra = pool_dir / f"{clone_name}-extra.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(extra), "8M"], check=True)
    ok("vm", "disk", "add", clone_name, "--path", str(extra), "--target", "vdd")
    disks = {d["target"]: d for d in json.loads(ok("vm", "disk", "list", clone_name, "--json"))}
    assert disks["vdd"]["path"] == str(extra)
    ok("vm", "disk", "remove", clone_name, "vdc", "--keep-file")
    assert Path(disks["vdc"]["path"]).exists()

    # A NIC with a chosen MAC and model.
    ok(
        *("vm", "nic", "add", clone_name, "--network", test_net.name),
        *("--mac", "52:54:00:12:34:56", "--model", "e1000"),
    )
    nics = json.loads(ok("vm", "nic", "list", clone_name, "--json"))
    assert {(n["mac"], n["model"]) for n in nics} >= {("52:54:00:12:34:56", "e1000")}

    # --metadata-only forgets an internal snapshot in libvirt; qcow2 keeps its data.
    ok("vm", "snapshot", "create", clone_name, "kept-in-qcow2")
    ok("vm", "snapshot", "delete", clone_name, "kept-in-qcow2", "--metadata-only")
    assert json.loads(ok("vm", "snapshot", "list", clone_name, "--json")) == []
    in_image = subprocess.run(
        ["qemu-img", "snapshot", "-l", "-U", disks["vda"]["path"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "kept-in-qcow2" in in_image
