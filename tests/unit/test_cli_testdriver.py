"""The CLI against libvirt's test driver: output, exit codes, one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.cli_runner import run_virtdeck

TEST_URI = "test:///default"


def virtdeck(
    *args: str, env: dict[str, str] | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("VIRTDECK_CONNECT", None)
    if tmp is not None:
        full_env["VIRTDECK_DATA_DIR"] = str(tmp)
    full_env.update(env or {})
    return run_virtdeck(*args, env=full_env, timeout=60)


def one_sentence_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_version() -> None:
    result = virtdeck("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("virtdeck ")


def test_list_json_on_test_driver(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "vm", "list", "--json", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    vms = json.loads(result.stdout)
    assert [v["name"] for v in vms] == ["test"]
    assert vms[0]["state"] == "running"
    assert vms[0]["max_memory_kib"] == 8 * 1024 * 1024


def test_connect_from_environment(tmp_path: Path) -> None:
    result = virtdeck("vm", "list", env={"VIRTDECK_CONNECT": TEST_URI}, tmp=tmp_path)
    assert result.returncode == 0
    assert "test" in result.stdout


def test_unknown_vm_suggests_close_names(tmp_path: Path) -> None:
    line = one_sentence_error(virtdeck("-c", TEST_URI, "vm", "show", "tset", tmp=tmp_path), 2)
    assert "no VM named 'tset'" in line and "did you mean test" in line


def test_libvirtd_not_running(tmp_path: Path) -> None:
    uri = f"qemu:///system?socket={tmp_path}/no-such.sock"
    line = one_sentence_error(virtdeck("-c", uri, "vm", "list", tmp=tmp_path), 6)
    assert "libvirtd is not running" in line


def test_wrong_uri(tmp_path: Path) -> None:
    line = one_sentence_error(virtdeck("-c", "nosuchdriver:///x", "vm", "list", tmp=tmp_path), 6)
    assert "cannot connect to libvirt at nosuchdriver:///x" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["vm", "create", "a/b", "--import-disk", "/x"], "is not allowed"),
        (["vm", "create", "x<y", "--import-disk", "/x"], "is not allowed"),
        (["vm", "create", "ok", "--import-disk", "/x", "--memory", "-1"], "not a size"),
        (["vm", "create", "ok", "--import-disk", "/x", "--memory", "lots"], "not a size"),
        (["vm", "create", "ok", "--import-disk", "/x", "--memory", "0"], "greater than zero"),
        (["vm", "create", "ok"], "exactly one of --image"),
        (["vm", "create", "ok", "--import-disk", "/no/such.qcow2"], "outside every storage pool"),
        (
            ["vm", "create", "ok", "--import-disk", "/x", "--cpus", "4", "--max-cpus", "2"],
            "below --cpus",
        ),
        (["vm", "create", "ok", "--import-disk", "/x", "--graphics", "rdp"], "vnc, spice or none"),
        (["vm", "create", "test", "--image", "/default-pool/x"], "already exists"),
    ],
)
def test_bad_create_input(tmp_path: Path, args: list[str], needle: str) -> None:
    result = virtdeck("-c", TEST_URI, *args, tmp=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert needle in line, result.stderr


def test_import_disk_defines_and_starts_on_test_driver(tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    # The test driver keeps state per connection, so create and read in one process.
    result = virtdeck(
        "-c",
        TEST_URI,
        "vm",
        "create",
        "imported",
        "--import-disk",
        str(disk),
        "--network",
        "default",
        "--cpus",
        "2",
        "--max-cpus",
        "4",
        "--memory",
        "1G",
        "--start",
        "--json",
        tmp=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    vm = json.loads(result.stdout)
    assert vm["state"] == "running"
    assert (vm["vcpus"], vm["max_vcpus"]) == (2, 4)
    assert vm["disks"][0]["path"] == str(disk)
    assert vm["disks"][0]["created_by_virtdeck"] is False
    assert vm["nics"][0]["source"] == "default"


def test_image_on_remote_or_test_driver_is_unsupported(tmp_path: Path) -> None:
    disk = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    result = virtdeck("-c", TEST_URI, "vm", "create", "new", "--image", str(disk), tmp=tmp_path)
    line = one_sentence_error(result, 5)
    assert "only on the local host" in line


def test_missing_qemu_img(tmp_path: Path) -> None:
    disk = tmp_path / "real.img"
    disk.write_bytes(b"\0" * 4096)
    args = ["-c", TEST_URI, "vm", "create", "x", "--import-disk", str(disk)]
    result = virtdeck(*args, env={"PATH": str(tmp_path)}, tmp=tmp_path)
    line = one_sentence_error(result, 6)
    assert "qemu-img is not installed" in line


def test_host_check_json_on_test_driver(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "host", "check", "--json", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = [f["name"] for f in report["findings"]]
    assert names[0] == "libvirtd" and report["findings"][0]["status"] == "ok"
    # /proc and /sys checks describe this machine, not a test driver's fake host.
    assert "kvm-functional" not in names
    assert report["acceleration"]["domain_type"] == "qemu"


def test_host_check_fails_without_libvirtd(tmp_path: Path) -> None:
    uri = f"qemu:///system?socket={tmp_path}/no-such.sock"
    result = virtdeck("-c", uri, "host", "check", "--json", tmp=tmp_path)
    assert result.returncode == 1
    first = json.loads(result.stdout)["findings"][0]
    assert first["name"] == "libvirtd" and first["status"] == "fail"
    assert "libvirtd is not running" in first["summary"]


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = virtdeck("--debug", "-c", TEST_URI, "vm", "show", "nope", tmp=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_bad_domain_type_setting(tmp_path: Path) -> None:
    result = virtdeck("-c", TEST_URI, "--domain-type", "xen", "vm", "list", tmp=tmp_path)
    line = one_sentence_error(result, 4)
    assert "domain_type" in line


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--memory", "64G"], "--memory 64 GiB is more than this host has (3 GiB)"),
        (["--max-memory", "1T"], "--max-memory 1 TiB is more than this host has"),
        (["--cpus", "40"], "--cpus 40 is more than a 'qemu' VM can have on this host (32)"),
        (["--max-cpus", "999"], "--max-cpus 999 is more than"),
    ],
)
def test_more_than_the_host_can_give(tmp_path: Path, extra: list[str], needle: str) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    result = virtdeck(
        "-c", TEST_URI, "vm", "create", "big", "--import-disk", str(disk), *extra, tmp=tmp_path
    )
    line = one_sentence_error(result, 4)
    assert needle in line


def test_operation_commands(tmp_path: Path, disk: Path) -> None:
    """Each test-driver process starts empty, but the operation record is on disk."""
    assert virtdeck("-c", TEST_URI, "operation", "list", tmp=tmp_path).stdout.strip() == (
        "no operations yet"
    )
    created = virtdeck(
        "-c", TEST_URI, "vm", "create", "opvm", "--import-disk", str(disk), tmp=tmp_path
    )
    assert created.returncode == 0, created.stderr
    listed = json.loads(virtdeck("-c", TEST_URI, "op", "list", "--json", tmp=tmp_path).stdout)
    assert [(o["kind"], o["target"], o["state"]) for o in listed] == [
        ("create", "opvm", "succeeded")
    ]
    shown = virtdeck("-c", TEST_URI, "operation", "show", str(listed[0]["id"]), tmp=tmp_path)
    assert "succeeded" in shown.stdout and "opvm" in shown.stdout
    missing = virtdeck("-c", TEST_URI, "operation", "show", "99", tmp=tmp_path)
    assert "no operation 99" in one_sentence_error(missing, 2)
